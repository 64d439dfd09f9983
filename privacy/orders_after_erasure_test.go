package privacy_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/connectors/shopify"
	"github.com/crmhub/crmhub/store/storetest"
)

// shopOrder is an order of the shop placed by the customer with the given
// Shopify id.
func shopOrder(id, customerID, email, updated string) crmhub.Envelope {
	body := fmt.Sprintf(`{"id":%s,"name":"#2001","email":%q,"currency":"AED","total_price":"99.00","subtotal_price":"99.00",`+
		`"created_at":"2026-05-01T10:00:00+04:00","updated_at":%q,"customer":{"id":%s,"email":%q},`+
		`"billing_address":{"name":"Sara Al Amiri","phone":"+971501234567"},"line_items":[]}`,
		id, email, updated, customerID, email)
	return crmhub.Envelope{Source: "shop", SourceType: shopify.SourceType, Entity: crmhub.EntityOrder,
		ExternalID: id, Version: updated, Payload: []byte(body)}
}

// TestNewOrderOfAnErasedCustomerIsDropped: after customers/redact, a new
// order (an id never seen) of her Shopify customer id is not stored, its
// raw landing goes, and its later versions are dropped on arrival; a new
// order of somebody else is stored as usual.
func TestNewOrderOfAnErasedCustomerIsDropped(t *testing.T) {
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t, driver)
			seedSara(t, w)
			w.request(t, "customers/redact", redactBody("sara@example.com"))
			require.Empty(t, storetest.Find(t, w.store, saraNeedles...))
			before, err := w.store.SuppressionStats(ctx)
			require.NoError(t, err)

			const newOrder = "5123456789012349999"
			// Her email as Shopify has it now, which the erasure never saw:
			// only her customer id tells whose order it is.
			w.ingest(t, 1, shopOrder(newOrder, saraShopID, "sara.new@example.com", "2026-05-01T10:00:00+04:00"))
			_, err = w.store.Order(ctx, "shop", newOrder)
			require.ErrorIs(t, err, crmhub.ErrNotFound, "the order is not stored")
			require.Empty(t, storetest.Find(t, w.store, "sara.new@example.com", newOrder, "Amiri"),
				"no trace of the order or of her: its raw landing and bus messages went")
			after, err := w.store.SuppressionStats(ctx)
			require.NoError(t, err)
			require.Equal(t, before.Dropped+1, after.Dropped, "the drop is counted")
			require.Equal(t, before.Entries+1, after.Entries, "the order got a suppression entry of its own")

			// A later version of that order is dropped on arrival.
			raw, dropped := rawCount(t, w.store), w.in.Dropped()
			require.NoError(t, w.in.Ingest(ctx, []crmhub.Envelope{
				shopOrder(newOrder, saraShopID, "sara.new@example.com", "2026-05-02T10:00:00+04:00")}, nil))
			require.Equal(t, dropped+1, w.in.Dropped())
			require.Equal(t, raw, rawCount(t, w.store))
			dropping, err := w.store.SuppressionStats(ctx)
			require.NoError(t, err)

			// Omar's new order is stored.
			const omarOrder = "5123456789012340001"
			w.ingest(t, 1, shopOrder(omarOrder, omarShopID, "omar@example.com", "2026-05-01T10:00:00+04:00"))
			o, err := w.store.Order(ctx, "shop", omarOrder)
			require.NoError(t, err)
			require.Equal(t, omarShopID, o.CustomerExternalID)
			omar, err := w.store.CustomerIDsByEmail(ctx, "omar@example.com")
			require.NoError(t, err)
			require.Equal(t, omar[0], o.CustomerID)
			stats, err := w.store.SuppressionStats(ctx)
			require.NoError(t, err)
			require.Equal(t, dropping, stats, "nothing of his was dropped")
		})
	}
}

// guestOrder is a Shopify order placed without an account: only its email
// and phone tell whose it is.
func guestOrder(id, email, phone string) crmhub.Envelope {
	body := fmt.Sprintf(`{"id":%s,"name":"#3001","email":%q,"phone":%q,"currency":"AED","total_price":"50.00",`+
		`"subtotal_price":"50.00","created_at":"2026-05-03T10:00:00+04:00","updated_at":"2026-05-03T10:00:00+04:00",`+
		`"customer":null,"line_items":[]}`, id, email, phone)
	return crmhub.Envelope{Source: "shop", SourceType: shopify.SourceType, Entity: crmhub.EntityOrder,
		ExternalID: id, Version: "2026-05-03T10:00:00+04:00", Payload: []byte(body)}
}

// TestGuestOrderOfAnErasedPersonIsDropped: after customers/redact, a guest
// checkout with her email, or with her phone written another way, is not
// stored and leaves no trace; a guest checkout of somebody else is stored.
func TestGuestOrderOfAnErasedPersonIsDropped(t *testing.T) {
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t, driver)
			seedSara(t, w)
			w.request(t, "customers/redact", redactBody("sara@example.com"))
			before, err := w.store.SuppressionStats(ctx)
			require.NoError(t, err)

			for id, o := range map[string]crmhub.Envelope{
				"5123456789012348001": guestOrder("5123456789012348001", "Sara@Example.com", ""),
				"5123456789012348002": guestOrder("5123456789012348002", "guest@example.net", "050 123 4567"),
			} {
				w.ingest(t, 1, o)
				_, err := w.store.Order(ctx, "shop", id)
				require.ErrorIs(t, err, crmhub.ErrNotFound, "guest order %s is not stored", id)
				require.Empty(t, storetest.Find(t, w.store, id, "guest@example.net"), "no trace of guest order %s", id)
			}
			after, err := w.store.SuppressionStats(ctx)
			require.NoError(t, err)
			require.Equal(t, before.Dropped+2, after.Dropped)

			const other = "5123456789012348003"
			w.ingest(t, 1, guestOrder(other, "nadia@example.org", "+971509999999"))
			o, err := w.store.Order(ctx, "shop", other)
			require.NoError(t, err, "somebody else's guest order is stored")
			require.Empty(t, o.CustomerExternalID)
			stats, err := w.store.SuppressionStats(ctx)
			require.NoError(t, err)
			require.Equal(t, after.Dropped, stats.Dropped, "nothing of hers was dropped")
		})
	}
}
