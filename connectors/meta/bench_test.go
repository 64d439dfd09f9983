package meta_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/crmhub/crmhub/connectors/meta"
)

// BenchmarkLeadDeliveries measures leadgen webhooks end to end: 16
// senders, each delivery naming one new lead, verified, the lead read
// from the fake Graph API over HTTP, landed durably on SQLite, answered.
//
//	go test -run '^$' -bench LeadDeliveries -benchtime 5000x ./connectors/meta/
func BenchmarkLeadDeliveries(b *testing.B) {
	p := newPages(b)
	var next atomic.Int64
	b.SetParallelism(8) // 16 senders on two cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprint(1296000000000000000 + next.Add(1))
			p.graph.AddLead(id, lead(id, "lead"+id+"@example.com", "+97150"+id[len(id)-7:], "Lead "+id))
			body := notification(pageID, id)
			req, err := http.NewRequest(http.MethodPost, p.url+"/webhooks/meta/leads", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(meta.HeaderSignature, meta.Sign(appSecret, body))
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			if err != nil {
				b.Error(err) // Fatal must not be called from this goroutine
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
	b.StopTimer()
	if n := len(p.landed(b)); n != b.N && !b.Failed() {
		b.Fatalf("%d leads landed of %d", n, b.N)
	}
}
