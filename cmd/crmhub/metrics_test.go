package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/store"
)

// TestRunServesMetrics feeds a running crmhub a webhook and a malformed
// record and checks that /metrics reports each family of issue 6 with
// the labels and values they imply: the HTTP requests by route, the
// stages' latency, the records landed per source, the dead letters, the
// checkpoint lag and the bus depth.
func TestRunServesMetrics(t *testing.T) {
	t.Setenv("CRMHUB_TEST_SHOPIFY_TOKEN", "shpat_test_token")
	t.Setenv("CRMHUB_TEST_WEBHOOK_SECRET", "new-webhook-secret")
	t.Setenv("CRMHUB_TEST_WEBHOOK_SECRET_OLD", "old-webhook-secret")
	dir := t.TempDir()
	path := writeFile(t, dir, "crmhub.yaml", runConfig)
	ctx := context.Background()
	r := startRun(t, path)
	defer func() { require.Equal(t, exitOK, r.stop(t), r.stderr.String()) }()

	s, err := store.Open(ctx, store.Options{Driver: store.DriverSQLite, DSN: filepath.Join(dir, "crmhub.db")})
	require.NoError(t, err)
	defer s.Close()
	pulledUpTo := time.Now().Add(-2 * time.Minute).UTC()
	require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
		return tx.SaveCheckpoint(ctx, "main-store", "customers",
			`{"updated_at":"`+pulledUpTo.Format(time.RFC3339Nano)+`","id":"7039114952811000001"}`)
	}))

	good := fmt.Appendf(nil, `{"id":7039114952811000001,"email":"sara@example.com","updated_at":%q,"addresses":[]}`,
		time.Now().UTC().Format(time.RFC3339))
	require.Equal(t, http.StatusOK, r.deliver(t, "new-webhook-secret", "w-1", good))
	// No id: landed all the same, and the map stage dead-letters it.
	require.Equal(t, http.StatusOK, r.deliver(t, "new-webhook-secret", "w-2", []byte(`{"email":"omar@example.com"}`)))

	scrape := func() string { return r.metrics(t) }
	var m string
	require.Eventually(t, func() bool {
		m = scrape()
		v, _ := seriesValue(m, `crmhub_dead_letters{state="pending"}`)
		p, _ := seriesValue(m, `crmhub_bus_pending_messages{topic="records.raw"}`)
		return v == 1 && p == 0
	}, 60*time.Second, 50*time.Millisecond, "the malformed record is dead-lettered and the bus drained")

	for series, want := range map[string]float64{
		`crmhub_http_requests_total{code="200",method="POST",route="POST /webhooks/shopify/{source}"}`: 2,
		`crmhub_http_request_duration_seconds_count{route="POST /webhooks/shopify/{source}"}`:          2,
		`crmhub_source_records_total{source="main-store"}`:                                             2,
		`crmhub_source_dead_letters{source="main-store"}`:                                              1,
		`crmhub_dead_letters{state="pending"}`:                                                         1,
		`crmhub_pipeline_dead_letters_total{handler="map"}`:                                            1,
		`crmhub_pipeline_messages_total{handler="map",outcome="ok"}`:                                   1,
		`crmhub_bus_pending_messages{topic="records.raw"}`:                                             0,
	} {
		got, ok := seriesValue(m, series)
		require.True(t, ok, "%s missing from:\n%s", series, m)
		require.Equal(t, want, got, series)
	}
	for _, series := range []string{
		`crmhub_pipeline_handler_duration_seconds_count{handler="map"}`,
		`crmhub_pipeline_handler_duration_seconds_count{handler="persist"}`,
	} {
		got, ok := seriesValue(m, series)
		require.True(t, ok, "%s missing from:\n%s", series, m)
		require.Positive(t, got, series)
	}
	lag, ok := seriesValue(m, `crmhub_source_checkpoint_lag_seconds{source="main-store",stream="customers"}`)
	require.True(t, ok, "checkpoint lag missing from:\n%s", m)
	require.InDelta(t, 120, lag, 60, "behind by the cursor's updated_at")

	// The scrape itself is counted under its route; no label is a path.
	m = scrape()
	got, _ := seriesValue(m, `crmhub_http_requests_total{code="200",method="GET",route="GET /metrics"}`)
	require.Positive(t, got)
	require.NotContains(t, m, `route="/webhooks/shopify/main-store"`)
	for _, leak := range []string{"sara@example.com", "omar@example.com", "new-webhook-secret"} {
		require.NotContains(t, m, leak)
	}
}

// seriesValue returns the value of one series in a text exposition: series is
// its name and labels as the exposition writes them (labels sorted by
// name).
func seriesValue(exposition, series string) (float64, bool) {
	for line := range strings.Lines(exposition) {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}
