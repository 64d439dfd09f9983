package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

func shopOrder(ext, customer string, at time.Time) crmhub.Order {
	return crmhub.Order{Source: "main-store", ExternalID: ext, CustomerExternalID: customer, Number: "#" + ext,
		FinancialStatus: "paid", Currency: "AED", Total: decimal.RequireFromString("95.00"),
		LineItems: []crmhub.LineItem{{SKU: "TEE", Quantity: 1, UnitPrice: decimal.RequireFromString("95.00")}},
		CreatedAt: at, UpdatedAt: at}
}

func withIdentities(c crmhub.Customer, externalIDs ...string) crmhub.Customer {
	c.Identities = nil
	for _, id := range externalIDs {
		c.Identities = append(c.Identities, crmhub.Identity{Source: "main-store", Type: "shopify", ExternalID: id})
	}
	return c
}

// orderOwners reads, for each order, the profile Order and EachOrder
// report, and which profiles' OrdersOfCustomer list it.
func orderOwners(t *testing.T, s *store.Store, profiles ...string) (byOrder map[string]string, listed map[string][]string) {
	t.Helper()
	ctx := context.Background()
	byOrder, listed = map[string]string{}, map[string][]string{}
	require.NoError(t, s.EachOrder(ctx, store.ExportOptions{}, func(o crmhub.Order) error {
		got, err := s.Order(ctx, o.Source, o.ExternalID)
		require.NoError(t, err)
		require.Equal(t, o.CustomerID, got.CustomerID, "Order and EachOrder agree")
		byOrder[o.ExternalID] = o.CustomerID
		return nil
	}))
	for _, p := range profiles {
		os, err := s.OrdersOfCustomer(ctx, p)
		require.NoError(t, err)
		for _, o := range os {
			require.Equal(t, p, o.CustomerID)
			listed[p] = append(listed[p], o.ExternalID)
		}
	}
	return byOrder, listed
}

func TestOrdersFollowTheIdentityOfTheirCustomer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 10, 28, 18, 40, 0, 0, time.UTC)
		a := withIdentities(newCustomer("a@example.com", ""), "101")
		b := withIdentities(newCustomer("b@example.com", ""), "102")
		direct := newCustomer("direct@example.com", "")
		inTx(t, s, func(tx *store.Tx) error { return tx.UpsertCustomers(ctx, []crmhub.Customer{a, direct}) })
		inTx(t, s, func(tx *store.Tx) error {
			for _, o := range []crmhub.Order{
				shopOrder("1", "101", t0),
				shopOrder("2", "102", t0.Add(time.Hour)), // its customer is not known yet
				shopOrder("3", "", t0),                   // a guest checkout
				{Source: "erp", ExternalID: "4", CustomerExternalID: "101", Currency: "AED", CreatedAt: t0}, // another source's 101
			} {
				if _, _, err := tx.UpsertOrder(ctx, o); err != nil {
					return err
				}
			}
			linked := shopOrder("5", "", t0)
			linked.CustomerID = direct.ID // written with its profile, no identity
			_, _, err := tx.UpsertOrder(ctx, linked)
			return err
		})
		byOrder, listed := orderOwners(t, s, a.ID, b.ID, direct.ID)
		require.Equal(t, map[string]string{"1": a.ID, "2": "", "3": "", "4": "", "5": direct.ID}, byOrder)
		require.Equal(t, map[string][]string{a.ID: {"1"}, direct.ID: {"5"}}, listed)

		// The customer arrives after their order.
		inTx(t, s, func(tx *store.Tx) error { return tx.UpsertCustomers(ctx, []crmhub.Customer{b}) })
		byOrder, listed = orderOwners(t, s, a.ID, b.ID)
		require.Equal(t, b.ID, byOrder["2"])
		require.Equal(t, []string{"2"}, listed[b.ID])

		// A merge as identity resolution writes it: the survivor takes
		// every identity, the absorbed profile becomes a tombstone.
		inTx(t, s, func(tx *store.Tx) error {
			return tx.UpsertCustomers(ctx, []crmhub.Customer{withIdentities(a, "101", "102"),
				{ID: b.ID, MergedInto: a.ID}})
		})
		byOrder, listed = orderOwners(t, s, a.ID, b.ID)
		require.Equal(t, a.ID, byOrder["1"])
		require.Equal(t, a.ID, byOrder["2"], "no order points at the tombstone")
		require.Equal(t, []string{"1", "2"}, listed[a.ID])
		require.Empty(t, listed[b.ID])

		// Unmerged into a new profile: the order goes with its record.
		c := withIdentities(newCustomer("b@example.com", ""), "102")
		inTx(t, s, func(tx *store.Tx) error {
			return tx.UpsertCustomers(ctx, []crmhub.Customer{withIdentities(a, "101"), c})
		})
		byOrder, listed = orderOwners(t, s, a.ID, c.ID)
		require.Equal(t, a.ID, byOrder["1"])
		require.Equal(t, c.ID, byOrder["2"])
		require.Equal(t, map[string][]string{a.ID: {"1"}, c.ID: {"2"}}, listed)
	})
}

func TestDeletedOrdersStayDeleted(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 10, 28, 18, 40, 0, 0, time.UTC)
		a := withIdentities(newCustomer("a@example.com", ""), "101")
		inTx(t, s, func(tx *store.Tx) error { return tx.UpsertCustomers(ctx, []crmhub.Customer{a}) })
		upsert := func(o crmhub.Order) (written bool) {
			inTx(t, s, func(tx *store.Tx) (err error) {
				_, written, err = tx.UpsertOrder(ctx, o)
				return err
			})
			return written
		}
		remove := func(ext string) (live bool) {
			inTx(t, s, func(tx *store.Tx) (err error) {
				live, err = tx.DeleteOrder(ctx, "main-store", ext, t0.Add(time.Hour))
				return err
			})
			return live
		}
		require.True(t, upsert(shopOrder("1", "101", t0)))
		require.True(t, upsert(shopOrder("2", "101", t0)))

		require.True(t, remove("1"))
		require.False(t, remove("1"), "deleting twice")
		_, err := s.Order(ctx, "main-store", "1")
		require.ErrorIs(t, err, crmhub.ErrNotFound)
		require.False(t, upsert(shopOrder("1", "101", t0.Add(24*time.Hour))), "a later version does not bring it back")
		_, err = s.Order(ctx, "main-store", "1")
		require.ErrorIs(t, err, crmhub.ErrNotFound)

		// Deleted before it was ever seen.
		require.False(t, remove("3"))
		require.False(t, upsert(shopOrder("3", "101", t0)))

		byOrder, listed := orderOwners(t, s, a.ID)
		require.Equal(t, map[string]string{"2": a.ID}, byOrder)
		require.Equal(t, []string{"2"}, listed[a.ID])
		c, err := s.Counts(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 1, c.Orders)
		var items, tombstones int
		require.NoError(t, s.ReadDB().QueryRowContext(ctx, "SELECT COUNT(*) FROM line_items").Scan(&items))
		require.Equal(t, 1, items, "a deleted order's line items go with it")
		require.NoError(t, s.ReadDB().QueryRowContext(ctx, `SELECT COUNT(*) FROM orders WHERE deleted_at IS NOT NULL
			AND customer_id IS NULL AND customer_external_id = '' AND number = '' AND currency = ''`).Scan(&tombstones))
		require.Equal(t, 2, tombstones, "a tombstone keeps nothing of the order")
	})
}
