package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/connectors/shopify/shopifytest"
	"github.com/crmhub/crmhub/store"
)

// TestRunPullsOnItsSchedule runs crmhub run with a scheduled shopify
// source: soon after start it backfills the shop, the running pipeline
// resolves what landed, and the reconciliation metric counts the records
// as having come by pull.
func TestRunPullsOnItsSchedule(t *testing.T) {
	shop := shopifytest.New(t, shopifytest.Options{RestoreRate: 1000})
	shop.Put(shopifytest.Generate(300, time.Now().Add(-time.Hour))...)
	t.Setenv("CRMHUB_TEST_SHOPIFY_TOKEN", shop.Token())
	t.Setenv("CRMHUB_TEST_WEBHOOK_SECRET", "webhook-secret")
	dir := t.TempDir()
	path := writeFile(t, dir, "crmhub.yaml", `store: {driver: sqlite, dsn: crmhub.db}
bus: {driver: sqlite}
http: {listen: "127.0.0.1:0"}
log: {level: info, format: text}
sources:
  - name: main-store
    type: shopify
    shop: example.myshopify.com
    access_token: ${CRMHUB_TEST_SHOPIFY_TOKEN}
    webhook_secret: ${CRMHUB_TEST_WEBHOOK_SECRET}
    base_url: `+shop.URL()+`
    schedule: 1h
`)
	r := startRun(t, path)

	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{Driver: store.DriverSQLite, DSN: filepath.Join(dir, "crmhub.db")})
	require.NoError(t, err)
	defer s.Close()
	// The first run is due within ten seconds of the start.
	require.Eventually(t, func() bool {
		c, err := s.Counts(ctx)
		return err == nil && c.Customers == 300
	}, 90*time.Second, 20*time.Millisecond, "%s", r.stderr)
	require.Eventually(t, func() bool {
		return regexp.MustCompile(`msg=pulled component=scheduler source=main-store records=300 `).MatchString(r.stderr.String())
	}, 30*time.Second, 10*time.Millisecond, "%s", r.stderr)
	require.Len(t, shop.BulkOps(), 2, "the first pull backfills customers and orders with bulk operations")
	cp, err := s.Checkpoint(ctx, "main-store", "customers")
	require.NoError(t, err)
	require.Contains(t, cp.Cursor, shop.BulkOps()[0].CreatedAt.UTC().Format("2006-01-02T15:04:05"))

	resp, err := http.Get("http://" + r.addr + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Contains(t, string(body), `crmhub_source_changes_total{channel="backfill",source="main-store"} 300`)

	require.Equal(t, exitOK, r.stop(t), r.stderr.String())
	require.NotContains(t, r.stderr.String(), shop.Token())
}
