package shopify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/config"
	"github.com/crmhub/crmhub/pipeline/identity"
	"github.com/crmhub/crmhub/store"
)

// Shopify ids of the orders and customers these tests make: beyond 2^53,
// as Shopify's are.
const (
	firstOrderID    = 5123456789012345000
	firstCustomerID = 7039114952811000000
)

// orderVersion is one version of an order as its webhooks carry it: the
// order is created pending, then paid, then fulfilled with a line more.
func orderVersion(order, customer int64, v int, at time.Time) []byte {
	lines := []map[string]any{{"sku": "TEE-BLK-M", "title": "T-shirt", "quantity": 2, "price": "95.00"}}
	financial, fulfillment := []string{"pending", "paid", "paid"}[v], []any{nil, nil, "fulfilled"}[v]
	total := "190.00"
	if v == 2 {
		lines = append(lines, map[string]any{"sku": "CAP", "title": "Cap", "quantity": 1, "price": "14.50"})
		total = "204.50"
	}
	shipping := map[string]any{"shop_money": map[string]any{"amount": "0.00", "currency_code": "AED"}}
	var cust any
	if customer != 0 {
		cust = map[string]any{"id": json.Number(fmt.Sprint(customer))}
	}
	b, _ := json.Marshal(map[string]any{
		"id": json.Number(fmt.Sprint(order)), "name": fmt.Sprintf("#%d", order-firstOrderID+1001),
		"currency": "AED", "financial_status": financial, "fulfillment_status": fulfillment,
		"subtotal_price": total, "total_discounts": "0.00", "total_tax": "0.00", "total_price": total,
		"customer": cust, "line_items": lines, "refunds": []any{}, "total_shipping_price_set": shipping,
		"created_at": at.Format(time.RFC3339), "updated_at": at.Add(time.Duration(v) * time.Minute).Format(time.RFC3339),
	})
	return b
}

var orderTopics = []string{"orders/create", "orders/paid", "orders/updated"}

func customerBody(customer int64) []byte {
	return fmt.Appendf(nil, `{"id":%d,"email":"person%d@example.com","first_name":"Amal","last_name":"Customer","updated_at":"2026-01-01T00:00:00Z"}`,
		customer, customer-firstCustomerID)
}

// postAll delivers ds from 8 senders at once, each answered 200.
func postAll(t *testing.T, h *hub, ds []delivery) {
	t.Helper()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < len(ds); i += 8 {
				if c := h.post(t, ds[i]); c != http.StatusOK {
					t.Errorf("delivery %d (%s): status %d", i, ds[i].topic, c)
				}
			}
		})
	}
	wg.Wait()
}

// profileOfCustomer is the profile of a shop customer, "" when it is not
// known.
func profileOfCustomer(t *testing.T, s *store.Store, customer int64) string {
	t.Helper()
	id, err := s.CustomerIDByIdentity(context.Background(), "main-store", fmt.Sprint(customer))
	if err != nil {
		require.ErrorIs(t, err, crmhub.ErrNotFound)
		return ""
	}
	return id
}

