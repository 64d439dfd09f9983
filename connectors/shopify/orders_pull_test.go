package shopify_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/connectors/shopify"
	"github.com/crmhub/crmhub/connectors/shopify/shopifytest"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/store"
)

// newOrderPull is an order pull of main-store from a fake shop into a
// hub's store, through the client crmhub sync uses.
func newOrderPull(t testing.TB, h *hub, shop *shopifytest.Server, cfg shopify.PullConfig) (*shopify.OrderPull, *ingestLander) {
	t.Helper()
	c, err := shopify.NewClient(shopify.ClientConfig{AccessToken: shop.Token(), BaseURL: shop.URL(),
		Timeout: time.Second, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}, nil)
	require.NoError(t, err)
	l := &ingestLander{in: pipeline.NewIngester(h.store, h.bus, true), source: "main-store"}
	cfg.Source = "main-store"
	p, err := shopify.NewOrderPull(c, l, h.store, cfg, nil)
	require.NoError(t, err)
	return p, l
}

// landedOrders reads the order payloads of main-store in the raw table,
// the newest of each order.
func landedOrders(t testing.TB, s *store.Store) map[string]gjson.Result {
	t.Helper()
	recs, err := s.RawRecords(context.Background(), "main-store", 0, 100000)
	require.NoError(t, err)
	out := map[string]gjson.Result{}
	for _, r := range recs {
		if r.Entity == string(crmhub.EntityOrder) {
			out[r.ExternalID] = gjson.ParseBytes(r.Payload)
		}
	}
	return out
}

func streamCheckpoint(t testing.TB, s *store.Store, stream string) shopify.Cursor {
	t.Helper()
	cp, err := s.Checkpoint(context.Background(), "main-store", stream)
	require.NoError(t, err)
	var c shopify.Cursor
	require.NoError(t, json.Unmarshal([]byte(cp.Cursor), &c))
	return c
}

func TestOrderPullLandsEveryOrderWithAllItsLineItems(t *testing.T) {
	h := newHub(t, hubOptions{})
	// A small bucket, so that pacing matters: ten orders ask for about
	// 900 points a query.
	shop := shopifytest.New(t, shopifytest.Options{MaximumAvailable: 1000, RestoreRate: 5000})
	os := shopifytest.GenerateOrders(250, start, shopifytest.Generate(40, start))
	shop.PutOrders(os...)
	p, _ := newOrderPull(t, h, shop, shopify.PullConfig{})

	got, err := p.Run(context.Background(), nil)
	require.NoError(t, err)
	require.Equal(t, 250, got.Records)
	require.Equal(t, 25, got.Pages, "pages of ten orders")
	require.Zero(t, shop.Stats().Violations)
	landed := landedOrders(t, h.store)
	require.Len(t, landed, 250)
	for _, o := range os {
		doc := landed[strconv.FormatInt(o.ID, 10)]
		require.True(t, doc.Exists(), "order %d", o.ID)
		require.Len(t, doc.Get("line_items").Array(), len(o.LineItems), "order %d has all its line items", o.ID)
		require.Equal(t, o.Total, doc.Get("total_price").String())
	}
	last := os[len(os)-1]
	require.Equal(t, shopify.Cursor{UpdatedAt: last.UpdatedAt, ID: strconv.FormatInt(last.ID, 10)},
		streamCheckpoint(t, h.store, shopify.StreamOrders))
	_, err = h.store.Checkpoint(context.Background(), "main-store", shopify.StreamCustomers)
	require.ErrorIs(t, err, crmhub.ErrNotFound, "orders have a checkpoint of their own")

	before := rowCounts(t, h.store)
	again, err := p.Run(context.Background(), nil)
	require.NoError(t, err)
	require.Positive(t, again.Records, "the overlap is read again")
	require.Equal(t, before["raw_records"], rowCounts(t, h.store)["raw_records"], "and kept once")
}

