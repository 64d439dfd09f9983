package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// testConfig is the rule set the incremental tests run with.
func testConfig() Config {
	return Config{Email: true, Phone: true,
		Fuzzy: []FuzzyRule{{Fields: []string{"name", "birthday", "address", "email", "phone"}, Threshold: 0.95}}}
}

// hashGroups hashes a clustering given as groups of record keys: the same
// clusters give the same hash whatever the profile ids and orders.
func hashGroups(groups [][]string) string {
	lines := make([]string, 0, len(groups))
	for _, g := range groups {
		g = slices.Clone(g)
		slices.Sort(g)
		lines = append(lines, strings.Join(g, ","))
	}
	sort.Strings(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(sum[:8])
}

func batchHash(recs []Record, cfg Config, splits []Split, links []Link) string {
	groups := Resolve(recs, cfg, splits, links)
	out := make([][]string, len(groups))
	for i, g := range groups {
		for _, j := range g {
			out[i] = append(out[i], recs[j].Key().String())
		}
	}
	return hashGroups(out)
}

// storeGroups reads the clusters from the identities table.
func storeGroups(t testing.TB, s *store.Store) map[string][]string {
	t.Helper()
	rows, err := s.ReadDB().QueryContext(context.Background(), `SELECT source, external_id, customer_id FROM identities`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	groups := map[string][]string{}
	for rows.Next() {
		var src, id, c string
		if err := rows.Scan(&src, &id, &c); err != nil {
			t.Fatal(err)
		}
		groups[c] = append(groups[c], src+":"+id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return groups
}

func storeHash(t testing.TB, s *store.Store) string {
	var out [][]string
	for _, g := range storeGroups(t, s) {
		out = append(out, g)
	}
	return hashGroups(out)
}

func applyAll(t testing.TB, s *store.Store, res *Resolver, recs []Record) {
	t.Helper()
	ctx := context.Background()
	for _, r := range recs {
		err := s.InTx(ctx, func(tx *store.Tx) error {
			_, err := res.Apply(ctx, tx, r)
			return err
		}, store.Relaxed())
		if err != nil {
			t.Fatalf("apply %s: %v", r.Key(), err)
		}
	}
}

// TestArrivalOrderDoesNotMatter applies the same records in 100 random
// orders and compares the clusters with each other and with Resolve.
func TestArrivalOrderDoesNotMatter(t *testing.T) {
	recs := synthetic(7, 40)
	cfg := testConfig()
	want := batchHash(recs, cfg, nil, nil)
	groups := Resolve(recs, cfg, nil, nil)
	multi := 0
	for _, g := range groups {
		if len(g) > 1 {
			multi++
		}
	}
	if multi < 15 {
		t.Fatalf("the synthetic set should have many multi-record profiles, got %d", multi)
	}
	orders := 100
	if testing.Short() {
		orders = 10
	}
	for i := range orders {
		rng := rand.New(rand.NewPCG(uint64(i), 1))
		shuffled := slices.Clone(recs)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		s := storetest.SQLite(t)
		applyAll(t, s, NewResolver(cfg), shuffled)
		if got := storeHash(t, s); got != want {
			t.Fatalf("order %d: clusters %s, want %s (batch)", i, got, want)
		}
		s.Close()
	}
}

// supersededFeed returns recs as version 2 in a random order, every
// nth of them preceded somewhere by a version 1 under another name.
func supersededFeed(rng *rand.Rand, recs []Record, every int) []Record {
	var feed []Record
	for j, r := range recs {
		r.Version = "2"
		if j%every == 0 {
			early := r
			early.Version = "1"
			early.Fields = map[string][]string{"first_name": {"Someone"}, "last_name": {"Else"}}
			feed = append(feed, early)
		}
		feed = append(feed, r)
	}
	rng.Shuffle(len(feed), func(a, b int) { feed[a], feed[b] = feed[b], feed[a] })
	return feed
}

// TestApplyBatchMatchesResolve feeds the records in random orders and
// random batch sizes, with every fifth record sent twice (once before its
// final version, with another name), and compares the clusters with
// Resolve on the final versions.
func TestApplyBatchMatchesResolve(t *testing.T) {
	recs := synthetic(11, 40)
	cfg := testConfig()
	want := batchHash(recs, cfg, nil, nil)
	orders := 10
	if testing.Short() {
		orders = 3
	}
	ctx := context.Background()
	for i := range orders {
		rng := rand.New(rand.NewPCG(uint64(i), 2))
		feed := supersededFeed(rng, recs, 5)
		s := storetest.SQLite(t)
		res := NewResolver(cfg)
		for start := 0; start < len(feed); {
			n := 1 + rng.IntN(40)
			chunk := feed[start:min(start+n, len(feed))]
			err := s.InTx(ctx, func(tx *store.Tx) error {
				_, err := res.ApplyBatch(ctx, tx, chunk)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			start += len(chunk)
		}
		if got := storeHash(t, s); got != want {
			t.Fatalf("order %d: clusters %s, want %s (batch)", i, got, want)
		}
		s.Close()
	}
}
