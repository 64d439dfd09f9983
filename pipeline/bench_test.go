package pipeline_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store/storetest"
)

// BenchmarkEndToEnd measures raw records per second from the ingest entry
// point, over the bus, through a stage that writes each record's profile and
// idempotency mark in its own unit of work, into the store. Run with
// -benchtime 20000x.
func BenchmarkEndToEnd(b *testing.B) {
	for _, driver := range storetest.Drivers {
		b.Run(driver, func(b *testing.B) {
			s := storetest.Open(b, driver)
			h := startBenchHarness(b, s, driver)
			ctx := context.Background()
			const batch = 100
			b.ResetTimer()
			for i := 0; i < b.N; i += batch {
				envs := make([]crmhub.Envelope, 0, batch)
				for j := i; j < min(i+batch, b.N); j++ {
					envs = append(envs, testEnvelope("bench", j, testRecord{Email: fmt.Sprintf("b%d@example.com", j)}))
				}
				if err := h.in.Ingest(ctx, envs, nil); err != nil {
					b.Fatal(err)
				}
			}
			for {
				c, err := s.Counts(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if c.Customers >= int64(b.N) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
