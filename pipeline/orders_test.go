package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/pipeline/identity"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

// erpOrders is an ERP's order mapping; total reads the path given.
func erpOrders(t testing.TB, total string) *mapping.Rules {
	t.Helper()
	r, err := mapping.Parse("erp-orders.yaml", fmt.Appendf(nil, `entity: order
id: no
version: changed
fields:
  customer.external_id: customer
  currency: {from: currency, transform: upper}
  total: {from: %s, transform: decimal}
  refunded: {from: 'refunds.#.amount', transform: sum}
  created_at: {from: created, transform: timestamp}
  updated_at: {from: changed, transform: timestamp}
  line_items:
    from: lines
    fields:
      sku: sku
      quantity: qty
      unit_price: {from: price, transform: decimal}
`, total))
	require.NoError(t, err)
	return r
}

func erpStages(s *store.Store, rules *mapping.Rules) *pipeline.Stages {
	return pipeline.NewStages(s, map[string]pipeline.MapSource{"erp": {Rules: rules,
		Source: identity.Source{Name: "erp", Type: "webhook", DefaultRegion: "AE"}}}, nil, nil)
}

func TestMapEnvelopeMakesCanonicalOrders(t *testing.T) {
	st := erpStages(nil, erpOrders(t, "gross"))
	at := time.Date(2026, 10, 28, 18, 40, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, payload string
		want          func(o crmhub.Order)
		err           string
	}{
		{"whole", `{"no":"INV-1","customer":"C-7","currency":"aed","gross":"204.50","refunds":[{"amount":"4.5"},{"amount":"5"}],
			"created":"2026-10-28T22:40:00+04:00","changed":"2026-10-29T00:00:00Z","lines":[{"sku":"A","qty":"٢","price":"95.00"}]}`,
			func(o crmhub.Order) {
				require.Equal(t, "INV-1", o.ExternalID)
				require.Equal(t, "C-7", o.CustomerExternalID)
				require.Equal(t, "AED", o.Currency)
				require.Equal(t, "204.5", o.Total.String())
				require.Equal(t, "9.5", o.Refunded.String())
				require.Equal(t, at, o.CreatedAt)
				require.Equal(t, time.Date(2026, 10, 29, 0, 0, 0, 0, time.UTC), o.UpdatedAt)
				require.Equal(t, []crmhub.LineItem{{SKU: "A", Quantity: 2, UnitPrice: o.LineItems[0].UnitPrice}}, o.LineItems)
				require.Equal(t, "95", o.LineItems[0].UnitPrice.String())
				require.Empty(t, o.ID, "the store gives the id")
			}, ""},
		{"no line items is an empty list, no update time is the creation time", `{"no":"INV-2","currency":"AED","created":"2026-10-28T18:40:00Z"}`,
			func(o crmhub.Order) {
				require.NotNil(t, o.LineItems)
				require.Empty(t, o.LineItems)
				require.Equal(t, at, o.UpdatedAt)
				require.True(t, o.Total.IsZero())
			}, ""},
		{"no time at all", `{"no":"INV-3","currency":"AED"}`, nil, "no created_at"},
		{"no currency", `{"no":"INV-4","created":"2026-10-28T18:40:00Z"}`, nil, "not ISO 4217"},
		{"an amount that is not one", `{"no":"INV-5","currency":"AED","gross":"lots","created":"2026-10-28T18:40:00Z"}`, nil, "total (decimal"},
		{"a line with a bad price", `{"no":"INV-6","currency":"AED","created":"2026-10-28T18:40:00Z","lines":[{"price":"?"}]}`, nil, "line_items"},
		{"half a unit", `{"no":"INV-7","currency":"AED","created":"2026-10-28T18:40:00Z","lines":[{"qty":"1.5"}]}`, nil, "not a whole number"},
		{"a negative amount", `{"no":"INV-8","currency":"AED","gross":"-1","created":"2026-10-28T18:40:00Z"}`, nil, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := crmhub.Envelope{Source: "erp", Entity: crmhub.EntityOrder, ExternalID: "x", Payload: []byte(tc.payload),
				IdempotencyKey: "k", ReceivedAt: at}
			out, err := st.MapEnvelope(e)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				require.True(t, crmhub.IsPermanent(err), "a record that does not map goes to the dead letters")
				return
			}
			require.NoError(t, err)
			require.Equal(t, crmhub.EntityOrder, out.Entity)
			var o crmhub.Order
			require.NoError(t, json.Unmarshal(out.Payload, &o))
			require.Equal(t, "erp", o.Source)
			tc.want(o)
		})
	}

	// A deletion passes as it is.
	del := crmhub.Envelope{Source: "erp", Entity: crmhub.EntityOrderDeletion, ExternalID: "INV-1", IdempotencyKey: "d"}
	out, err := st.MapEnvelope(del)
	require.NoError(t, err)
	require.Equal(t, del, *out)
}

