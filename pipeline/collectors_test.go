package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/pipeline/bus"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

// TestIngesterCountsLandedRecords lands records in both ways the Ingester
// lands (in the bus's transaction, or before publishing on a bus of its
// own) and checks that each new record counts once, under its source.
func TestIngesterCountsLandedRecords(t *testing.T) {
	for _, driver := range []string{bus.DriverSQLite, bus.DriverGoChannel} {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			s := storetest.SQLite(t)
			b, err := bus.Open(ctx, bus.Options{Driver: driver, DB: s.DB(), ReadDB: s.ReadDB()})
			require.NoError(t, err)
			t.Cleanup(func() { _ = b.Close() })
			reg := prometheus.NewRegistry()
			m, err := pipeline.NewMetrics(reg)
			require.NoError(t, err)
			in := pipeline.NewIngester(s, b, driver != bus.DriverGoChannel).WithMetrics(m)

			env := func(source, id string) crmhub.Envelope {
				return crmhub.Envelope{Source: source, SourceType: "test", Entity: crmhub.EntityCustomer, ExternalID: id,
					Payload: []byte(`{"id":"` + id + `"}`)}
			}
			require.NoError(t, in.Ingest(ctx, []crmhub.Envelope{env("shop", "1"), env("shop", "2"), env("erp", "1")}, nil))
			// Landed again unchanged (a retry, a pull's overlap): not counted.
			require.NoError(t, in.Ingest(ctx, []crmhub.Envelope{env("shop", "1")}, nil))
			fresh, err := in.Receive(ctx, crmhub.Delivery{Source: "shop", Keys: []string{"webhook:w1"}},
				[]crmhub.Envelope{env("shop", "3")})
			require.NoError(t, err)
			require.True(t, fresh)
			// A redelivery lands nothing.
			fresh, err = in.Receive(ctx, crmhub.Delivery{Source: "shop", Keys: []string{"webhook:w1"}},
				[]crmhub.Envelope{env("shop", "3")})
			require.NoError(t, err)
			require.False(t, fresh)

			require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP crmhub_source_records_total Records of each source landed in the raw table by this process; a record landed again unchanged is not counted.
# TYPE crmhub_source_records_total counter
crmhub_source_records_total{source="erp"} 1
crmhub_source_records_total{source="shop"} 3
`), "crmhub_source_records_total"))
		})
	}
}

func TestStoreCollector(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c := pipeline.NewStoreCollector(s, nil)
		require.Equal(t, map[string]float64{`crmhub_dead_letters{state="pending"}`: 0}, gather(t, c),
			"an empty store: no dead letters, no checkpoints")

		pulledUpTo := time.Now().Add(-90 * time.Second).UTC()
		require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
			for _, dl := range []store.DeadLetter{
				{Key: "m1/map", Handler: pipeline.HandlerMap, Source: "shop", Reason: "bad"},
				{Key: "m2/map", Handler: pipeline.HandlerMap, Source: "shop", Reason: "bad"},
				{Key: "m3/push", Handler: pipeline.HandlerPush, Reason: "bad"},
			} {
				if _, err := tx.AddDeadLetter(ctx, dl); err != nil {
					return err
				}
			}
			if err := tx.SaveCheckpoint(ctx, "shop", "customers",
				`{"updated_at":"`+pulledUpTo.Format(time.RFC3339Nano)+`","id":"7039114952811"}`); err != nil {
				return err
			}
			return tx.SaveCheckpoint(ctx, "erp", "import:f1", "line 3 of erp.csv")
		}))

		got := gather(t, c)
		require.Equal(t, 3.0, got[`crmhub_dead_letters{state="pending"}`])
		require.Equal(t, 2.0, got[`crmhub_source_dead_letters{source="shop"}`])
		require.NotContains(t, got, `crmhub_source_dead_letters{source=""}`, "a dead letter of no source")
		lag := got[`crmhub_source_checkpoint_lag_seconds{source="shop",stream="customers"}`]
		require.InDelta(t, 90, lag, 30, "a pull's cursor: behind by its record's updated_at")
		lag, ok := got[`crmhub_source_checkpoint_lag_seconds{source="erp",stream="import:f1"}`]
		require.True(t, ok, "a cursor that is not a time: %v", got)
		require.InDelta(t, 0, lag, 30, "a cursor that is not a time: behind by when it was saved")
		require.Len(t, got, 4)
	})
}

// fakeDepth is a bus whose depth the test sets.
type fakeDepth struct {
	pending map[string]int64
	err     error
}

func (f fakeDepth) Pending(context.Context) (map[string]int64, error) { return f.pending, f.err }

func TestBusCollector(t *testing.T) {
	c := pipeline.NewBusCollector(fakeDepth{pending: map[string]int64{pipeline.TopicRaw: 3, pipeline.TopicCanonical: 0}}, nil)
	require.Equal(t, map[string]float64{
		`crmhub_bus_pending_messages{topic="records.raw"}`:       3,
		`crmhub_bus_pending_messages{topic="records.canonical"}`: 0,
	}, gather(t, c))
	c = pipeline.NewBusCollector(fakeDepth{err: errors.New("server gone")}, nil)
	require.Empty(t, gather(t, c), "a bus that cannot tell leaves the metric out")
}

// gather collects c and returns each sample's value by its name and
// labels, as the exposition format writes them.
func gather(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	families, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			// The getters of the kinds m is not return 0.
			out[f.GetName()+"{"+strings.Join(labels, ",")+"}"] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return out
}
