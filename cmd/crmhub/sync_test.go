package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/connectors/shopify/shopifytest"
)

func syncFixture(t *testing.T, shop *shopifytest.Server) string {
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
`)
}

func TestSyncPullsShopifyCustomersOnce(t *testing.T) {
	shop := shopifytest.New(t, shopifytest.Options{RestoreRate: 1000})
	shop.Put(shopifytest.Generate(600, time.Now().Add(-time.Hour))...)
	cfg := syncFixture(t, shop)

	r := runCLI(t, "sync", "main-store", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "main-store: 3 pages, 600 customers, 600 new to the raw table; 600 profiles (+600)")
	require.Contains(t, r.stdout, "checkpoint: updated_at ")

	r = runCLI(t, "sync", "main-store", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "0 new to the raw table; 600 profiles (+0), 0 merges (+0)")
}

func TestSyncReportsAMissingScope(t *testing.T) {
	shop := shopifytest.New(t, shopifytest.Options{Scopes: []string{"read_orders"}})
	cfg := syncFixture(t, shop)
	r := runCLI(t, "sync", "main-store", "-c", cfg)
	require.Equal(t, exitFailure, r.code, r.stderr)
	require.Contains(t, r.stderr, "read_customers")
	require.NotContains(t, r.stderr+r.stdout, shop.Token())
	require.Equal(t, 1, shop.Stats().Requests)
}

func TestSyncRefusesOtherSources(t *testing.T) {
	_, cfg := importFixture(t)
	r := runCLI(t, "sync", "legacy", "-c", cfg)
	require.Equal(t, exitUsage, r.code, r.stderr)
	require.Contains(t, r.stderr, `"legacy" is not a shopify source`)
}
