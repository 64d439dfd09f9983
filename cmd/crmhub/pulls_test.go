package main

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
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
	t.Setenv("CRMHUB_TEST_WEBHOOK_SECRET_OLD", "old-webhook-secret")
	dir := t.TempDir()
	// The source of runConfig, on the fake shop and with a schedule.
	path := writeFile(t, dir, "crmhub.yaml", runConfig+"    base_url: "+shop.URL()+"\n    schedule: 1h\n")
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

	require.Contains(t, r.metrics(t), `crmhub_source_changes_total{channel="backfill",source="main-store"} 300`)

	// Five customers change; the webhooks of two arrive, and a pull asked
	// for through the API catches the other three.
	tok := runCLI(t, "token", "create", "--name", "ops", "--scope", "write", "-c", path)
	require.Equal(t, exitOK, tok.code, tok.stderr)
	call := func(method, p string) (int, string) {
		t.Helper()
		return r.call(t, method, p, strings.TrimSpace(tok.stdout), "")
	}
	shop.SendWebhooks(t, shopifytest.WebhookTarget{URL: "http://" + r.addr + "/webhooks/shopify/main-store", Secret: "webhook-secret"})
	changed := shopifytest.Generate(2, time.Now().Add(-time.Second))
	shop.Put(changed...)
	for _, c := range changed {
		code, err := shop.Notify("customers/update", c.ID)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code)
	}
	// Changes from before the first webhook count as history; these three
	// come after it, and their webhooks are lost.
	time.Sleep(1100 * time.Millisecond)
	shop.Put(shopifytest.Generate(5, time.Now())[2:]...)
	code, resp2 := call(http.MethodPost, "/api/v1/connectors/main-store/sync")
	require.Equal(t, http.StatusAccepted, code, resp2)
	var changes []string
	require.Eventually(t, func() bool {
		changes = changes[:0]
		for _, l := range strings.Split(r.metrics(t), "\n") {
			if strings.HasPrefix(l, "crmhub_source_changes_total") {
				changes = append(changes, l)
			}
		}
		return slices.Contains(changes, `crmhub_source_changes_total{channel="webhook",source="main-store"} 2`) &&
			slices.Contains(changes, `crmhub_source_changes_total{channel="pull",source="main-store"} 3`)
	}, 60*time.Second, 20*time.Millisecond, "the changes counted: %q", &changes)

	var list struct {
		Data []struct {
			Name, Type, Schedule string
			Running              bool
			Records, Errors      int64
			LastFinished         *time.Time `json:"last_finished_at"`
			Streams              []struct {
				Stream     string
				LagSeconds float64 `json:"lag_seconds"`
			}
		}
	}
	require.Eventually(t, func() bool {
		code, b := call(http.MethodGet, "/api/v1/connectors")
		require.Equal(t, http.StatusOK, code, b)
		require.NoError(t, json.Unmarshal([]byte(b), &list))
		return len(list.Data) == 1 && !list.Data[0].Running && list.Data[0].Records == 305
	}, 30*time.Second, 20*time.Millisecond)
	got := list.Data[0]
	require.Equal(t, "main-store", got.Name)
	require.Equal(t, "shopify", got.Type)
	require.Equal(t, "1h", got.Schedule)
	require.Zero(t, got.Errors)
	require.NotNil(t, got.LastFinished)
	streams := map[string]float64{}
	for _, st := range got.Streams {
		streams[st.Stream] = st.LagSeconds
	}
	require.Contains(t, streams, "customers")
	require.Contains(t, streams, "orders")

	code, resp2 = call(http.MethodPost, "/api/v1/connectors/no-such-source/sync")
	require.Equal(t, http.StatusNotFound, code, resp2)

	require.Equal(t, exitOK, r.stop(t), r.stderr.String())
	require.NotContains(t, r.stderr.String(), shop.Token())
}
