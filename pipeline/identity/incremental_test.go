package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

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

// TestUpdateThatChangesNoMatchFieldKeepsTheRecord applies a second version
// of a customer that differs only in what identity resolution does not
// compare (tags, the version), as Shopify sends after a write of tags, one
// record at a time and in a batch: the record must stay in its profile.
func TestUpdateThatChangesNoMatchFieldKeepsTheRecord(t *testing.T) {
	v1 := Record{Source: "shop", ExternalID: "7001", Version: "2026-03-01T10:00:00Z", Fields: map[string][]string{
		"first_name": {"Sara"}, "last_name": {"Al Amiri"}, "emails": {"sara@example.com"}, "tags": {"vip"}}}
	other := Record{Source: "erp", ExternalID: "E-9", Version: "1", Fields: map[string][]string{
		"first_name": {"Sara"}, "last_name": {"Al Amiri"}, "emails": {"sara@example.com"}}}
	v2 := v1
	v2.Version = "2026-03-01T10:05:00Z"
	v2.Fields = maps.Clone(v1.Fields)
	v2.Fields["tags"] = []string{"vip", "crmhub:segment-champions"}
	ctx := context.Background()
	for _, path := range []string{"apply", "batch"} {
		t.Run(path, func(t *testing.T) {
			s := storetest.SQLite(t)
			res := NewResolver(testConfig())
			for _, r := range []Record{v1, other, v2} {
				err := s.InTx(ctx, func(tx *store.Tx) error {
					var err error
					if path == "apply" {
						_, err = res.Apply(ctx, tx, r)
					} else {
						// With a record of someone else: a batch of one is
						// applied as by Apply.
						_, err = res.ApplyBatch(ctx, tx, []Record{r, stranger(r)})
					}
					return err
				})
				require.NoError(t, err)
			}
			groups := storeGroups(t, s)
			checked := 0
			for id, members := range groups {
				if strings.HasPrefix(members[0], "other:") {
					continue
				}
				checked++
				require.ElementsMatch(t, []string{"shop:7001", "erp:E-9"}, members)
				c, err := s.Customer(ctx, id)
				require.NoError(t, err)
				require.Len(t, c.Identities, 2, "the profile lists both records")
				require.Contains(t, c.Tags, "crmhub:segment-champions", "the profile has the new version")
			}
			require.Equal(t, 1, checked, "one profile of Sara")
		})
	}
}

// stranger returns a record of a person no other test record resembles.
func stranger(r Record) Record {
	id := r.Source + "-" + r.ExternalID + "-" + r.Version
	return Record{Source: "other", ExternalID: id, Fields: map[string][]string{
		"first_name": {"Zed"}, "last_name": {"Quill" + id}, "emails": {id + "@elsewhere.example"}}}
}
