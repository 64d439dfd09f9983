package identity

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

func TestMemIndexKeys(t *testing.T) {
	m := newMemIndex()
	m.keys = map[int64]int64{}
	steps := []struct {
		op      string
		key     int64
		rid     int64
		changed bool
		want    []int64 // members of key after the step
	}{
		{"add", 7, 5, true, []int64{5}},
		{"add", 7, 5, false, []int64{5}},
		{"add", 7, 2, true, []int64{2, 5}},
		{"add", 7, 9, true, []int64{2, 5, 9}},
		{"add", 7, 3, true, []int64{2, 3, 5, 9}},
		{"remove", 7, 4, false, []int64{2, 3, 5, 9}},
		{"remove", 7, 2, true, []int64{3, 5, 9}},
		{"remove", 7, 9, true, []int64{3, 5}},
		{"remove", 7, 3, true, []int64{5}},
		{"remove", 7, 5, true, nil},
		{"remove", 7, 5, false, nil},
		{"add", -8, 1, true, []int64{1}},
		{"remove", -8, 2, false, []int64{1}},
		{"add", -8, 4, true, []int64{1, 4}},
	}
	for i, st := range steps {
		var changed bool
		if st.op == "add" {
			changed = m.insert(st.key, st.rid)
		} else {
			changed = m.remove(st.key, st.rid)
		}
		require.Equal(t, st.changed, changed, "step %d", i)
		require.Equal(t, st.want, m.members([]int64{st.key}, 100)[st.key], "step %d", i)
	}
	require.Len(t, m.lists.loc, 1, "a list number freed by the first key was reused by the second")
	m.insert(-8, 2)
	require.Equal(t, []int64{1, 2}, m.members([]int64{-8}, 2)[-8], "at most limit members, the lowest numbers")
}

// snapshot returns what a memIndex holds, for comparing two of them.
func (m *memIndex) snapshot() (map[int64][]int64, map[int64]string) {
	keys := map[int64][]int64{}
	for k := range m.keys {
		keys[k] = m.members([]int64{k}, 1<<30)[k]
	}
	recs := map[int64]string{}
	for rid := range m.recs.len() {
		if r := m.rec(rid); r != "" {
			recs[rid] = r
		}
	}
	return keys, recs
}

// TestMemIndexFollowsTheStore checks that the index a resolver keeps while
// it writes is the index a fresh process loads from the store, also after
// units of work that rolled back.
func TestMemIndexFollowsTheStore(t *testing.T) {
	ctx := context.Background()
	s := storetest.SQLite(t)
	recs := synthetic(11, 60)
	res := NewResolver(testConfig())
	for i := 0; i < len(recs); i += 25 {
		chunk := recs[i:min(i+25, len(recs))]
		require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
			_, err := res.ApplyBatch(ctx, tx, chunk)
			return err
		}))
		// A unit of work that fails after resolving leaves no trace.
		err := s.InTx(ctx, func(tx *store.Tx) error {
			if _, err := res.ApplyBatch(ctx, tx, synthetic(uint64(100+i), 10)); err != nil {
				return err
			}
			_, err := res.Apply(ctx, tx, recs[0])
			return errors.Join(err, errors.New("roll back"))
		})
		require.ErrorContains(t, err, "roll back")
	}
	// An update that changes a record's keys.
	upd := recs[3]
	upd.Fields = maps.Clone(upd.Fields)
	upd.Fields["last_name"] = []string{"Changedname"}
	upd.Fields["emails"] = []string{"changed@example.org"}
	require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
		_, err := res.Apply(ctx, tx, upd)
		return err
	}))

	var kept, loaded *memIndex
	require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
		var err error
		kept, err = res.memIndexOf(ctx, tx)
		return err
	}))
	fresh := NewResolver(testConfig())
	require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
		var err error
		loaded, err = fresh.memIndexOf(ctx, tx)
		return err
	}))
	keptKeys, keptRecs := kept.snapshot()
	loadedKeys, loadedRecs := loaded.snapshot()
	require.Equal(t, loadedRecs, keptRecs)
	require.Equal(t, loadedKeys, keptKeys)
	require.Equal(t, kept.state, loaded.state)
	require.Equal(t, 1, kept.loads, "rolled-back units of work were undone in place, not by loading again")
	require.Len(t, loadedRecs, len(recs))
}

