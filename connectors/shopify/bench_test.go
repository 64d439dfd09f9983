package shopify_test

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkWebhookDeliveries posts signed customers/update deliveries over
// HTTP, 16 at a time as Shopify does for a busy shop, to the receiver on a
// SQLite store with the SQLite bus: each is verified, landed and published
// with a durable commit before its 200. It reports deliveries per second
// and the 99th percentile of the time to the answer.
//
//	go test -run '^$' -bench WebhookDeliveries -benchtime 20000x ./connectors/shopify/
func BenchmarkWebhookDeliveries(b *testing.B) {
	h := newHub(b, hubOptions{})
	const senders = 16
	ds := make([]delivery, b.N)
	for i := range ds {
		body := fmt.Appendf(nil, `{"id":%d,"email":"bench%d@example.com","first_name":"Sara","last_name":"Al Amiri",`+
			`"phone":"+971501234567","tags":"vip, newsletter","updated_at":"2026-03-01T10:00:00+04:00",`+
			`"default_address":{"address1":"12 Marina Walk","city":"Dubai","country_code":"AE","zip":""}}`,
			7039114952811000000+i, i)
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