// TestStaleOrderRetriesNeverOverwriteNewerVersions delivers 1,000 orders,
// each created, paid and fulfilled, shuffled with as many stale retries
// (older versions again, as Shopify's retries and as new deliveries),
// through the webhook receiver and the pipeline: every order ends at its
// newest version, linked to its customer's profile, also when the
// customer arrives after their orders.
func TestStaleOrderRetriesNeverOverwriteNewerVersions(t *testing.T) {
	h := newHub(t, hubOptions{})
	const orders, customers = 1000, 100
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	customerOf := func(o int) int64 {
		if o%10 == 9 {
			return 0 // a guest checkout
		}
		return firstCustomerID + int64(o%customers)
	}
	var fresh []delivery
	for o := range orders {
		for v, topic := range orderTopics {
			at := base.Add(time.Duration(o) * time.Second)
			fresh = append(fresh, signed("main-store", topic, orderVersion(firstOrderID+int64(o), customerOf(o), v, at)))
		}
	}
	// Half the customers are known before their orders are processed.
	early := make([]delivery, 0, customers/2)
	for c := range customers / 2 {
		early = append(early, signed("main-store", "customers/update", customerBody(firstCustomerID+int64(c))))
	}
	rng := rand.New(rand.NewPCG(5, 8))
	plan := slices.Concat(fresh, early)
	for range orders {
		d := fresh[rng.IntN(len(fresh))]
		if rng.IntN(2) == 0 {
			d.webhookID, d.eventID = newID(), newID()
		}
		plan = append(plan, d)
	}
	rng.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })

	stop := runPipeline(t, h)
	defer stop()
	postAll(t, h, plan)
	waitProcessed(t, h.store, int64(len(fresh)+len(early)))
	settle(t, h.store)

	ctx := context.Background()
	// Every order as the export reads it, checked against the profile
	// its customer's record is in.
	checkOrders := func() {
		t.Helper()
		stored := map[string]crmhub.Order{}
		require.NoError(t, h.store.EachOrder(ctx, store.ExportOptions{}, func(o crmhub.Order) error {
			stored[o.ExternalID] = o
			return nil
		}))
		require.Len(t, stored, orders)
		profiles, err := h.store.IdentityAssignments(ctx)
		require.NoError(t, err)
		for o := range orders {
			ext := fmt.Sprint(firstOrderID + o)
			got := stored[ext]
			want := base.Add(time.Duration(o)*time.Second + 2*time.Minute)
			require.Equal(t, want, got.UpdatedAt, "order %s is at its newest version", ext)
			require.Equal(t, "paid", got.FinancialStatus, ext)
			require.Equal(t, "fulfilled", got.FulfillmentStatus, ext)
			require.Equal(t, "204.5", got.Total.String(), ext)
			require.Len(t, got.LineItems, 2, ext)
			wantProfile := ""
			if c := customerOf(o); c != 0 {
				wantProfile = profiles[store.RecordKey{Source: "main-store", ExternalID: fmt.Sprint(c)}]
			}
			require.Equal(t, wantProfile, got.CustomerID, "order %s", ext)
		}
	}
	checkOrders()
	counts := rowCounts(t, h.store)
	require.EqualValues(t, orders, counts["orders"])
	require.EqualValues(t, len(fresh)+len(early), counts["raw_records"], "each version landed once")
	require.Zero(t, counts["dead_letters"])
	unlinked := 0
	require.NoError(t, h.store.EachOrder(ctx, store.ExportOptions{}, func(o crmhub.Order) error {
		if o.CustomerID == "" && o.CustomerExternalID != "" {
			unlinked++
		}
		return nil
	}))
	require.Equal(t, orders*9/10/2, unlinked, "the orders of customers not known yet wait for them")
	got, err := h.store.Order(ctx, "main-store", fmt.Sprint(firstOrderID))
	require.NoError(t, err)
	require.Equal(t, "paid", got.FinancialStatus, "Order reads what the export reads")

	// The other customers arrive after their orders.
	var late []delivery
	for c := customers / 2; c < customers; c++ {
		late = append(late, signed("main-store", "customers/update", customerBody(firstCustomerID+int64(c))))
	}
	postAll(t, h, late)
	waitProcessed(t, h.store, int64(len(fresh)+len(early)+len(late)))
	settle(t, h.store)
	checkOrders()
	placed := map[int64]int{}
	for o := range orders {
		placed[customerOf(o)]++
	}
	for c := range customers {
		customer := firstCustomerID + int64(c)
		profile := profileOfCustomer(t, h.store, customer)
		require.NotEmpty(t, profile)
		os, err := h.store.OrdersOfCustomer(ctx, profile)
		require.NoError(t, err)
		require.Len(t, os, placed[customer], "the orders of customer %d", customer)
		for _, o := range os {
			require.Equal(t, fmt.Sprint(customer), o.CustomerExternalID)
		}
	}
}

