package shopify_test

import (
	"context"
	"testing"
	"time"

	"github.com/crmhub/crmhub/connectors/shopify/shopifytest"
)

// BenchmarkCustomerPull pulls b.N customers from the fake shop over HTTP
// (GraphQL pages of 250, a bucket large enough never to wait) into a
// SQLite store with the SQLite bus: each page is landed, published and
// checkpointed in one durable commit. It reports customers per second
// into the store; mapping and identity resolution are not included.
//
//	go test -run '^$' -bench CustomerPull -benchtime 20000x ./connectors/shopify/
func BenchmarkCustomerPull(b *testing.B) {
	h := newHub(b, hubOptions{})
	shop := shopifytest.New(b, shopifytest.Options{MaximumAvailable: 1e9, RestoreRate: 1e9})
	shop.Put(shopifytest.Generate(b.N, start)...)
	p := newPuller(b, h, shop, 250)
	b.ResetTimer()
	t0 := time.Now()
	got, err := p.pull.Run(context.Background(), nil)
	elapsed := time.Since(t0)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if got.Records != b.N {
		b.Fatalf("pulled %d customers, want %d", got.Records, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "customers/s")
}
