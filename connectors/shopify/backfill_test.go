package shopify_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/connectors/shopify"
	"github.com/crmhub/crmhub/connectors/shopify/shopifytest"
	"github.com/crmhub/crmhub/pipeline"
)

// backfiller makes backfills of main-store from a fake shop into a hub's
// store, through the client crmhub sync uses, polling every few
// milliseconds.
type backfiller struct {
	h      *hub
	shop   *shopifytest.Server
	client *shopify.Client
	land   *ingestLander
}

func newBackfiller(t testing.TB, h *hub, shop *shopifytest.Server, apiVersion string) *backfiller {
	t.Helper()
	c, err := shopify.NewClient(shopify.ClientConfig{AccessToken: shop.Token(), BaseURL: shop.URL(), APIVersion: apiVersion,
		Timeout: 5 * time.Second, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}, nil)
	require.NoError(t, err)
	return &backfiller{h: h, shop: shop, client: c,
		land: &ingestLander{in: pipeline.NewIngester(h.store, h.bus, true), source: "main-store"}}
}

// backfill returns a backfill of stream with cfg, its defaults filled in
// for tests.
func (b *backfiller) backfill(t testing.TB, stream string, cfg shopify.BackfillConfig) *shopify.Backfill {
	t.Helper()
	cfg.Source = "main-store"
	if cfg.MinPoll == 0 {
		cfg.MinPoll, cfg.MaxPoll = 2*time.Millisecond, 20*time.Millisecond
	}
	if cfg.APIVersion == "" {
		cfg.APIVersion = shopify.DefaultAPIVersion
	}
	newBackfill := shopify.NewCustomerBackfill
	if stream == shopify.StreamOrders {
		newBackfill = shopify.NewOrderBackfill
	}
	bf, err := newBackfill(b.client, b.land, b.h.store, cfg, nil)
	require.NoError(t, err)
	return bf
}

// landedRows counts the raw records of main-store of one entity: all of
// them and distinct ids.
func landedRows(t testing.TB, b *backfiller, entity crmhub.Entity) (rows, ids int64) {
	t.Helper()
	require.NoError(t, b.h.store.ReadDB().QueryRow(`SELECT COUNT(*), COUNT(DISTINCT external_id) FROM raw_records
		WHERE source = 'main-store' AND entity = ?`, string(entity)).Scan(&rows, &ids))
	return rows, ids
}

// bulkShop is a fake shop with n customers and m orders, updated from
// start on.
func bulkShop(t testing.TB, o shopifytest.Options, n, m int) (*shopifytest.Server, []shopifytest.Customer, []shopifytest.Order) {
	t.Helper()
	if o.RestoreRate == 0 {
		o.RestoreRate = 1000
	}
	shop := shopifytest.New(t, o)
	cs := shopifytest.Generate(n, start)
	os := shopifytest.GenerateOrders(m, start, cs)
	shop.Put(cs...)
	shop.PutOrders(os...)
	return shop, cs, os
}

func TestBackfillLandsEveryRecordOnceWithItsLineItems(t *testing.T) {
	h := newHub(t, hubOptions{})
	shop, _, orders := bulkShop(t, shopifytest.Options{}, 1200, 700)
	shop.SetBulkPolls(2)
	b := newBackfiller(t, h, shop, "")
	ctx := context.Background()

	for _, stream := range []string{shopify.StreamCustomers, shopify.StreamOrders} {
		var statuses []string
		got, err := b.backfill(t, stream, shopify.BackfillConfig{BatchSize: 100}).Run(ctx, func(p shopify.BulkProgress) {
			if len(statuses) == 0 || statuses[len(statuses)-1] != p.Status {
				statuses = append(statuses, p.Status)
			}
		})
		require.NoError(t, err)
		require.True(t, got.Ran)
		require.Equal(t, 1, got.Started)
		require.Equal(t, []string{shopify.BulkCreated, shopify.BulkRunning, shopify.BulkCompleted}, statuses)
		ops := shop.BulkOps()
		op := ops[len(ops)-1]
		require.True(t, op.GroupObjects, "crmhub asks for children below their parent")
		require.Zero(t, op.TokenSent, "the token never goes to the file's URL")
		// The pull goes on from when the operation began.
		require.Equal(t, shopify.Cursor{UpdatedAt: op.CreatedAt}, got.Cursor)
		require.Equal(t, got.Cursor, streamCheckpoint(t, h.store, stream))
	}
	rows, ids := landedRows(t, b, crmhub.EntityCustomer)
	require.EqualValues(t, 1200, rows)
	require.EqualValues(t, 1200, ids)
	rows, ids = landedRows(t, b, crmhub.EntityOrder)
	require.EqualValues(t, 700, rows)
	require.EqualValues(t, 700, ids)
	landed := landedOrders(t, h.store)
	for _, o := range orders {
		got := landed[strconv.FormatInt(o.ID, 10)]
		require.EqualValues(t, len(o.LineItems), got.Get("line_items.#").Int(), "order %d", o.ID)
		require.Equal(t, o.LineItems[len(o.LineItems)-1].SKU, got.Get("line_items.@reverse.0.sku").String())
	}

	// Done: a stream with a checkpoint is the incremental pull's.
	before := rowCounts(t, h.store)
	again, err := b.backfill(t, shopify.StreamCustomers, shopify.BackfillConfig{}).Run(ctx, nil)
	require.NoError(t, err)
	require.False(t, again.Ran)
	require.Equal(t, before, rowCounts(t, h.store))
	require.Len(t, shop.BulkOps(), 2)
}