// TestOrdersFollowMergesAndUnmerges: two shop customers with one email are
// one profile, which holds the orders of both; undoing the merge gives
// each record's orders back to its own profile, and no order ever names
// the merged-away profile.
func TestOrdersFollowMergesAndUnmerges(t *testing.T) {
	h := newHub(t, hubOptions{})
	ctx := context.Background()
	a, b := int64(firstCustomerID+1), int64(firstCustomerID+2)
	at := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	stop := runPipeline(t, h)
	ds := []delivery{
		signed("main-store", "orders/create", orderVersion(firstOrderID+1, a, 0, at)),
		signed("main-store", "orders/create", orderVersion(firstOrderID+2, b, 0, at)),
		signed("main-store", "customers/create", customerBody(a)),
		signed("main-store", "customers/create", customerBody(b)),
	}
	postAll(t, h, ds)
	waitProcessed(t, h.store, 4)
	require.NotEqual(t, profileOfCustomer(t, h.store, a), profileOfCustomer(t, h.store, b))
	// b changes to a's email: one person, and their profiles merge.
	postAll(t, h, []delivery{signed("main-store", "customers/update",
		fmt.Appendf(nil, `{"id":%d,"email":"person1@example.com","first_name":"Amal","updated_at":"2026-01-02T00:00:00Z"}`, b))})
	waitProcessed(t, h.store, 5)
	settle(t, h.store)
	stop()

	merged := profileOfCustomer(t, h.store, a)
	require.Equal(t, merged, profileOfCustomer(t, h.store, b))
	os, err := h.store.OrdersOfCustomer(ctx, merged)
	require.NoError(t, err)
	require.Len(t, os, 2)
	ms, err := h.store.MergesOf(ctx, merged)
	require.NoError(t, err)
	require.Len(t, ms, 1)
	tombstones := ms[0].MergedIDs

	res := identity.NewResolver(identity.ConfigFrom(config.IdentityConfig{Match: []config.MatchRule{{Field: "email"}}}))
	require.NoError(t, h.store.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.LockIdentity(ctx); err != nil {
			return err
		}
		_, err := res.Unmerge(ctx, tx, ms[0].ID, "test")
		return err
	}))
	pa, pb := profileOfCustomer(t, h.store, a), profileOfCustomer(t, h.store, b)
	require.NotEqual(t, pa, pb)
	for order, want := range map[int64]string{firstOrderID + 1: pa, firstOrderID + 2: pb} {
		o, err := h.store.Order(ctx, "main-store", fmt.Sprint(order))
		require.NoError(t, err)
		require.Equal(t, want, o.CustomerID)
		require.NotContains(t, tombstones, o.CustomerID)
		c, err := h.store.Customer(ctx, o.CustomerID)
		require.NoError(t, err)
		require.Empty(t, c.MergedInto, "an order names a live profile")
	}
}

// TestOrderDeletionIsFinal: orders/delete removes an order, whatever
// arrives for it afterwards; a deletion before the order itself keeps it
// from appearing; a deletion without an id is kept and not processed.
func TestOrderDeletionIsFinal(t *testing.T) {
	h := newHub(t, hubOptions{})
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	customer := int64(firstCustomerID + 7)
	stop := runPipeline(t, h)
	defer stop()
	kept, gone, early := int64(firstOrderID+1), int64(firstOrderID+2), int64(firstOrderID+3)
	postAll(t, h, []delivery{
		signed("main-store", "customers/create", customerBody(customer)),
		signed("main-store", "orders/create", orderVersion(kept, customer, 0, at)),
		signed("main-store", "orders/create", orderVersion(gone, customer, 0, at)),
		signed("main-store", "orders/delete", fmt.Appendf(nil, `{"id":%d}`, early)),
	})
	waitProcessed(t, h.store, 4)
	postAll(t, h, []delivery{signed("main-store", "orders/delete", fmt.Appendf(nil, `{"id":%d}`, gone))})
	waitProcessed(t, h.store, 5)
	// What comes after a deletion, older or newer, changes nothing.
	postAll(t, h, []delivery{
		signed("main-store", "orders/paid", orderVersion(gone, customer, 1, at)),
		signed("main-store", "orders/create", orderVersion(early, customer, 0, at)),
		signed("main-store", "orders/delete", []byte(`{"note":"no id"}`)),
	})
	waitProcessed(t, h.store, 7)
	settle(t, h.store)

	for order, live := range map[int64]bool{kept: true, gone: false, early: false} {
		_, err := h.store.Order(ctx, "main-store", fmt.Sprint(order))
		if live {
			require.NoError(t, err)
			continue
		}
		require.ErrorIs(t, err, crmhub.ErrNotFound, "order %d", order)
	}
	os, err := h.store.OrdersOfCustomer(ctx, profileOfCustomer(t, h.store, customer))
	require.NoError(t, err)
	require.Len(t, os, 1)
	c, err := h.store.Counts(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, c.Orders)
	require.Zero(t, c.DeadLetters)
	var unknown int
	require.NoError(t, h.store.ReadDB().QueryRow(`SELECT COUNT(*) FROM raw_records WHERE entity = 'unknown'`).Scan(&unknown))
	require.Equal(t, 1, unknown, "the deletion without an id is kept for a look")
}
