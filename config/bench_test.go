package config

import "testing"

func BenchmarkParseExample(b *testing.B) {
	data := Example()
	for b.Loop() {
		if _, err := Parse("crmhub.yaml", data, nil); err != nil {
			b.Fatal(err)
		}
	}
}
