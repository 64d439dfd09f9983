package identity

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/crmhub/crmhub/store"
)

// memIndex is the match index of an embedded SQLite store, held in
// memory: the records that hold each match key, and each record's key and
// match features. It is derived from identity_records when a process first
// needs it and then follows the writes of identity resolution, so SQLite
// writes no key rows and reads no candidate rows: those were a dozen
// random B-tree writes and as many reads per record.
//
// One process owns an embedded store, but a CLI command may change it next
// to the server. Every change bumps the store's generation in the same
// transaction; a generation other than the one the index reflects makes
// it load again. Changes are made in place as the transaction runs and
// undone if it rolls back, since SQLite has one writer at a time.
//
// Memory is about 540 bytes per record (a million records with twelve
// keys each: 516 MiB), most of it the key map.
type memIndex struct {
	mu     sync.Mutex
	state  store.IdentityState
	loaded bool
	// keys holds a single record number (> 0) inline, or -(i+1) for list
	// i of lists, kept in ascending order like the SQL index returns.
	keys  map[int64]int64
	lists listSlab
	// recs holds, by record number, the record key and encoded features
	// as encodeRec writes them; "" for a number not in use.
	recs recArena
	// loads counts how often the index was derived from the store.
	loads int
	// decoded caches features decoded from recs, up to decodedCache.
	decoded map[int64]*features
}

// encodeRec packs a record key and its encoded features into one string:
// the lengths of source and external id as uvarints, then the three. Ids
// come from outside and may hold any byte, so no separator would do.
func encodeRec(key store.RecordKey, feat string) string {
	b := make([]byte, 0, 4+len(key.Source)+len(key.ExternalID)+len(feat))
	b = binary.AppendUvarint(b, uint64(len(key.Source)))
	b = binary.AppendUvarint(b, uint64(len(key.ExternalID)))
	b = append(b, key.Source...)
	b = append(b, key.ExternalID...)
	b = append(b, feat...)
	return string(b)
}

// decodeRec reads an entry of memIndex.recs.
func decodeRec(rec string) (*features, bool) {
	key, feat, ok := splitRec(rec)
	if !ok {
		return nil, false
	}
	return decodeFeatures(feat, key)
}

// splitRec cuts an entry of memIndex.recs into record key and encoded
// features.
func splitRec(rec string) (Key, string, bool) {
	ls, n := binary.Uvarint([]byte(rec[:min(len(rec), binary.MaxVarintLen64)]))
	if n <= 0 {
		return Key{}, "", false
	}
	rec = rec[n:]
	li, n := binary.Uvarint([]byte(rec[:min(len(rec), binary.MaxVarintLen64)]))
	if n <= 0 || uint64(len(rec)-n) < ls+li {
		return Key{}, "", false
	}
	rec = rec[n:]
	return Key{Source: rec[:ls], ExternalID: rec[ls : ls+li]}, rec[ls+li:], true
}

func newMemIndex() *memIndex { return &memIndex{} }

// memIndexOf returns the resolver's in-memory index for tx's store,
// current as of tx, or nil when the store keeps match keys in SQL.
func (s *Resolver) memIndexOf(ctx context.Context, tx *store.Tx) (*memIndex, error) {
	if tx.Driver() != store.DriverSQLite {
		return nil, nil
	}
	return s.mem.current(ctx, tx, tx, s.r.blocked)
}

// Warm loads the match index of an embedded store in a read transaction
// of its own, so that the first unit of work that resolves records does
// not pay for it (a million records take seconds). It does nothing on
// PostgreSQL.
func (s *Resolver) Warm(ctx context.Context, st *store.Store) error {
	if st.Driver() != store.DriverSQLite {
		return nil
	}
	return st.InReadTx(ctx, func(rtx *store.ReadTx) error {
		_, err := s.mem.current(ctx, rtx, nil, s.r.blocked)
		return err
	})
}

// indexSource is what loading a match index reads; units of work and
// read transactions both have it.
type indexSource interface {
	IdentityState(ctx context.Context) (store.IdentityState, error)
	MaxIdentityRID(ctx context.Context) (int64, error)
	EachIdentityFeature(ctx context.Context, fn func(rid int64, key store.RecordKey, feat string) error) error
}

