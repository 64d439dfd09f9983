package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/pipeline/bus"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

// TestChangesCountByFirstChannel lands versions of records by pulls and
// webhooks, in both ways the Ingester lands (in one transaction with a
// bus in the store's database, or before publishing on a bus of its own),
// and checks that each new version is counted once, under the channel
// that landed it first, and that the collector exposes the counts and the
// webhook-first share.
func TestChangesCountByFirstChannel(t *testing.T) {
	for _, tc := range []struct{ driver, bus string }{
		{store.DriverSQLite, bus.DriverSQLite},
		{store.DriverPostgres, bus.DriverPostgres},
		{store.DriverSQLite, bus.DriverGoChannel},
	} {
		t.Run(tc.driver+"/"+tc.bus, func(t *testing.T) {
			ctx := context.Background()
			s := storetest.Open(t, tc.driver)
			b, err := bus.Open(ctx, bus.Options{Driver: tc.bus, DB: s.DB(), ReadDB: s.ReadDB()})
			require.NoError(t, err)
			t.Cleanup(func() { _ = b.Close() })
			in := pipeline.NewIngester(s, b, tc.bus != bus.DriverGoChannel)

			old := time.Now().Add(-30 * 24 * time.Hour).UTC().Format(time.RFC3339)
			live := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339) }
			v1, v2, v3 := live(time.Minute), live(2*time.Minute), live(3*time.Minute)
			env := func(entity crmhub.Entity, id, version, payload string) crmhub.Envelope {
				return crmhub.Envelope{Source: "shop", SourceType: "shopify", Entity: entity, ExternalID: id,
					Version: version, Payload: []byte(payload)}
			}
			pull := func(envs ...crmhub.Envelope) {
				require.NoError(t, in.Ingest(ctx, envs, &pipeline.Checkpoint{Source: "shop", Stream: "customers", Cursor: "c"}))
			}
			webhook := func(id string, envs ...crmhub.Envelope) {
				_, err := in.Receive(ctx, crmhub.Delivery{Source: "shop", Keys: []string{"webhook:" + id}}, envs)
				require.NoError(t, err)
			}

			// The first sync: history, and one change made after counting
			// started, which no webhook brought.
			pull(env(crmhub.EntityCustomer, "1", old, `{"id":1,"v":0}`), env(crmhub.EntityCustomer, "2", old, `{"id":2,"v":0}`),
				env(crmhub.EntityOrder, "1", old, `{"id":1}`))
			webhook("w1", env(crmhub.EntityCustomer, "1", v1, `{"id":1,"v":1,"shape":"webhook"}`))
			// A key delivered before: nothing lands, nothing counts.
			webhook("w1", env(crmhub.EntityCustomer, "1", v2, `{"id":1,"v":2}`))
			// The reconciliation pull reads a version a webhook brought,
			// and one the webhooks missed.
			pull(env(crmhub.EntityCustomer, "1", v1, `{"id":1,"v":1,"shape":"pull"}`),
				env(crmhub.EntityCustomer, "3", v3, `{"id":3}`))
			webhook("w2", env(crmhub.EntityCustomer, "3", v3, `{"id":3,"late":true}`))
			// No version, no change.
			webhook("w3", env("customer_deletion", "2", "", `{"id":2}`))
			// One change twice in a delivery.
			webhook("w4", env(crmhub.EntityCustomer, "2", v2, `{"id":2,"v":2}`),
				env(crmhub.EntityCustomer, "2", v2, `{"id":2,"v":2,"again":1}`))

			counts, err := s.ChangeCounts(ctx)
			require.NoError(t, err)
			got := map[string]int64{}
			for _, c := range counts {
				got[c.Source+"/"+c.Channel] = c.Changes
			}
			require.Equal(t, map[string]int64{"shop/backfill": 3, "shop/webhook": 2, "shop/pull": 1}, got)
			share, ok := pipeline.WebhookFirstShare(counts, "shop")
			require.True(t, ok)
			require.InDelta(t, 2.0/3.0, share, 1e-9)
			_, ok = pipeline.WebhookFirstShare(counts, "other")
			require.False(t, ok)

			want := fmt.Sprintf(`
# HELP crmhub_source_changes_total Changes (new versions of records) of each source, by the channel that landed them first: webhook, pull (the reconciliation pull found them first) or backfill (history pulled before the source's first counted change).
# TYPE crmhub_source_changes_total counter
crmhub_source_changes_total{channel="backfill",source="shop"} 3
crmhub_source_changes_total{channel="pull",source="shop"} 1
crmhub_source_changes_total{channel="webhook",source="shop"} 2
# HELP crmhub_source_webhook_first_ratio Share of each source's changes that arrived by webhook before any pull found them: webhook / (webhook + pull).
# TYPE crmhub_source_webhook_first_ratio gauge
crmhub_source_webhook_first_ratio{source="shop"} %v
`, 2.0/3.0)
			require.NoError(t, testutil.CollectAndCompare(pipeline.NewChangeCollector(s, nil), strings.NewReader(want)))
		})
	}
}
