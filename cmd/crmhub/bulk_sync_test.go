package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/connectors/shopify/shopifytest"
	"github.com/crmhub/crmhub/store"
)

// Sizes of the large backfill tests: the done-when of the Shopify
// connector (50,000 customers and 100,000 orders landed exactly once).
const (
	backfillCustomers = 50_000
	backfillOrders    = 100_000
)

// largeShop is a fake shop with n customers and m orders, all updated a
// month ago, each order with at most three line items so that the file
// stays small enough for a quick test (about 110 MB at full size).
func largeShop(t *testing.T, n, m int) *shopifytest.Server {
	t.Helper()
	shop := shopifytest.New(t, shopifytest.Options{RestoreRate: 5000})
	start := time.Now().Add(-30 * 24 * time.Hour)
	cs := shopifytest.Generate(n, start)
	orders := shopifytest.GenerateOrders(m, start, cs)
	for i := range orders {
		orders[i].LineItems = orders[i].LineItems[:min(3, len(orders[i].LineItems))]
	}
	shop.Put(cs...)
	shop.PutOrders(orders...)
	return shop
}

// storeCounts reads the store's counts through crmhub status.
func storeCounts(t *testing.T, cfg string) store.Counts {
	t.Helper()
	r := runCLI(t, "status", "-c", cfg, "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var rep statusReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	return rep.Counts
}

// requireBackfilled checks that every customer has its one identity and
// every order is stored once, and nothing else is.
func requireBackfilled(t *testing.T, c store.Counts, n, m int) {
	t.Helper()
	require.EqualValues(t, n, c.Identities, "one identity per Shopify customer")
	require.EqualValues(t, m, c.Orders)
	require.EqualValues(t, n+m, c.RawRecords)
	require.Zero(t, c.DeadLetters)
}

// TestSyncBackfillsAShopOnce: the first sync of a shop with 50,000
// customers and 100,000 orders backfills them with two bulk operations;
// each lands once, and syncing again changes nothing. crmhub runs as a
// process of its own, as it does for real: the fake shop's records stay
// out of its heap.
func TestSyncBackfillsAShopOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("a backfill of 150,000 records")
	}
	shop := largeShop(t, backfillCustomers, backfillOrders)
	cfg := syncFixture(t, shop, "")

	t0 := time.Now()
	child, out := startCLI(t, filepath.Dir(cfg), "sync", "main-store", "-c", cfg)
	require.NoError(t, child.Wait(), out.String())
	t.Logf("backfill of %d customers and %d orders: %s", backfillCustomers, backfillOrders, time.Since(t0).Round(time.Millisecond))
	require.Contains(t, out.String(), fmt.Sprintf("main-store: %d customers in bulk, 1 pages, 0 customers, %d orders in bulk, 1 pages, 0 orders; %d new to the raw table",
		backfillCustomers, backfillOrders, backfillCustomers+backfillOrders))
	counts := storeCounts(t, cfg)
	requireBackfilled(t, counts, backfillCustomers, backfillOrders)
	require.Len(t, shop.BulkOps(), 2)

	r := runCLI(t, "sync", "main-store", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "main-store: 1 pages, 0 customers, 1 pages, 0 orders; 0 new to the raw table")
	require.Equal(t, counts, storeCounts(t, cfg), "a re-run changes nothing")
	require.Len(t, shop.BulkOps(), 2, "and starts no bulk operation")
}