// current returns m loaded and current as of src. When src is the unit of
// work tx, a load saw what tx wrote so far, and is forgotten if tx does
// not commit.
func (m *memIndex) current(ctx context.Context, src indexSource, tx *store.Tx, blocked blockedSet) (*memIndex, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, err := src.IdentityState(ctx)
	if err != nil {
		return nil, err
	}
	if m.loaded && st == m.state {
		return m, nil
	}
	if err := m.load(ctx, src, blocked); err != nil {
		m.loaded = false
		return nil, err
	}
	m.state, m.loaded = st, true
	m.loads++
	if tx != nil {
		tx.OnRollback(func() {
			m.mu.Lock()
			m.loaded = false
			m.mu.Unlock()
		})
	}
	return m, nil
}

// load derives the index from the stored records, computing keys on all
// cores a page at a time.
func (m *memIndex) load(ctx context.Context, tx indexSource, blocked blockedSet) error {
	// Sized up front: growing a map of millions of keys step by step
	// costs more than filling it. Records have about eight distinct keys
	// each that no other record has.
	maxRID, err := tx.MaxIdentityRID(ctx)
	if err != nil {
		return err
	}
	m.keys, m.lists = make(map[int64]int64, 8*maxRID), listSlab{}
	m.recs.reset(maxRID + 1)
	m.decoded = nil
	type row struct {
		rid  int64
		rec  string
		keys []int64
	}
	var page []row
	flush := func() error {
		errs := make([]error, len(page))
		parallel(len(page), func(i int) {
			r := &page[i]
			f, ok := decodeRec(r.rec)
			if !ok {
				errs[i] = fmt.Errorf("load match index: record %d has features in an encoding this version does not read; run crmhub rebuild", r.rid)
				return
			}
			r.keys = keyHashes(f, blocked)
		})
		for i, r := range page {
			if errs[i] != nil {
				return errs[i]
			}
			m.setRec(r.rid, r.rec)
			for _, k := range r.keys {
				m.insert(k, r.rid)
			}
		}
		page = page[:0]
		return nil
	}
	err = tx.EachIdentityFeature(ctx, func(rid int64, key store.RecordKey, feat string) error {
		page = append(page, row{rid: rid, rec: encodeRec(key, feat)})
		if len(page) == 20_000 {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// members returns up to limit record numbers per key, in ascending order.
func (m *memIndex) members(keys []int64, limit int) map[int64][]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[int64][]int64, len(keys))
	for _, k := range keys {
		v, ok := m.keys[k]
		switch {
		case !ok:
		case v > 0:
			out[k] = []int64{v}
		default:
			// Clipped, not copied: a caller that appends gets a new
			// array, and lists change only when a unit of work updates
			// the index, after its batch has read them.
			ms := m.lists.get(-v - 1)
			n := min(len(ms), limit)
			out[k] = ms[:n:n]
		}
	}
	return out
}

// features returns the stored record rid as a candidate: its key and
// features, without its profile, and its entry in recs, which says
// whether a comparison made earlier with the record still holds.
func (m *memIndex) features(rid int64) (*features, string, bool) {
	m.mu.Lock()
	rec := m.rec(rid)
	m.mu.Unlock()
	if rid <= 0 || rec == "" {
		return nil, "", false
	}
	f, ok := m.decode(rid, rec)
	if !ok {
		return nil, "", false
	}
	cp := *f // callers set constrained on their copy
	return &cp, rec, true
}

// decode returns the features of entry rec of record rid, from the cache
// when it holds them for that entry. The result is shared: read only.
func (m *memIndex) decode(rid int64, rec string) (*features, bool) {
	m.mu.Lock()
	if f, ok := m.decoded[rid]; ok && m.rec(rid) == rec {
		m.mu.Unlock()
		return f, true
	}
	m.mu.Unlock()
	// Decoded outside the lock: batches decode candidates on all cores.
	f, ok := decodeRec(rec)
	if !ok {
		return nil, false
	}
	m.mu.Lock()
	if m.rec(rid) == rec { // not rewritten meanwhile
		if len(m.decoded) >= decodedCache {
			clear(m.decoded)
		}
		if m.decoded == nil {
			m.decoded = map[int64]*features{}
		}
		m.decoded[rid] = f
	}
	m.mu.Unlock()
	return f, true
}

// candidates returns the entries of the records that hold the given keys,
// skipping keys held by more than max records, or nil when the index is
// not loaded. It reads the index as it is, current or not: Prepare uses
// it to compare ahead of a unit of work, which checks each comparison
// against the entry it was made with.
func (m *memIndex) candidates(keys []int64, max int) map[int64]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.loaded {
		return nil
	}
	out := make(map[int64]string, 2*len(keys))
	for _, k := range keys {
		v, ok := m.keys[k]
		switch {
		case !ok:
		case v > 0:
			out[v] = m.rec(v)
		case len(m.lists.get(-v-1)) <= max:
			for _, rid := range m.lists.get(-v - 1) {
				out[rid] = m.rec(rid)
			}
		}
	}
	delete(out, 0)
	for rid, rec := range out {
		if rec == "" {
			delete(out, rid)
		}
	}
	return out
}

// decodedCache bounds how many decoded candidates memIndex keeps: records
// with common names and places are candidates batch after batch.
const decodedCache = 1 << 17

// update records, as part of tx, that records were written with the given
// features and that match keys were added and removed.
func (m *memIndex) update(ctx context.Context, tx *store.Tx, recs []store.IdentityRecord, add, del []store.KeyRow) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	gen, err := tx.BumpIdentityGeneration(ctx)
	if err != nil {
		return err
	}
	prevGen := m.state.Generation
	type recChange struct {
		rid int64
		old string
	}
	var recUndo []recChange
	for _, r := range recs {
		if r.RID <= 0 {
			return fmt.Errorf("match index: record %s has no number", r.RecordKey)
		}
		recUndo = append(recUndo, recChange{r.RID, m.rec(r.RID)})
		m.setRec(r.RID, encodeRec(r.RecordKey, r.Feat))
	}
	var added, removed []store.KeyRow
	for _, r := range del {
		if m.remove(r.Key, r.RID) {
			removed = append(removed, r)
		}
	}
	for _, r := range add {
		if m.insert(r.Key, r.RID) {
			added = append(added, r)
		}
	}
	m.state.Generation = gen
	tx.OnRollback(func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, r := range added {
			m.remove(r.Key, r.RID)
		}
		for _, r := range removed {
			m.insert(r.Key, r.RID)
		}
		for i := len(recUndo) - 1; i >= 0; i-- {
			m.setRec(recUndo[i].rid, recUndo[i].old)
		}
		m.state.Generation = prevGen
	})
	return nil
}

func (m *memIndex) rec(rid int64) string { return m.recs.get(rid) }

func (m *memIndex) setRec(rid int64, rec string) {
	delete(m.decoded, rid)
	m.recs.set(rid, rec)
}

// insert adds rid to key k; it reports whether rid was not there yet.
func (m *memIndex) insert(k, rid int64) bool {
	v, ok := m.keys[k]
	switch {
	case !ok:
		m.keys[k] = rid
		return true
	case v > 0:
		if v == rid {
			return false
		}
		m.keys[k] = -m.lists.newList(min(v, rid), max(v, rid)) - 1
		return true
	default:
		return m.lists.insert(-v-1, rid)
	}
}

// remove takes rid off key k; it reports whether rid was there.
func (m *memIndex) remove(k, rid int64) bool {
	v, ok := m.keys[k]
	switch {
	case !ok:
		return false
	case v > 0:
		if v != rid {
			return false
		}
		delete(m.keys, k)
		return true
	default:
		i := -v - 1
		if !m.lists.remove(i, rid) {
			return false
		}
		if ms := m.lists.get(i); len(ms) == 1 {
			m.keys[k] = ms[0]
			m.lists.drop(i)
		}
		return true
	}
}