// TestMemIndexSeesOtherProcesses checks that a change made through another
// resolver (another process on the same file) makes the index load again.
func TestMemIndexSeesOtherProcesses(t *testing.T) {
	ctx := context.Background()
	s := storetest.SQLite(t)
	server, cli := NewResolver(testConfig()), NewResolver(testConfig())
	apply := func(r *Resolver, rec Record) Outcome {
		var o Outcome
		require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
			var err error
			o, err = r.Apply(ctx, tx, rec)
			return err
		}))
		return o
	}
	a := Record{Source: "shop", ExternalID: "1", Fields: map[string][]string{"first_name": {"Sara"}, "emails": {"sara@example.com"}}}
	b := Record{Source: "erp", ExternalID: "C-1", Fields: map[string][]string{"first_name": {"Sara"}, "emails": {"sara@example.com"}}}
	c := Record{Source: "leads", ExternalID: "L-1", Fields: map[string][]string{"first_name": {"Omar"}, "phones": {"+971501234567"}}}
	apply(server, c) // the server's index is loaded
	oa := apply(cli, a)
	ob := apply(server, b)
	require.Equal(t, oa.CustomerID, ob.CustomerID, "the server found the record another process wrote")

	// The same resolver on another store never takes one index for the
	// other's.
	other := storetest.SQLite(t)
	require.NoError(t, other.InTx(ctx, func(tx *store.Tx) error {
		o, err := server.Apply(ctx, tx, b)
		require.Len(t, o.Merges, 0)
		return err
	}))
	var recs map[int64]string
	require.NoError(t, other.InTx(ctx, func(tx *store.Tx) error {
		m, err := server.memIndexOf(ctx, tx)
		_, recs = m.snapshot()
		return err
	}))
	require.Len(t, recs, 1)
	require.Equal(t, []int64{1}, slices.Collect(maps.Keys(recs)))
}

func TestMemIndexRecordEncoding(t *testing.T) {
	r := Record{Source: "shop", ExternalID: "1", Fields: map[string][]string{"first_name": {"Sara"}, "emails": {"a@b.co", "c@d.co"}}}
	feat := featuresOf(&r).encode()
	for _, key := range []store.RecordKey{
		{Source: "shop", ExternalID: "7039114952811"},
		{Source: "erp", ExternalID: "id\x1ewith\x1fseparators\x00"},
		{Source: "", ExternalID: ""},
		{Source: strings.Repeat("s", 300), ExternalID: strings.Repeat("é", 200)},
	} {
		f, ok := decodeRec(encodeRec(key, feat))
		require.True(t, ok)
		require.Equal(t, Key(key), f.key)
		require.Equal(t, []string{"a@b.co", "c@d.co"}, f.emails)
	}
	for _, bad := range []string{"", "\xff", "\x05\x05abc"} {
		_, ok := decodeRec(bad)
		require.False(t, ok, "%q", bad)
	}
}

// TestWarmLoadsOutsideUnitsOfWork checks that a warmed index serves the
// first unit of work without loading again.
func TestWarmLoadsOutsideUnitsOfWork(t *testing.T) {
	ctx := context.Background()
	s := storetest.SQLite(t)
	seed := NewResolver(testConfig())
	recs := synthetic(12, 30)
	require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
		_, err := seed.ApplyBatch(ctx, tx, recs)
		return err
	}))
	res := NewResolver(testConfig())
	require.NoError(t, res.Warm(ctx, s))
	require.Equal(t, 1, res.mem.loads)
	require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
		_, err := res.ApplyBatch(ctx, tx, synthetic(13, 10))
		return err
	}))
	require.Equal(t, 1, res.mem.loads, "the first unit of work used the warmed index")
	_, recsHeld := res.mem.snapshot()
	require.Len(t, recsHeld, len(recs)+10)
}

func TestMemIndexDecodedCache(t *testing.T) {
	m := newMemIndex()
	key := store.RecordKey{Source: "shop", ExternalID: "1"}
	a := Record{Source: "shop", ExternalID: "1", Fields: map[string][]string{"first_name": {"Sara"}}}
	b := Record{Source: "shop", ExternalID: "1", Fields: map[string][]string{"first_name": {"Omar"}}}
	m.setRec(1, encodeRec(key, featuresOf(&a).encode()))
	f, enc, ok := m.features(1)
	require.True(t, ok)
	require.Equal(t, "sara", f.first.key)
	require.Equal(t, m.rec(1), enc)
	f.constrained = true
	again, _, _ := m.features(1)
	require.False(t, again.constrained, "each caller gets its own copy")
	require.Len(t, m.decoded, 1, "the second read came from the cache")

	m.setRec(1, encodeRec(key, featuresOf(&b).encode()))
	f, _, ok = m.features(1)
	require.True(t, ok)
	require.Equal(t, "omar", f.first.key, "a rewritten record is decoded again")
	_, _, ok = m.features(2)
	require.False(t, ok)
}