// TestRebuildOrdersRederivesOrdersFromTheRawTable lands versions of
// orders and a deletion, rebuilds, changes the mapping and rebuilds
// again: the store ends with the newest version of each order as the
// current mapping reads it, the deleted order stays deleted, and a dry run
// writes nothing.
func TestRebuildOrdersRederivesOrdersFromTheRawTable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		at := time.Date(2026, 10, 28, 18, 40, 0, 0, time.UTC)
		var raw []store.RawRecord
		for i := range 3 {
			for v := range 2 {
				changed := at.Add(time.Duration(v) * time.Hour).Format(time.RFC3339)
				payload := fmt.Sprintf(`{"no":"INV-%d","customer":"C-%d","currency":"AED","gross":"%d.00","net":"%d.00",
					"created":%q,"changed":%q,"lines":[{"sku":"A","qty":1,"price":"%d.00"}]}`, i, i, 100+v, 90+v,
					at.Format(time.RFC3339), changed, 100+v)
				raw = append(raw, store.RawRecord{Source: "erp", Entity: "order", ExternalID: fmt.Sprintf("INV-%d", i),
					Version: changed, Payload: []byte(payload), ReceivedAt: at})
			}
		}
		// The newest version lands first, its older one after it.
		raw[0], raw[1] = raw[1], raw[0]
		raw = append(raw,
			store.RawRecord{Source: "erp", Entity: "order_deletion", ExternalID: "INV-2", Payload: []byte(`{}`), ReceivedAt: at},
			store.RawRecord{Source: "erp", Entity: "order", ExternalID: "INV-9", Payload: []byte(`{"no":"INV-9"}`), ReceivedAt: at},
			store.RawRecord{Source: "erp", Entity: "customer", ExternalID: "C-1", Payload: []byte(`{"id":"C-1"}`), ReceivedAt: at})
		require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
			_, err := tx.InsertRaw(ctx, raw)
			return err
		}))
		totals := func() map[string]string {
			out := map[string]string{}
			require.NoError(t, s.EachOrder(ctx, store.ExportOptions{}, func(o crmhub.Order) error {
				out[o.ExternalID] = o.Total.String()
				return nil
			}))
			return out
		}

		rep, err := erpStages(s, erpOrders(t, "gross")).RebuildOrders(ctx, true)
		require.NoError(t, err)
		require.Equal(t, pipeline.OrderRebuild{Records: 7, Failed: 1, Deletions: 1}, rep)
		require.Empty(t, totals(), "a dry run writes nothing")

		rep, err = erpStages(s, erpOrders(t, "gross")).RebuildOrders(ctx, false)
		require.NoError(t, err)
		require.Equal(t, pipeline.OrderRebuild{Records: 7, Failed: 1, Deletions: 1}, rep)
		require.Equal(t, map[string]string{"INV-0": "101", "INV-1": "101"}, totals())

		// The mapping changes: totals are net now.
		_, err = erpStages(s, erpOrders(t, "net")).RebuildOrders(ctx, false)
		require.NoError(t, err)
		require.Equal(t, map[string]string{"INV-0": "91", "INV-1": "91"}, totals())
		o, err := s.Order(ctx, "erp", "INV-1")
		require.NoError(t, err)
		require.Equal(t, at.Add(time.Hour), o.UpdatedAt)
		require.Len(t, o.LineItems, 1)
		require.Equal(t, "C-1", o.CustomerExternalID)
	})
}