// startCLI starts crmhub with args as a child process, in dir.
func startCLI(t *testing.T, dir string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(childBinary(t), args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	return cmd, &out
}

// TestSyncBackfillSurvivesSIGKILL kills crmhub sync (a child process)
// with SIGKILL in the middle of the download of the orders' bulk file,
// and starts it again: it takes the same operation up where its last
// commit left off (a range request, no new operation), and the store ends
// with every customer and order exactly once; a further sync changes
// nothing.
func TestSyncBackfillSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("a backfill of 150,000 records, killed and resumed")
	}
	shop := largeShop(t, backfillCustomers, backfillOrders)
	cfg := syncFixture(t, shop, "")
	dir := filepath.Dir(cfg)

	child, out := startCLI(t, dir, "sync", "main-store", "-c", cfg)
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	// Killed once a third of the orders' file has gone out, which the
	// child lands as it reads it.
	require.Eventually(t, func() bool {
		for _, op := range shop.BulkOps() {
			if strings.Contains(op.Query, "orders") && op.Size > 0 && op.Served > op.Size/3 {
				return true
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("crmhub sync ended before it was killed: %v\n%s", err, out)
		default:
		}
		return false
	}, 5*time.Minute, 10*time.Millisecond)
	require.NoError(t, child.Process.Signal(syscall.SIGKILL))
	<-exited
	orders := shop.BulkOps()[1]
	require.Less(t, orders.Served, orders.Size, "killed in the middle of the download")
	killed := storeCounts(t, cfg)
	require.Greater(t, killed.RawRecords, int64(backfillCustomers), "the customers and some orders had landed")
	require.Less(t, killed.RawRecords, int64(backfillCustomers+backfillOrders))

	child, out = startCLI(t, dir, "sync", "main-store", "-c", cfg)
	require.NoError(t, child.Wait(), out.String())
	require.Contains(t, out.String(), fmt.Sprintf("%d new to the raw table", backfillCustomers+backfillOrders-killed.RawRecords))
	ops := shop.BulkOps()
	require.Len(t, ops, 2, "the restart took the running operation up")
	require.Len(t, ops[1].Ranges, 1, "and its file from where the last commit left off")
	counts := storeCounts(t, cfg)
	requireBackfilled(t, counts, backfillCustomers, backfillOrders)

	r := runCLI(t, "sync", "main-store", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "0 new to the raw table")
	require.Equal(t, counts, storeCounts(t, cfg))
}

// TestSyncFullBackfillsAllHistory: --full backfills a source synced
// before, over all history, and says that orders older than 60 days need
// read_all_orders; what it reads again is kept once.
func TestSyncFullBackfillsAllHistory(t *testing.T) {
	shop := largeShop(t, 300, 200)
	cfg := syncFixture(t, shop, "    backfill: 7d\n")
	r := runCLI(t, "sync", "main-store", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "main-store: 0 customers in bulk, 1 pages, 0 customers, 0 orders in bulk, 1 pages, 0 orders",
		"a month old, the records are outside a backfill of 7 days")
	require.NotContains(t, r.stderr, "read_all_orders")

	r = runCLI(t, "sync", "main-store", "--full", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "main-store: 300 customers in bulk, 1 pages, 0 customers, 200 orders in bulk, 1 pages, 0 orders; 500 new to the raw table")
	require.Contains(t, r.stderr, "--full reaches past the last 60 days of orders")
	require.Contains(t, r.stderr, "read_all_orders")
	ops := shop.BulkOps()
	require.Len(t, ops, 4)
	require.NotContains(t, ops[2].Query, "updated_at", "all history")
	requireBackfilled(t, storeCounts(t, cfg), 300, 200)

	r = runCLI(t, "sync", "main-store", "--full", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "0 new to the raw table")
	requireBackfilled(t, storeCounts(t, cfg), 300, 200)
}

// TestSyncTakesOverARunningOperation: a bulk operation with crmhub's own
// query already runs on the shop (an interrupted sync started it); the
// sync waits for it and reads its file instead of starting another.
func TestSyncTakesOverARunningOperation(t *testing.T) {
	shop := largeShop(t, 400, 0)
	cfg := syncFixture(t, shop, "    streams: [customers]\n")
	r := runCLI(t, "sync", "main-store", "--full", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	query := shop.BulkOps()[0].Query

	shop.Put(shopifytest.Generate(500, time.Now().Add(-time.Hour))[400:]...)
	running := shop.StartBulk(query, false)
	shop.SetBulkPolls(2)
	r = runCLI(t, "sync", "main-store", "--full", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "main-store: 500 customers in bulk")
	ops := shop.BulkOps()
	require.Len(t, ops, 2, "no operation started")
	require.Equal(t, running, ops[1].ID)
	require.Equal(t, 1, ops[1].Downloads)
	require.EqualValues(t, 500, storeCounts(t, cfg).Identities)
}