// TestBackfillLandsWhatThePullLands: a record read by a bulk operation
// lands in the same bytes as the same record read page by page, so the
// raw table keeps it once whichever way came first.
func TestBackfillLandsWhatThePullLands(t *testing.T) {
	h := newHub(t, hubOptions{})
	shop, _, _ := bulkShop(t, shopifytest.Options{RestoreRate: 5000}, 300, 120)
	b := newBackfiller(t, h, shop, "")
	ctx := context.Background()
	_, err := newPuller(t, h, shop, 250).pull.Run(ctx, nil)
	require.NoError(t, err)
	op, _ := newOrderPull(t, h, shop, shopify.PullConfig{})
	_, err = op.Run(ctx, nil)
	require.NoError(t, err)
	pulled := rowCounts(t, h.store)["raw_records"]
	require.EqualValues(t, 420, pulled)

	for _, stream := range []string{shopify.StreamCustomers, shopify.StreamOrders} {
		got, err := b.backfill(t, stream, shopify.BackfillConfig{Full: true}).Run(ctx, nil)
		require.NoError(t, err)
		require.True(t, got.Ran, "--full backfills a stream that has a checkpoint")
	}
	require.Equal(t, pulled, rowCounts(t, h.store)["raw_records"], "nothing landed twice")
}

// TestBackfillLandsPartialDataAndGoesOn: a failed operation's partial
// data lands, a new operation takes over, and what landed from the
// partial file does not land again.
func TestBackfillLandsPartialDataAndGoesOn(t *testing.T) {
	for _, tc := range []struct {
		name    string
		failure shopifytest.BulkFailure
	}{
		{name: "cut after a line", failure: shopifytest.BulkFailure{ErrorCode: shopify.BulkInternalError, PartialLines: 1500}},
		{name: "cut in the middle of a line", failure: shopifytest.BulkFailure{ErrorCode: shopify.BulkTimeout, PartialLines: 1001, CutLine: true}},
		{name: "no partial data", failure: shopifytest.BulkFailure{ErrorCode: shopify.BulkInternalError}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t, hubOptions{})
			shop, _, _ := bulkShop(t, shopifytest.Options{}, 10, 600)
			shop.FailBulk(tc.failure)
			b := newBackfiller(t, h, shop, "")
			var fromPartial int
			got, err := b.backfill(t, shopify.StreamOrders, shopify.BackfillConfig{BatchSize: 50}).Run(context.Background(),
				func(p shopify.BulkProgress) {
					if p.Operation == shop.BulkOps()[0].ID {
						fromPartial = p.Records
					}
				})
			require.NoError(t, err)
			require.Equal(t, 2, got.Started)
			ops := shop.BulkOps()
			require.Equal(t, shopify.BulkFailed, ops[0].Status)
			require.Equal(t, shopify.BulkCompleted, ops[1].Status)
			if tc.failure.PartialLines > 0 {
				require.Positive(t, fromPartial, "the partial data landed")
				require.Equal(t, 1, ops[0].Downloads)
			}
			rows, ids := landedRows(t, b, crmhub.EntityOrder)
			require.EqualValues(t, 600, rows)
			require.EqualValues(t, 600, ids)
		})
	}
}

