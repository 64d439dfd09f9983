package shopify_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmhub/crmhub/config"
	"github.com/crmhub/crmhub/connectors/shopify"
	"github.com/crmhub/crmhub/connectors/shopify/shopifytest"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/pipeline/identity"
)

// BenchmarkWebhookDeliveries posts signed customers/update deliveries over
// HTTP, 16 at a time as Shopify does for a busy shop, to the receiver on a
// SQLite store with the SQLite bus: each is verified, landed and published
// with a durable commit before its 200. It reports deliveries per second
// and the 50th and 99th percentiles of the time to the answer.
//
//	go test -run '^$' -bench WebhookDeliveries -benchtime 20000x ./connectors/shopify/
func BenchmarkWebhookDeliveries(b *testing.B) {
	benchDeliveries(b, newHub(b, hubOptions{}))
}

// BenchmarkWebhookDeliveriesWhileResolving is BenchmarkWebhookDeliveries
// with the pipeline running in the same process, as in crmhub run: the
// map and persist stages resolve the deliveries into profiles while more
// arrive, and share the store's one writer with the receiver.
func BenchmarkWebhookDeliveriesWhileResolving(b *testing.B) {
	h := newHub(b, hubOptions{})
	stop := startStages(b, h)
	benchDeliveries(b, h)
	processed, err := h.store.CountProcessed(context.Background(), pipeline.HandlerPersist)
	if err != nil {
		b.Fatal(err)
	}
	stop()
	b.ReportMetric(float64(processed)/float64(b.N), "resolved-share")
}

// BenchmarkOrdersIntoProfiles backfills b.N orders of 1,000 customers, with
// one to three line items each, and then times the map and persist stages
// as crmhub run and crmhub sync run them: from their start until every
// order is stored. It reports orders per second.
//
//	go test -run '^$' -bench OrdersIntoProfiles -benchtime 50000x ./connectors/shopify/
func BenchmarkOrdersIntoProfiles(b *testing.B) {
	h := newHub(b, hubOptions{})
	shop := shopifytest.New(b, shopifytest.Options{})
	orders := shopifytest.GenerateOrders(b.N, start, shopifytest.Generate(1000, start))
	for i := range orders {
		orders[i].LineItems = orders[i].LineItems[:min(3, len(orders[i].LineItems))]
	}
	shop.PutOrders(orders...)
	bf := newBackfiller(b, h, shop, "").backfill(b, shopify.StreamOrders, shopify.BackfillConfig{})
	if got, err := bf.Run(context.Background(), nil); err != nil || got.Records != b.N {
		b.Fatalf("landed %d orders, want %d: %v", got.Records, b.N, err)
	}
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	stop := startStages(b, h)
	for {
		n, err := h.store.CountProcessed(ctx, pipeline.HandlerPersist)
		if err != nil {
			b.Fatal(err)
		}
		if n >= int64(b.N) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	stop()
	c, err := h.store.Counts(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if c.Orders != int64(b.N) {
		b.Fatalf("%d orders stored, want %d", c.Orders, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "orders/s")
}

// startStages runs the map and persist stages of the hub's shop, with the
// shop's built-in mappings, until stop is called.
func startStages(b *testing.B, h *hub) (stop func()) {
	byEntity, err := shopify.Mappings()
	if err != nil {
		b.Fatal(err)
	}
	sources := map[string]pipeline.MapSource{"main-store": {ByEntity: byEntity, Privacy: shopify.ReadPrivacy,
		Source: identity.Source{Name: "main-store", Type: shopify.SourceType, DefaultRegion: "AE"}}}
	log := slog.New(slog.DiscardHandler)
	st := pipeline.NewStages(h.store, sources, identity.NewResolver(identity.ConfigFrom(config.IdentityConfig{})), log)
	p, err := pipeline.New(h.store, h.bus, pipeline.Options{Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := st.Warm(ctx); err != nil {
		b.Fatal(err)
	}
	st.Register(p)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	<-p.Running()
	return func() {
		cancel()
		if err := <-done; err != nil && ctx.Err() == nil {
			b.Fatal(err)
		}
	}
}

// benchDeliveries sends b.N deliveries of distinct customers from 16
// senders and reports the rate and the latency percentiles.
func benchDeliveries(b *testing.B, h *hub) {
	const senders = 16
	ds := make([]delivery, b.N)
	for i := range ds {
		body := fmt.Appendf(nil, `{"id":%d,"email":"bench%d@example.com","first_name":"Sara","last_name":"Al Amiri",`+
			`"phone":"+97150%07d","tags":"vip, newsletter","updated_at":"2026-03-01T10:00:00+04:00",`+
			`"default_address":{"address1":"12 Marina Walk","city":"Dubai","country_code":"AE","zip":""}}`,
			7039114952811000000+i, i, i)
		ds[i] = signed("main-store", "customers/update", body)
	}
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range senders {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ds) {
					return
				}
				t0 := time.Now()
				if c := h.post(b, ds[i]); c != http.StatusOK {
					b.Errorf("delivery %d: status %d", i, c)
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
}
