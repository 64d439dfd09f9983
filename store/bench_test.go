package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

// benchBatch is how many records one unit of work writes: the size a
// pipeline stage batches to.
const benchBatch = 1000

// benchCustomer makes a realistic profile: an email, a phone, an identity,
// an address and a few attributes.
func benchCustomer(id string, seq string, i int) crmhub.Customer {
	email := fmt.Sprintf("customer%s-%d@example.com", seq, i)
	phone := fmt.Sprintf("+9715%08d", i)
	return crmhub.Customer{
		ID: id, Email: email, Emails: []string{email},
		Phone: phone, Phones: []string{phone}, FirstName: "Sara", LastName: "Al Amiri",
		Birthday:   crmhub.Date{Year: 1991, Month: 3, Day: 14},
		Addresses:  []crmhub.Address{{Line1: "12 Marina Walk", City: "Dubai", CountryCode: "AE"}},
		Identities: []crmhub.Identity{{Source: "main-store", Type: "shopify", ExternalID: fmt.Sprintf("70391149%s%011d", seq, i)}},
		Tags:       []string{"vip"}, Attributes: map[string]string{"tier": "gold"},
	}
}

// upsertBatches writes len(ids) profiles in units of work of benchBatch,
// building each batch with the timer stopped: a pipeline stage holds one
// batch at a time, not the whole data set.
func upsertBatches(b *testing.B, s *store.Store, ids []string, firstName string) {
	ctx := context.Background()
	batch := make([]crmhub.Customer, 0, benchBatch)
	for start := 0; start < len(ids); start += benchBatch {
		b.StopTimer()
		batch = batch[:0]
		for i := start; i < min(start+benchBatch, len(ids)); i++ {
			c := benchCustomer(ids[i], "c", i)
			c.FirstName = firstName
			batch = append(batch, c)
		}
		b.StartTimer()
		if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.UpsertCustomers(ctx, batch) }); err != nil {
			b.Fatal(err)
		}
	}
}

func newIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = crmhub.NewID(crmhub.CustomerIDPrefix)
	}
	return ids
}

// BenchmarkUpsertCustomers measures batched profile writes with the email,
// phone and identity index rows: "insert" creates new profiles, "update"
// rewrites existing ones. Run with a fixed count, e.g. -benchtime 100000x.
func BenchmarkUpsertCustomers(b *testing.B) {
	for _, driver := range storetest.Drivers {
		b.Run(driver+"/insert", func(b *testing.B) {
			s := storetest.Open(b, driver)
			ids := newIDs(b.N)
			b.ResetTimer()
			upsertBatches(b, s, ids, "Sara")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "customers/s")
		})
		b.Run(driver+"/update", func(b *testing.B) {
			s := storetest.Open(b, driver)
			ids := newIDs(b.N)
			upsertBatches(b, s, ids, "Sara")
			b.ResetTimer()
			upsertBatches(b, s, ids, "Sarah")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "customers/s")
		})
	}
}

// BenchmarkInsertRaw measures landing raw records of about 1 KiB, the size of
// a Shopify customer payload, in batches.
func BenchmarkInsertRaw(b *testing.B) {
	payload := make([]byte, 0, 1100)
	for len(payload) < 1000 {
		payload = append(payload, `{"id":7039114952811,"email":"sara@example.com","first_name":"Sara","tags":"vip"},`...)
	}
	for _, driver := range storetest.Drivers {
		b.Run(driver, func(b *testing.B) {
			s := storetest.Open(b, driver)
			recs := make([]store.RawRecord, b.N)
			for i := range recs {
				p := append(append([]byte{}, payload...), fmt.Sprint(i)...)
				recs[i] = store.RawRecord{Source: "main-store", Entity: "customer",
					ExternalID: fmt.Sprintf("70391149%011d", i), Version: "2026-10-28T18:41:03Z", Payload: p}
			}
			ctx := context.Background()
			b.ResetTimer()
			for start := 0; start < len(recs); start += benchBatch {
				batch := recs[start:min(start+benchBatch, len(recs))]
				if err := s.InTx(ctx, func(tx *store.Tx) error {
					_, err := tx.InsertRaw(ctx, batch)
					return err
				}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// exportBenchCustomers is the size of the store BenchmarkExportCustomers
// reads.
const exportBenchCustomers = 100_000

// BenchmarkExportCustomers measures EachCustomer over a store of
// exportBenchCustomers profiles, each with an identity: one iteration reads
// them all, decoded, in one read transaction. Writing the store comes
// before the timer starts.
func BenchmarkExportCustomers(b *testing.B) {
	for _, driver := range storetest.Drivers {
		b.Run(driver, func(b *testing.B) {
			s := storetest.Open(b, driver)
			upsertBatches(b, s, newIDs(exportBenchCustomers), "Sara")
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				n := 0
				if err := s.EachCustomer(ctx, store.ExportOptions{}, func(c crmhub.Customer) error {
					n++
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				if n != exportBenchCustomers {
					b.Fatalf("exported %d customers, want %d", n, exportBenchCustomers)
				}
			}
			b.ReportMetric(float64(exportBenchCustomers*b.N)/b.Elapsed().Seconds(), "customers/s")
		})
	}
}