func TestBackfillGivesUpAfterFailuresInARow(t *testing.T) {
	h := newHub(t, hubOptions{})
	shop, _, _ := bulkShop(t, shopifytest.Options{}, 50, 0)
	fail := shopifytest.BulkFailure{ErrorCode: shopify.BulkInternalError}
	shop.FailBulk(fail, fail, fail)
	b := newBackfiller(t, h, shop, "")
	_, err := b.backfill(t, shopify.StreamCustomers, shopify.BackfillConfig{MaxFailures: 3}).Run(context.Background(), nil)
	require.ErrorContains(t, err, "3 bulk operations in a row did not complete")
	require.Len(t, shop.BulkOps(), 3)

	// The next run takes it up and, Shopify having recovered, completes.
	got, err := b.backfill(t, shopify.StreamCustomers, shopify.BackfillConfig{MaxFailures: 3}).Run(context.Background(), nil)
	require.NoError(t, err)
	require.Equal(t, 50, got.Records)
}

func TestBackfillNamesTheMissingScope(t *testing.T) {
	h := newHub(t, hubOptions{})
	shop, _, _ := bulkShop(t, shopifytest.Options{Scopes: []string{"read_orders"}}, 20, 0)
	b := newBackfiller(t, h, shop, "")
	_, err := b.backfill(t, shopify.StreamCustomers, shopify.BackfillConfig{}).Run(context.Background(), nil)
	require.ErrorContains(t, err, shopify.BulkAccessDenied)
	require.ErrorContains(t, err, "read_customers")
	require.True(t, crmhub.IsPermanent(err))
	require.Len(t, shop.BulkOps(), 1, "an operation denied access is not tried again")
}

// TestBackfillTakesOverItsOperation: a run stopped right after it started
// its operation, before it noted it; the next run finds the operation
// running and waits for it rather than starting another.
func TestBackfillTakesOverItsOperation(t *testing.T) {
	h := newHub(t, hubOptions{})
	shop, _, _ := bulkShop(t, shopifytest.Options{}, 800, 0)
	shop.SetBulkPolls(3)
	b := newBackfiller(t, h, shop, "")
	crash := errors.New("killed")
	b.land.fail = func(page int) error {
		if page == 2 { // 1 notes the plan, 2 the operation
			return crash
		}
		return nil
	}
	_, err := b.backfill(t, shopify.StreamCustomers, shopify.BackfillConfig{}).Run(context.Background(), nil)
	require.ErrorIs(t, err, crash)
	require.Len(t, shop.BulkOps(), 1)
	require.Equal(t, shopify.BulkCreated, shop.BulkOps()[0].Status)

	b.land.fail = nil
	got, err := b.backfill(t, shopify.StreamCustomers, shopify.BackfillConfig{}).Run(context.Background(), nil)
	require.NoError(t, err)
	require.Zero(t, got.Started)
	require.Len(t, shop.BulkOps(), 1)
	require.Equal(t, 800, got.Records)
}

// TestBackfillRespectsTheShopsBulkLimit: while another operation of the
// app runs, a backfill on an API version before 2026-01 waits for it and
// says so; from 2026-01 it runs alongside.
func TestBackfillRespectsTheShopsBulkLimit(t *testing.T) {
	for _, tc := range []struct {
		version string
		waits   bool
	}{
		{version: "2025-10", waits: true},
		{version: "2026-01", waits: false},
	} {
		t.Run(tc.version, func(t *testing.T) {
			h := newHub(t, hubOptions{})
			shop, _, _ := bulkShop(t, shopifytest.Options{APIVersion: tc.version}, 100, 0)
			other := shop.StartBulk(`{ products { edges { node { id } } } }`, true)
			b := newBackfiller(t, h, shop, tc.version)
			var mu sync.Mutex
			var waiting []string
			done := make(chan error, 1)
			bf := b.backfill(t, shopify.StreamCustomers, shopify.BackfillConfig{APIVersion: tc.version})
			go func() {
				_, err := bf.Run(context.Background(),
					func(p shopify.BulkProgress) {
						mu.Lock()
						defer mu.Unlock()
						if p.Waiting != "" {
							waiting = append(waiting, p.Waiting)
						}
					})
				done <- err
			}()
			if tc.waits {
				require.Eventually(t, func() bool {
					mu.Lock()
					defer mu.Unlock()
					return len(waiting) > 2
				}, 10*time.Second, 5*time.Millisecond)
				mu.Lock()
				require.Contains(t, waiting[0], other, "it names the operation it waits for")
				mu.Unlock()
				require.Len(t, shop.BulkOps(), 1, "nothing started while the other runs")
				shop.ReleaseBulk(other)
			}
			require.NoError(t, <-done)
			rows, _ := landedRows(t, b, crmhub.EntityCustomer)
			require.EqualValues(t, 100, rows)
			mu.Lock()
			require.Equal(t, tc.waits, len(waiting) > 0)
			mu.Unlock()
		})
	}
}