func TestOrderPullConfig(t *testing.T) {
	h := newHub(t, hubOptions{})
	shop := shopifytest.New(t, shopifytest.Options{})
	c, err := shopify.NewClient(shopify.ClientConfig{AccessToken: shop.Token(), BaseURL: shop.URL()}, nil)
	require.NoError(t, err)
	l := &ingestLander{in: pipeline.NewIngester(h.store, h.bus, true), source: "main-store"}
	for _, tc := range []struct {
		name string
		cfg  shopify.PullConfig
		want string
	}{
		{"no source", shopify.PullConfig{}, "no source name"},
		{"a page Shopify would refuse as too costly", shopify.PullConfig{Source: "s", PageSize: 11}, "not between 1 and 10"},
		{"negative overlap", shopify.PullConfig{Source: "s", Overlap: -time.Minute}, "negative overlap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := shopify.NewOrderPull(c, l, h.store, tc.cfg, nil)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestOrderPullWithoutReadOrdersIsReportedNotRetried(t *testing.T) {
	h := newHub(t, hubOptions{})
	shop := shopifytest.New(t, shopifytest.Options{Scopes: []string{"read_customers"}})
	shop.PutOrders(shopifytest.GenerateOrders(5, start, nil)...)
	p, _ := newOrderPull(t, h, shop, shopify.PullConfig{})
	_, err := p.Run(context.Background(), nil)
	require.Error(t, err)
	require.True(t, crmhub.IsPermanent(err))
	require.ErrorContains(t, err, "read_orders")
	require.Equal(t, 1, shop.Stats().Requests)
	require.Empty(t, landedOrders(t, h.store))
}

func TestOrderCheckpointNeverPassesUncommittedOrders(t *testing.T) {
	h := newHub(t, hubOptions{})
	shop := shopifytest.New(t, shopifytest.Options{RestoreRate: 5000})
	os := shopifytest.GenerateOrders(50, start, nil)
	shop.PutOrders(os...)
	p, l := newOrderPull(t, h, shop, shopify.PullConfig{})
	refused := errors.New("disk full")
	l.fail = func(page int) error {
		if page == 3 {
			return refused
		}
		return nil
	}
	_, err := p.Run(context.Background(), nil)
	require.ErrorIs(t, err, refused)
	require.Equal(t, shopify.Cursor{UpdatedAt: os[19].UpdatedAt, ID: strconv.FormatInt(os[19].ID, 10)},
		streamCheckpoint(t, h.store, shopify.StreamOrders))
	require.Len(t, landedOrders(t, h.store), 20)
	l.fail = nil
	_, err = p.Run(context.Background(), nil)
	require.NoError(t, err)
	require.Len(t, landedOrders(t, h.store), 50)
}

// TestPulledOrdersBecomeStoredOrdersOfTheirProfiles pulls customers and
// then orders from the fake shop through the pipeline: each stored order
// carries the amounts, statuses and every line item the shop has, and
// belongs to its customer's profile; a webhook of the same order, newer,
// replaces it in place.
func TestPulledOrdersBecomeStoredOrdersOfTheirProfiles(t *testing.T) {
	h := newHub(t, hubOptions{})
	shop := shopifytest.New(t, shopifytest.Options{RestoreRate: 5000})
	cs := shopifytest.Generate(30, start)
	os := shopifytest.GenerateOrders(60, start, cs)
	shop.Put(cs...)
	shop.PutOrders(os...)
	stop := runPipeline(t, h)
	defer stop()
	_, err := newPuller(t, h, shop, 250).pull.Run(context.Background(), nil)
	require.NoError(t, err)
	op, _ := newOrderPull(t, h, shop, shopify.PullConfig{})
	_, err = op.Run(context.Background(), nil)
	require.NoError(t, err)
	waitProcessed(t, h.store, 90)
	settle(t, h.store)

	ctx := context.Background()
	for _, o := range os {
		got, err := h.store.Order(ctx, "main-store", strconv.FormatInt(o.ID, 10))
		require.NoError(t, err)
		require.Equal(t, o.Name, got.Number)
		require.Equal(t, o.Total, got.Total.StringFixed(2))
		require.Equal(t, o.Subtotal, got.Subtotal.StringFixed(2))
		require.Equal(t, o.Shipping, got.Shipping.StringFixed(2))
		require.Equal(t, o.Refunded, got.Refunded.StringFixed(2))
		require.Len(t, got.LineItems, len(o.LineItems))
		for i, li := range o.LineItems {
			require.Equal(t, li.SKU, got.LineItems[i].SKU)
			require.Equal(t, li.Quantity, got.LineItems[i].Quantity)
			require.Equal(t, li.Price, got.LineItems[i].UnitPrice.StringFixed(2))
		}
		require.Equal(t, map[string]string{"PAID": "paid", "PARTIALLY_REFUNDED": "partially_refunded", "VOIDED": "voided"}[o.FinancialStatus],
			got.FinancialStatus)
		require.Equal(t, map[string]string{"FULFILLED": "fulfilled"}[o.FulfillmentStatus], got.FulfillmentStatus)
		require.Equal(t, o.CancelledAt != nil, got.Cancelled())
		want := ""
		if o.CustomerID != 0 {
			want = profileOfCustomer(t, h.store, o.CustomerID)
			require.NotEmpty(t, want)
		}
		require.Equal(t, want, got.CustomerID, "order %d", o.ID)
	}

	// The same order by webhook, a minute newer: one order, updated.
	o := os[0]
	body := orderVersion(o.ID, o.CustomerID, 2, o.UpdatedAt.Add(time.Minute-2*time.Minute))
	require.Equal(t, http.StatusOK, h.post(t, signed("main-store", "orders/updated", body)))
	waitProcessed(t, h.store, 91)
	settle(t, h.store)
	got, err := h.store.Order(ctx, "main-store", strconv.FormatInt(o.ID, 10))
	require.NoError(t, err)
	require.Equal(t, "fulfilled", got.FulfillmentStatus)
	require.Equal(t, o.UpdatedAt.Add(time.Minute), got.UpdatedAt)
	c, err := h.store.Counts(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 60, c.Orders)
	require.Zero(t, c.DeadLetters)
}

// TestRecordedGraphQLOrdersMap feeds the orders of a recorded GraphQL
// Admin API answer through the conversion and the built-in mapping. The
// recording's query did not ask for updatedAt, which a pull needs: the
// test gives each order its createdAt.
func TestRecordedGraphQLOrdersMap(t *testing.T) {
	path := filepath.Join(sharedData, "graphql", "orders_first5_details.response.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("recorded Shopify payloads not found at %s (they live in ../shared/data)", path)
	}
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(b, &doc))
	edges := doc["orders"].(map[string]any)["edges"].([]any)
	for _, e := range edges {
		n := e.(map[string]any)["node"].(map[string]any)
		n["updatedAt"] = n["createdAt"]
	}
	answer, err := json.Marshal(doc)
	require.NoError(t, err)

	h := newHub(t, hubOptions{})
	l := &ingestLander{in: pipeline.NewIngester(h.store, h.bus, true), source: "main-store"}
	p, err := shopify.NewOrderPull(&recordedOrders{answer: answer}, l, h.store, shopify.PullConfig{Source: "main-store"}, nil)
	require.NoError(t, err)
	got, err := p.Run(context.Background(), nil)
	require.NoError(t, err)
	require.Equal(t, len(edges), got.Records)

	st := mapStages(t)
	landed := landedOrders(t, h.store)
	require.Contains(t, landed, "158040885")
	o := mapOrder(t, st, []byte(landed["158040885"].Raw)).Order
	require.Equal(t, "#2000", o.Number)
	require.Equal(t, "CAD", o.Currency)
	require.Equal(t, "2000", o.Total.String())
	require.Equal(t, "paid", o.FinancialStatus)
	require.Empty(t, o.FulfillmentStatus, "UNFULFILLED is what webhooks write as null")
	require.Len(t, o.LineItems, 1)
	require.Equal(t, "draft-151", o.LineItems[0].SKU)
	require.Equal(t, 10, o.LineItems[0].Quantity)
	require.Equal(t, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), o.CreatedAt)
}

// recordedOrders answers the orders query with a recorded data document,
// then with an empty last page.
type recordedOrders struct{ answer []byte }

func (q *recordedOrders) Query(_ context.Context, _ string, _, out any) error {
	b := q.answer
	q.answer = []byte(`{"orders":{"edges":[],"pageInfo":{"hasNextPage":false,"endCursor":null}}}`)
	return json.Unmarshal(b, out)
}

func TestOrderID(t *testing.T) {
	for _, tc := range []struct{ gid, want string }{
		{"gid://shopify/Order/5123456789012345678", "5123456789012345678"},
		{"gid://shopify/Customer/1", ""},
		{"gid://shopify/Order/", ""},
		{"gid://shopify/Order/12a", ""},
	} {
		t.Run(tc.gid, func(t *testing.T) {
			got, err := shopify.OrderID(tc.gid)
			if tc.want == "" {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
