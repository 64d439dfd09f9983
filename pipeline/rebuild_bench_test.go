package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/crmhub/crmhub/internal/cpusteal"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/pipeline/identity"
	"github.com/crmhub/crmhub/store"
)

const benchMapping = `entity: customer
id: id
version: updated_at
fields:
  email: {from: email, transform: email}
  phone: {from: phone, transform: phone}
  first_name: first_name
  last_name: last_name
  birthday: {from: dob, transform: "date(2006-01-02)"}
  address.line1: street
  address.city: city
  address.postal_code: zip
`

// BenchmarkRebuildFromRaw measures crmhub rebuild: mapping the newest
// version of every customer record in the raw landing table and resolving
// them into profiles from scratch. CRMHUB_BENCH_PROFILES records (default
// 100,000) are landed first, untimed; one person in ten has a second
// record with a typo, a missing field or swapped names. Run with
// -benchtime 1x.
func BenchmarkRebuildFromRaw(b *testing.B) {
	n := 100_000
	if s := os.Getenv("CRMHUB_BENCH_PROFILES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{Driver: store.DriverSQLite, DSN: filepath.Join(b.TempDir(), "bench.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	landRaw(b, s, n)
	rules, err := mapping.Parse("bench.yaml", []byte(benchMapping))
	if err != nil {
		b.Fatal(err)
	}
	st := pipeline.NewStages(s, map[string]pipeline.MapSource{
		"shop": {Rules: rules, Source: identity.Source{Name: "shop", Type: "file", DefaultRegion: "AE"}},
		"erp":  {Rules: rules, Source: identity.Source{Name: "erp", Type: "file", DefaultRegion: "AE"}},
	}, nil, nil)
	res := identity.NewResolver(identity.Config{Email: true, Phone: true, Fuzzy: []identity.FuzzyRule{
		{Fields: []string{"name", "birthday", "address", "email", "phone"}, Threshold: 0.95}}})
	steal := cpusteal.Read()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		recs, failed, err := st.RawCustomers(ctx)
		if err != nil {
			b.Fatal(err)
		}
		mapped := time.Since(start)
		rep, err := res.Rebuild(ctx, s, recs, false)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%d raw records: mapped in %v (%d failed), resolved and written in %v; %d profiles", n,
			mapped.Round(time.Second), failed, (time.Since(start) - mapped).Round(time.Second), rep.ProfilesAfter)
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
	if pct, ok := cpusteal.Percent(steal, cpusteal.Read()); ok {
		b.ReportMetric(pct, "steal%")
	}
}

// landRaw lands n customer records as a shop and an ERP would send them.
func landRaw(b *testing.B, s *store.Store, n int) {
	b.Helper()
	rng := rand.New(rand.NewPCG(7, 42))
	syll := []string{"ka", "ri", "mo", "sa", "na", "le", "ta", "bo", "mi", "ra", "da", "lu", "fe", "zo", "ha", "ne",
		"si", "ya", "go", "ve", "an", "el", "or", "is"}
	word := func(parts int) string {
		w := ""
		for range parts {
			w += syll[rng.IntN(len(syll))]
		}
		return w
	}
	firsts, lasts, cities := make([]string, 3000), make([]string, 30000), make([]string, 300)
	for i := range firsts {
		firsts[i] = word(2 + i%2)
	}
	for i := range lasts {
		lasts[i] = word(3 + i%2)
	}
	for i := range cities {
		cities[i] = word(3) + " city"
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	batch := make([]store.RawRecord, 0, 5000)
	flush := func() {
		if err := s.InTx(context.Background(), func(tx *store.Tx) error {
			_, err := tx.InsertRaw(context.Background(), batch)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	add := func(source, id string, rec map[string]string) {
		payload, _ := json.Marshal(rec)
		batch = append(batch, store.RawRecord{Source: source, Entity: "customer", ExternalID: id,
			Version: rec["updated_at"], Payload: payload, ReceivedAt: at})
		if len(batch) == cap(batch) {
			flush()
		}
	}
	for p, count := 0, 0; count < n; p++ {
		first := firsts[int(float64(len(firsts))*rng.Float64()*rng.Float64())]
		last := lasts[int(float64(len(lasts))*rng.Float64()*rng.Float64())]
		rec := map[string]string{"id": strconv.Itoa(p), "first_name": first, "last_name": last,
			"email": fmt.Sprintf("%s.%s.%d@example.com", first, last, p), "phone": fmt.Sprintf("+9715%08d", p),
			"dob":  fmt.Sprintf("%d-%02d-%02d", 1940+rng.IntN(70), 1+rng.IntN(12), 1+rng.IntN(28)),
			"city": cities[int(float64(len(cities))*rng.Float64()*rng.Float64())], "zip": strconv.Itoa(10000 + rng.IntN(5000)),
			"street": fmt.Sprintf("%d %s street", 1+rng.IntN(300), word(2)), "updated_at": at.Format(time.RFC3339)}
		add("shop", rec["id"], rec)
		count++
		if p%10 == 0 && count < n {
			dup := map[string]string{}
			for k, v := range rec {
				dup[k] = v
			}
			dup["id"] = "E" + rec["id"]
			switch rng.IntN(3) {
			case 0:
				dup["first_name"] = first[:len(first)-1]
			case 1:
				delete(dup, "email")
			case 2:
				dup["first_name"], dup["last_name"] = last, first
				delete(dup, "phone")
			}
			add("erp", dup["id"], dup)
			count++
		}
	}
	if len(batch) > 0 {
		flush()
	}
}