func TestBackfillGivesUpWaitingClearly(t *testing.T) {
	h := newHub(t, hubOptions{})
	shop, _, _ := bulkShop(t, shopifytest.Options{APIVersion: "2025-10"}, 10, 0)
	other := shop.StartBulk(`{ products { edges { node { id } } } }`, true)
	b := newBackfiller(t, h, shop, "2025-10")
	_, err := b.backfill(t, shopify.StreamCustomers, shopify.BackfillConfig{APIVersion: "2025-10", MaxWait: 50 * time.Millisecond}).
		Run(context.Background(), nil)
	require.ErrorContains(t, err, "one at a time before API version 2026-01")
	require.ErrorContains(t, err, other)
}

// TestBackfillResumesItsDownload: a download that breaks off, and a run
// that stops part-way through a file, go on from the last commit with a
// range request; every order lands once.
func TestBackfillResumesItsDownload(t *testing.T) {
	t.Run("connection dropped", func(t *testing.T) {
		h := newHub(t, hubOptions{})
		shop, _, _ := bulkShop(t, shopifytest.Options{}, 10, 800)
		shop.CutDownloads(200_000, 150_000)
		b := newBackfiller(t, h, shop, "")
		_, err := b.backfill(t, shopify.StreamOrders, shopify.BackfillConfig{BatchSize: 50}).Run(context.Background(), nil)
		require.NoError(t, err)
		op := shop.BulkOps()[0]
		require.Equal(t, 3, op.Downloads)
		require.Len(t, op.Ranges, 2, "each retry asks for the rest of the file")
		for _, rg := range op.Ranges {
			from, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"), 10, 64)
			require.NoError(t, err, rg)
			require.Positive(t, from, "not from the start again")
		}
		rows, ids := landedRows(t, b, crmhub.EntityOrder)
		require.EqualValues(t, 800, rows)
		require.EqualValues(t, 800, ids)
	})
	t.Run("run stopped", func(t *testing.T) {
		h := newHub(t, hubOptions{})
		shop, _, _ := bulkShop(t, shopifytest.Options{}, 10, 800)
		b := newBackfiller(t, h, shop, "")
		stop := errors.New("stopped")
		b.land.fail = func(page int) error {
			if page == 8 { // the plan, the operation, 5 batches, stop
				return stop
			}
			return nil
		}
		_, err := b.backfill(t, shopify.StreamOrders, shopify.BackfillConfig{BatchSize: 50}).Run(context.Background(), nil)
		require.ErrorIs(t, err, stop)
		rows, _ := landedRows(t, b, crmhub.EntityOrder)
		require.Positive(t, rows)

		b.land.fail = nil
		got, err := b.backfill(t, shopify.StreamOrders, shopify.BackfillConfig{BatchSize: 50}).Run(context.Background(), nil)
		require.NoError(t, err)
		require.Zero(t, got.Started)
		require.EqualValues(t, 800-rows, got.Records, "only what had not landed")
		require.Len(t, shop.BulkOps()[0].Ranges, 1)
		rows, ids := landedRows(t, b, crmhub.EntityOrder)
		require.EqualValues(t, 800, rows)
		require.EqualValues(t, 800, ids)
	})
}

// TestBackfillStateKeepsNoURL: the file's URL is signed; the checkpoint
// notes the operation and the offset, never the URL.
func TestBackfillStateKeepsNoURL(t *testing.T) {
	h := newHub(t, hubOptions{})
	shop, _, _ := bulkShop(t, shopifytest.Options{}, 30, 0)
	b := newBackfiller(t, h, shop, "")
	_, err := b.backfill(t, shopify.StreamCustomers, shopify.BackfillConfig{}).Run(context.Background(), nil)
	require.NoError(t, err)
	cp, err := h.store.Checkpoint(context.Background(), "main-store", shopify.BulkStream(shopify.StreamCustomers))
	require.NoError(t, err)
	require.True(t, json.Valid([]byte(cp.Cursor)))
	require.True(t, gjson.Get(cp.Cursor, "done").Bool())
	require.Equal(t, shop.BulkOps()[0].ID, gjson.Get(cp.Cursor, "op").String())
	require.False(t, strings.Contains(cp.Cursor, "http"), cp.Cursor)
}
