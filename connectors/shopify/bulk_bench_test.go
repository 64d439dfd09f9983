package shopify_test

import (
	"context"
	"testing"
	"time"

	"github.com/crmhub/crmhub/connectors/shopify"
	"github.com/crmhub/crmhub/connectors/shopify/shopifytest"
)

// BenchmarkBulkBackfill backfills b.N customers, and b.N orders with one
// to three line items each, from the fake shop into a SQLite store with
// the SQLite bus: the JSONL file is downloaded over HTTP, read line by
// line, its line items joined to their orders, and landed in batches of
// 500, each published and checkpointed with its offset in one durable
// commit. It reports records per second from the moment the operation
// completed (the fake writes its file until then) to the last commit;
// mapping and identity resolution, which crmhub sync runs next, are not
// included.
//
//	go test -run '^$' -bench BulkBackfill -benchtime 100000x ./connectors/shopify/
func BenchmarkBulkBackfill(b *testing.B) {
	for _, stream := range []string{shopify.StreamCustomers, shopify.StreamOrders} {
		b.Run(stream, func(b *testing.B) {
			h := newHub(b, hubOptions{})
			shop := shopifytest.New(b, shopifytest.Options{})
			cs := shopifytest.Generate(b.N, start)
			if stream == shopify.StreamOrders {
				orders := shopifytest.GenerateOrders(b.N, start, cs[:min(len(cs), 1000)])
				for i := range orders {
					orders[i].LineItems = orders[i].LineItems[:min(3, len(orders[i].LineItems))]
				}
				shop.PutOrders(orders...)
			} else {
				shop.Put(cs...)
			}
			bf := newBackfiller(b, h, shop, "").backfill(b, stream, shopify.BackfillConfig{})
			var completed time.Time
			b.ResetTimer()
			got, err := bf.Run(context.Background(), func(p shopify.BulkProgress) {
				if p.Status == shopify.BulkCompleted && completed.IsZero() {
					completed = time.Now()
				}
			})
			elapsed := time.Since(completed)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if got.Records != b.N {
				b.Fatalf("landed %d %s, want %d", got.Records, stream, b.N)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
		})
	}
}
