package identity

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

// TestPreparedAheadMatchesResolve prepares each chunk while the chunk
// before it is still to be applied, as the pipeline does, so that many
// comparisons are made with candidates that change or appear before the
// records are applied. The clusters must be those of Resolve.
func TestPreparedAheadMatchesResolve(t *testing.T) {
	recs := synthetic(17, 40)
	cfg := testConfig()
	want := batchHash(recs, cfg, nil, nil)
	ctx := context.Background()
	for i := range 4 {
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		feed := supersededFeed(rng, recs, 3)
		s := storetest.SQLite(t)
		res := NewResolver(cfg)
		require.NoError(t, res.Warm(ctx, s))
		var chunks [][]Record
		for start := 0; start < len(feed); {
			n := 2 + rng.IntN(20)
			chunks = append(chunks, feed[start:min(start+n, len(feed))])
			start += n
		}
		next, err := res.Prepare(chunks[0])
		require.NoError(t, err)
		for c := range chunks {
			cur := next
			if c+1 < len(chunks) {
				next, err = res.Prepare(chunks[c+1])
				require.NoError(t, err)
			}
			require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
				_, err := res.ApplyPrepared(ctx, tx, cur)
				return err
			}))
		}
		if got := storeHash(t, s); got != want {
			t.Fatalf("order %d: clusters %s, want %s", i, got, want)
		}
		s.Close()
	}
}

// TestStalePreparation changes a candidate between Prepare and
// ApplyPrepared: a match made with its old features must not merge, and a
// candidate that starts to match must.
func TestStalePreparation(t *testing.T) {
	ctx := context.Background()
	sara := map[string][]string{"first_name": {"Sara"}, "last_name": {"Haddad"}, "birthday": {"1990-04-12"},
		"address.city": {"Dubai"}, "address.line1": {"12 Palm Street"}}
	omar := map[string][]string{"first_name": {"Omar"}, "last_name": {"Karimi"}, "birthday": {"1971-09-30"},
		"address.city": {"London"}, "address.line1": {"4 Baker Road"}}
	// Another Sara of Dubai shares a blocking key with the first, but
	// is someone else.
	sara2 := map[string][]string{"first_name": {"Sara"}, "last_name": {"Mansour"}, "birthday": {"1993-07-21"},
		"address.city": {"Dubai"}, "address.line1": {"7 Creek Lane"}}
	other := Record{Source: "leads", ExternalID: "x", Fields: map[string][]string{"first_name": {"Noor"},
		"last_name": {"Saleh"}, "emails": {"noor@example.com"}}}
	tests := []struct {
		name          string
		before, after map[string][]string
		merged        bool
	}{
		{"a match that no longer holds", sara, sara2, false},
		{"a candidate that starts to match", omar, sara, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := storetest.SQLite(t)
			res := NewResolver(testConfig())
			a := Record{Source: "shop", ExternalID: "1", Version: "1", Fields: tt.before}
			b := Record{Source: "erp", ExternalID: "1", Fields: sara}
			require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
				_, err := res.Apply(ctx, tx, a)
				return err
			}))
			ps, err := res.Prepare([]Record{b, other})
			require.NoError(t, err)
			matched := false
			for _, v := range ps[0].pre {
				matched = matched || v.ok
			}
			require.Equal(t, !tt.merged, matched, "what Prepare compared with the stored record")

			a.Version, a.Fields = "2", tt.after
			var outs []Outcome
			require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
				if _, err := res.Apply(ctx, tx, a); err != nil {
					return err
				}
				outs, err = res.ApplyPrepared(ctx, tx, ps)
				return err
			}))
			groups := storeGroups(t, s)
			require.Len(t, groups[outs[0].CustomerID], map[bool]int{true: 2, false: 1}[tt.merged])
		})
	}
}

// TestPreparedComparisonsAreUsed checks that comparisons made by Prepare
// with an unchanged match index hold for the batch's candidates, and that
// candidates every record ruled out are not even decoded again: that is
// what spares the unit of work.
func TestPreparedComparisonsAreUsed(t *testing.T) {
	ctx := context.Background()
	s := storetest.SQLite(t)
	res := NewResolver(testConfig())
	recs := synthetic(23, 60)
	applyAll(t, s, res, recs[:len(recs)/2])
	// A copy of a stored record under another id matches it.
	dup := recs[1]
	dup.Source, dup.ExternalID = "other", "dup"
	ps, err := res.Prepare(append([]Record{dup}, recs[len(recs)/2:]...))
	require.NoError(t, err)
	held, settled, compared := 0, 0, 0
	require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
		b, err := res.newBatch(ctx, tx, ps)
		if err != nil {
			return err
		}
		for i := range b.recs {
			for rid, v := range ps[i].pre {
				compared++
				switch n := b.nodes[rid]; {
				case n == nil:
					require.False(t, v.ok, "a candidate that matches must be read")
					settled++
				case v.holds(n):
					held++
				default:
					t.Errorf("record %d: the comparison with candidate %d does not hold", i, rid)
				}
			}
		}
		return nil
	}))
	require.NotZero(t, held, "no comparison was used")
	require.NotZero(t, settled, "every candidate was decoded again")
	require.Equal(t, compared, held+settled)
}
