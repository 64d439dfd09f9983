package mapping_test

import (
	"os"
	"testing"

	"github.com/crmhub/crmhub/mapping"
)

// BenchmarkApply measures mapping a Shopify customer payload (email, phone,
// names, address, tags, timestamps) into canonical fields:
//
//	go test -run '^$' -bench Apply ./mapping/
func BenchmarkApply(b *testing.B) {
	rules, err := mapping.Load("testdata/shopify_customer/mapping.yaml")
	if err != nil {
		b.Fatal(err)
	}
	payload, err := os.ReadFile("testdata/shopify_customer/webhook.input.json")
	if err != nil {
		b.Fatal(err)
	}
	opts := mapping.Options{DefaultRegion: "AE"}
	b.ReportAllocs()
	for b.Loop() {
		rec, err := mapping.JSONRecord(payload)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := rules.Apply(rec, opts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
