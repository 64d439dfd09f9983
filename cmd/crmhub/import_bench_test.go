package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkImport measures crmhub import of a FEBRL-shaped CSV file into a
// fresh SQLite store: reading, mapping, landing and publishing each record.
//
//	go test -run '^$' -bench Import -benchtime 100000x ./cmd/crmhub/
func BenchmarkImport(b *testing.B) {
	dir := b.TempDir()
	var csv bytes.Buffer
	csv.WriteString("rec_id, given_name, surname, street_number, address_1, suburb, postcode, date_of_birth\n")
	for i := range b.N {
		fmt.Fprintf(&csv, "rec-%d-org, michaela, neumann, %d, stanley street, miami, 0%d, 19151111\n", i, i%300, 4000+i%900)
	}
	path := filepath.Join(dir, "febrl.csv")
	if err := os.WriteFile(path, csv.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "legacy.yaml"), []byte(`entity: customer
id: rec_id
fields:
  first_name: {from: given_name, transform: name}
  last_name: {from: surname, transform: name}
  address.line1: {from: [street_number, address_1], transform: "join( )"}
  address.city: suburb
  address.postal_code: postcode
  birthday: {from: date_of_birth, transform: "date(20060102)"}
`), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(cfg, []byte("store: {driver: sqlite, dsn: crmhub.db}\nsources:\n  - {name: legacy, type: file, mapping: legacy.yaml}\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	var out, errOut bytes.Buffer
	g := &globals{configPath: cfg, stdout: &out, stderr: &errOut}
	b.ResetTimer()
	if err := g.runImport(b.Context(), "legacy", path); err != nil {
		b.Fatal(err, errOut.String())
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
