package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/connectors/shopify/shopifytest"
)

// syncFixture writes the config of a shopify source on the fake shop;
// extra is YAML added to the source.
func syncFixture(t *testing.T, shop *shopifytest.Server, extra string) string {
	t.Helper()
	t.Setenv("SHOPIFY_TEST_TOKEN", shop.Token())
	return writeFile(t, t.TempDir(), "c.yaml", `store:
  driver: sqlite
  dsn: crmhub.db
sources:
  - name: main-store
    type: shopify
    shop: example.myshopify.com
    access_token: ${SHOPIFY_TEST_TOKEN}
    base_url: `+shop.URL()+`
    default_region: AE
`+extra)
}

func TestSyncPullsShopifyCustomersOnce(t *testing.T) {
	shop := shopifytest.New(t, shopifytest.Options{RestoreRate: 1000})
	shop.Put(shopifytest.Generate(600, time.Now().Add(-time.Hour))...)
	cfg := syncFixture(t, shop, "")

	r := runCLI(t, "sync", "main-store", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	// The first sync is a bulk operation; the pull after it goes on from
	// when the operation began, and finds nothing newer.
	require.Contains(t, r.stdout, "main-store: 600 customers in bulk, 1 pages, 0 customers, 0 orders in bulk, 1 pages, 0 orders; "+
		"600 new to the raw table; 600 profiles (+600)")
	require.Contains(t, r.stdout, "checkpoint customers: updated_at "+shop.BulkOps()[0].CreatedAt.Format(time.RFC3339)+"\n")

	r = runCLI(t, "sync", "main-store", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "main-store: 1 pages, 0 customers, 1 pages, 0 orders; 0 new to the raw table; 600 profiles (+0), 0 merges (+0), 0 orders (+0)")
	require.Len(t, shop.BulkOps(), 2, "later syncs are incremental")

	// A customer changed since comes with the incremental pull.
	changed := shopifytest.Generate(1, time.Now())[0]
	shop.Put(changed)
	r = runCLI(t, "sync", "main-store", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "main-store: 1 pages, 1 customers, 1 pages, 0 orders; 1 new to the raw table")
}

// TestSyncPullsOrdersOfTheirProfiles syncs a shop's customers and orders:
// every order is stored once, with all its line items, and the export
// shows each with its customer's profile.
func TestSyncPullsOrdersOfTheirProfiles(t *testing.T) {
	shop := shopifytest.New(t, shopifytest.Options{RestoreRate: 5000})
	now := time.Now().Add(-time.Hour)
	cs := shopifytest.Generate(50, now)
	orders := shopifytest.GenerateOrders(120, now, cs)
	shop.Put(cs...)
	shop.PutOrders(orders...)
	cfg := syncFixture(t, shop, "    backfill: 90d\n")

	r := runCLI(t, "sync", "main-store", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "main-store: 50 customers in bulk, 1 pages, 0 customers, 120 orders in bulk, 1 pages, 0 orders; "+
		"170 new to the raw table; 50 profiles (+50), 0 merges (+0), 120 orders (+120)")
	require.Contains(t, r.stdout, "checkpoint orders: updated_at ")
	require.Contains(t, r.stderr, "read_all_orders", "a backfill beyond 60 days is told what Shopify shows")

	r = runCLI(t, "export", "orders", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, len(orders))
	byID := map[string]shopifytest.Order{}
	for _, o := range orders {
		byID[strconv.FormatInt(o.ID, 10)] = o
	}
	profiles := map[string]string{} // shop customer -> profile
	for _, line := range lines {
		var got crmhub.Order
		require.NoError(t, json.Unmarshal([]byte(line), &got))
		want := byID[got.ExternalID]
		require.Len(t, got.LineItems, len(want.LineItems))
		require.Equal(t, want.Total, got.Total.StringFixed(2))
		if want.CustomerID == 0 {
			require.Empty(t, got.CustomerID, "a guest checkout")
			continue
		}
		require.NotEmpty(t, got.CustomerID, "order %s", got.ExternalID)
		ext := strconv.FormatInt(want.CustomerID, 10)
		if p, seen := profiles[ext]; seen {
			require.Equal(t, p, got.CustomerID, "one customer, one profile")
		}
		profiles[ext] = got.CustomerID
	}
	require.Len(t, profiles, len(cs))

	r = runCLI(t, "sync", "main-store", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "0 new to the raw table; 50 profiles (+0), 0 merges (+0), 120 orders (+0)")
	require.NotContains(t, r.stderr, "read_all_orders", "said on the first sync only")
}

func TestSyncReportsAMissingScope(t *testing.T) {
	shop := shopifytest.New(t, shopifytest.Options{Scopes: []string{"read_orders"}})
	cfg := syncFixture(t, shop, "")
	r := runCLI(t, "sync", "main-store", "-c", cfg)
	require.Equal(t, exitFailure, r.code, r.stderr)
	require.Contains(t, r.stderr, "read_customers")
	require.NotContains(t, r.stderr+r.stdout, shop.Token())
	require.Len(t, shop.BulkOps(), 1, "an operation denied access is not tried again")
}

func TestSyncRefusesOtherSources(t *testing.T) {
	_, cfg := importFixture(t)
	r := runCLI(t, "sync", "legacy", "-c", cfg)
	require.Equal(t, exitUsage, r.code, r.stderr)
	require.Contains(t, r.stderr, `"legacy" is not a shopify source`)
}

// TestRebuildRederivesOrders changes the order mapping of a synced shop
// and rebuilds: every order is mapped again from the raw table, and keeps
// its profile.
func TestRebuildRederivesOrders(t *testing.T) {
	shop := shopifytest.New(t, shopifytest.Options{RestoreRate: 5000})
	now := time.Now().Add(-time.Hour)
	cs := shopifytest.Generate(20, now)
	shop.Put(cs...)
	shop.PutOrders(shopifytest.GenerateOrders(30, now, cs)...)
	cfg := syncFixture(t, shop, "")
	r := runCLI(t, "sync", "main-store", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	before := exportedOrders(t, cfg)
	require.Len(t, before, 30)

	builtin, err := os.ReadFile(filepath.Join("..", "..", "connectors", "shopify", "mappings", "order.yaml"))
	require.NoError(t, err)
	changed := strings.Replace(string(builtin), "number: {from: [name, order_number]}",
		`number: {from: [name, order_number], transform: "regex(#, INV-)"}`, 1)
	require.NotEqual(t, string(builtin), changed)
	writeFile(t, filepath.Dir(cfg), "orders.yaml", changed)
	cfgYAML, err := os.ReadFile(cfg)
	require.NoError(t, err)
	writeFile(t, filepath.Dir(cfg), filepath.Base(cfg), string(cfgYAML)+"    mapping: orders.yaml\n")

	r = runCLI(t, "rebuild", "--dry-run", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "orders: 30 order records would be written again (0 no longer map), 0 deletions")
	require.Equal(t, before, exportedOrders(t, cfg), "a dry run writes nothing")

	r = runCLI(t, "rebuild", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "orders: 30 order records written again (0 no longer map), 0 deletions")
	after := exportedOrders(t, cfg)
	require.Len(t, after, 30)
	for id, o := range after {
		require.Equal(t, strings.Replace(before[id].Number, "#", "INV-", 1), o.Number)
		require.Equal(t, before[id].ID, o.ID, "an order keeps its id")
		require.Equal(t, before[id].CustomerID, o.CustomerID, "and its profile")
	}
}

// exportedOrders runs crmhub export orders and reads the orders by their
// external id.
func exportedOrders(t *testing.T, cfg string) map[string]crmhub.Order {
	t.Helper()
	r := runCLI(t, "export", "orders", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	out := map[string]crmhub.Order{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var o crmhub.Order
		require.NoError(t, json.Unmarshal([]byte(line), &o))
		out[o.ExternalID] = o
	}
	return out
}
