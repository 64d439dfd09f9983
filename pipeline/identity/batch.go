package identity

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
)

// ApplyBatch resolves records in order, with the same outcome as Apply on
// each in turn, but reads what they need in bulk first and writes their
// effects in bulk at the end: the statements per record, not the work,
// are what limit SQLite. A record that needs more than joining the
// profiles it links to (an update that changes its match keys, a key that
// starts or stops linking, a constraint nearby) is resolved by Apply in the
// middle of the batch, after the records before it are written. On
// PostgreSQL, whose records are numbered by the database, it is Apply in a
// loop.
func (s *Resolver) ApplyBatch(ctx context.Context, tx *store.Tx, recs []Record) ([]Outcome, error) {
	ps, err := s.Prepare(recs)
	if err != nil {
		return nil, err
	}
	return s.ApplyPrepared(ctx, tx, ps)
}

// ApplyPrepared is ApplyBatch for records that Prepare made ready, maybe
// while an earlier unit of work was writing.
func (s *Resolver) ApplyPrepared(ctx context.Context, tx *store.Tx, ps []*Prepared) ([]Outcome, error) {
	out := make([]Outcome, len(ps))
	if tx.Driver() == store.DriverPostgres || len(ps) < 2 {
		for i, p := range ps {
			o, err := s.Apply(ctx, tx, p.rec)
			if err != nil {
				return nil, err
			}
			out[i] = o
		}
		return out, nil
	}
	for start := 0; start < len(ps); {
		b, err := s.newBatch(ctx, tx, ps[start:])
		if err != nil {
			return nil, err
		}
		n, err := b.run(ctx, out[start:])
		if err != nil {
			return nil, err
		}
		if err := b.flush(ctx, out[start:start+n]); err != nil {
			return nil, err
		}
		start += n
		if start < len(ps) {
			o, err := s.Apply(ctx, tx, ps[start].rec)
			if err != nil {
				return nil, err
			}
			out[start] = o
			start++
		}
	}
	return out, nil
}

// batch is the state of one ApplyBatch run between its bulk read and its
// bulk write: what the store holds, with the batch's own changes applied.
type batch struct {
	s       *Resolver
	tx      *store.Tx
	mem     *memIndex // nil when keys are in SQL
	recs    []Record
	feats   []*features
	keys    [][]string
	encoded [][]byte            // the records' documents
	pre     []map[int64]verdict // by record: precompare's verdicts

	stored   map[Key]*node      // records by key, as stored or as written by this batch
	docs     map[Key][]byte     // their documents
	members  map[string][]int64 // key -> record numbers
	nodes    map[int64]*node    // record number -> record
	profiles map[string][]*node // complete member lists of the profiles touched
	nextRID  int64

	rows   map[int64]store.IdentityRecord
	adds   []store.KeyRow
	dirty  map[string]bool
	tombs  []tombstone
	merges []crmhub.Merge
}

func (s *Resolver) newBatch(ctx context.Context, tx *store.Tx, ps []*Prepared) (*batch, error) {
	b := &batch{s: s, tx: tx, recs: make([]Record, len(ps)), feats: make([]*features, len(ps)),
		keys: make([][]string, len(ps)), encoded: make([][]byte, len(ps)), pre: make([]map[int64]verdict, len(ps)),
		stored: map[Key]*node{}, docs: map[Key][]byte{}, members: map[string][]int64{}, nodes: map[int64]*node{},
		profiles: map[string][]*node{}, rows: map[int64]store.IdentityRecord{}, dirty: map[string]bool{}}
	skeys := make([]store.RecordKey, len(ps))
	for i, p := range ps {
		b.recs[i], b.feats[i], b.keys[i], b.encoded[i], b.pre[i] = p.rec, p.feat, p.keys, p.doc, p.pre
		skeys[i] = store.RecordKey(p.rec.Key())
	}
	mem, err := s.memIndexOf(ctx, tx)
	if err != nil {
		return nil, err
	}
	b.mem = mem
	stored, err := tx.IdentityRecords(ctx, skeys)
	if err != nil {
		return nil, err
	}
	all := map[string]bool{}
	for _, ks := range b.keys {
		for _, k := range ks {
			all[k] = true
		}
	}
	for _, st := range stored {
		n, err := decodeNode(st)
		if err != nil {
			return nil, err
		}
		b.stored[Key(st.RecordKey)] = n
		b.docs[Key(st.RecordKey)] = st.Doc
		b.nodes[n.rid] = n
		for _, k := range keysOf(n.feat, s.r.blocked) {
			all[k] = true
		}
	}
	// In no particular order: what is read depends on the set alone.
	keys := slices.Collect(maps.Keys(all))
	limit := s.r.cfg.MaxBlockSize + 1
	found, err := keyMembers(ctx, tx, mem, hashKeys(keys), limit)
	if err != nil {
		return nil, err
	}
	var need []int64
	seen := map[int64]bool{}
	for _, k := range keys {
		ms := found[hashKey(k)]
		b.members[k] = ms
		if len(ms) >= limit {
			continue
		}
		for _, m := range ms {
			if b.nodes[m] == nil && !seen[m] {
				seen[m] = true
				need = append(need, m)
			}
		}
	}
	if mem != nil {
		need = b.unsettled(need)
		// Comparing needs features only; the profiles of the few that
		// link are read when they do.
		fs := make([]*features, len(need))
		encs := make([]string, len(need))
		parallel(len(need), func(i int) { fs[i], encs[i], _ = mem.features(need[i]) })
		for i, rid := range need {
			f := fs[i]
			if f == nil {
				return nil, fmt.Errorf("match index: record %d holds a key but is not indexed", rid)
			}
			b.nodes[rid] = &node{rid: rid, rec: Record{Source: f.key.Source, ExternalID: f.key.ExternalID, Tenant: f.tenant},
				feat: f, enc: encs[i], loose: true}
		}
	} else {
		cands, err := tx.Candidates(ctx, need)
		if err != nil {
			return nil, err
		}
		for _, st := range cands {
			n, err := decodeNode(st)
			if err != nil {
				return nil, err
			}
			b.nodes[n.rid] = n
		}
	}
	if b.nextRID, err = tx.MaxIdentityRID(ctx); err != nil {
		return nil, err
	}
	b.nextRID++
	b.precompare()
	return b, nil
}

// unsettled returns the candidates among rids that the batch may need:
// those that hold an email or phone key of the batch, and those that some
// record of the batch has not compared yet with their current entry in
// the match index, or has found to match. The rest, most candidates, were
// compared by Prepare and ruled out, and need not be decoded again.
func (b *batch) unsettled(rids []int64) []int64 {
	need := make(map[int64]bool, len(rids))
	for k, ms := range b.members {
		if deterministic(k) && len(ms) <= b.s.r.cfg.MaxBlockSize {
			for _, m := range ms {
				need[m] = true
			}
		}
	}
	b.mem.mu.Lock()
	for i := range b.recs {
		for _, k := range b.keys[i] {
			ms := b.members[k]
			if len(ms) > b.s.r.cfg.MaxBlockSize {
				continue
			}
			for _, m := range ms {
				if need[m] {
					continue
				}
				if v, ok := b.pre[i][m]; !ok || v.ok || v.enc != b.mem.rec(m) {
					need[m] = true
				}
			}
		}
	}
	b.mem.mu.Unlock()
	out := rids[:0]
	for _, m := range rids {
		if need[m] {
			out = append(out, m)
		}
	}
	return out
}

// verdict is what link decided for two records without a shared email or
// phone. It holds while the other record has the features compared: the
// same object, or the same entry in the match index.
type verdict struct {
	other *features
	enc   string
	rule  string
	score float64
	ok    bool
}

// holds reports whether v was decided with n's current features.
func (v verdict) holds(n *node) bool {
	return (v.other != nil && v.other == n.feat) || (v.enc != "" && v.enc == n.enc)
}

// precompare compares each record with the stored records it shares a key
// with, on all cores, where Prepare did not already: the comparisons are
// most of a batch's work, and run then only decides what they mean.
func (b *batch) precompare() {
	parallel(len(b.recs), func(i int) {
		cur := b.feats[i]
		own := int64(0)
		if st := b.stored[b.recs[i].Key()]; st != nil {
			own = st.rid
		}
		vs := b.pre[i]
		if vs == nil {
			vs = map[int64]verdict{}
			b.pre[i] = vs
		}
		for _, k := range b.keys[i] {
			ms := b.members[k]
			if len(ms) > b.s.r.cfg.MaxBlockSize {
				continue
			}
			for _, m := range ms {
				other := b.nodes[m]
				if m == own || other == nil {
					continue
				}
				if v, done := vs[m]; done && v.holds(other) {
					continue
				}
				rule, score, ok := b.s.r.link(cur, other.feat, "")
				vs[m] = verdict{other: other.feat, enc: other.enc, rule: rule, score: score, ok: ok}
			}
		}
	})
}

// link is resolver.link for record i and a stored record, taking what
// precompare found when it compared the same features.
func (b *batch) link(i int, other *node, det string) (string, float64, bool) {
	cur := b.feats[i]
	v, ok := b.pre[i][other.rid]
	if !ok || !v.holds(other) {
		return b.s.r.link(cur, other.feat, det)
	}
	if det != "" && cur.tenant == other.feat.tenant {
		x, y := cur, other.feat
		if x.key.Compare(y.key) > 0 {
			x, y = y, x
		}
		if !namesConflict(x, y) {
			return det, 1, true
		}
	}
	return v.rule, v.score, v.ok
}

// run resolves records until one needs Apply; it returns how many it
// resolved, their outcomes in out.
func (b *batch) run(ctx context.Context, out []Outcome) (int, error) {
	for i := range b.recs {
		done, err := b.one(ctx, i, &out[i])
		if err != nil {
			return 0, err
		}
		if !done {
			return i, nil
		}
	}
	return len(b.recs), nil
}

// one resolves record i if the fast path can; done is false when it must
// go to Apply, in which case nothing was changed.
func (b *batch) one(ctx context.Context, i int, out *Outcome) (done bool, err error) {
	rec := b.recs[i]
	key := rec.Key()
	doc := b.encoded[i]
	old := b.stored[key]
	if old != nil {
		if rec.Version != "" && crmhub.CompareVersions(rec.Version, old.rec.Version) < 0 {
			*out = Outcome{CustomerID: old.customer, Stale: true}
			return true, nil
		}
		if bytes.Equal(b.docs[key], doc) && old.customer != "" {
			*out = Outcome{CustomerID: old.customer}
			return true, nil
		}
		if fingerprint(old.feat) != fingerprint(b.feats[i]) || old.customer == "" {
			return false, nil
		}
		// Nothing identity resolution looks at changed: the record stays
		// in its profile, whose document is rewritten.
		members, err := b.profile(ctx, old.customer)
		if err != nil {
			return false, err
		}
		cur := &node{rid: old.rid, rec: rec, feat: b.feats[i], customer: old.customer}
		cur.feat.constrained = old.feat.constrained
		for j, n := range members {
			if n.rid == old.rid {
				members[j] = cur
			}
		}
		b.nodes[cur.rid] = cur
		b.put(cur, doc)
		b.dirty[old.customer] = true
		*out = Outcome{CustomerID: old.customer, Changed: []string{old.customer}}
		return true, nil
	}

	cur := &node{rid: b.nextRID, rec: rec, feat: b.feats[i]}
	newKeys := b.keys[i]
	usableAfter := map[string]bool{}
	for _, k := range newKeys {
		before := b.members[k]
		after := append(slices.Clone(before), cur.rid)
		ua := b.usable(k, after, cur)
		if len(before)+len(after) > 2 && b.usable(k, before, cur) != ua {
			return false, nil // a key starts or stops linking its members
		}
		usableAfter[k] = ua
	}
	det := map[int64]string{}
	var cands []int64
	for _, k := range newKeys {
		if !usableAfter[k] {
			continue
		}
		kind := keyKind(k)
		rule := b.s.r.detRule(kind)
		for _, m := range b.members[k] {
			other := b.nodes[m]
			if other == nil {
				continue
			}
			if _, ok := det[m]; !ok {
				det[m] = ""
				cands = append(cands, m)
			}
			if rule != "" && sharesValue(kind, cur.feat, other.feat) {
				det[m] = rule
			}
		}
	}
	neighbors := map[int64]edge{}
	var loose []int64
	for _, m := range cands {
		other := b.nodes[m]
		if other.customer == "" && !other.loose {
			continue
		}
		if r, score, ok := b.link(i, other, det[m]); ok {
			neighbors[m] = edge{rule: r, score: score}
			if other.loose {
				loose = append(loose, m)
			}
		}
	}
	if err := b.tighten(ctx, loose); err != nil {
		return false, err
	}
	linked := map[string][]int64{}
	for _, m := range cands {
		if _, ok := neighbors[m]; !ok {
			continue
		}
		if other := b.nodes[m]; other.customer != "" {
			linked[other.customer] = append(linked[other.customer], m)
		} else {
			delete(neighbors, m)
		}
	}
	ids := slices.Sorted(maps.Keys(linked))
	region := map[string][]*node{}
	for _, id := range ids {
		members, err := b.profile(ctx, id)
		if err != nil {
			return false, err
		}
		for _, n := range members {
			if n.feat.constrained {
				return false, nil // a split nearby: Apply recomputes the whole component
			}
		}
		region[id] = members
	}

	// The fast path holds: write the record into the batch's state.
	b.nextRID++
	for _, k := range newKeys {
		b.members[k] = append(b.members[k], cur.rid)
		b.adds = append(b.adds, store.KeyRow{Key: hashKey(k), RID: cur.rid})
	}
	b.nodes[cur.rid] = cur
	b.put(cur, doc)
	if len(ids) == 0 {
		id := crmhub.NewID(crmhub.CustomerIDPrefix)
		cur.customer = id
		b.profiles[id] = []*node{cur}
		b.dirty[id] = true
		*out = Outcome{CustomerID: id, Changed: []string{id}}
		return true, nil
	}
	survivor := ids[0] // the oldest profile keeps its id
	var merge *crmhub.Merge
	if len(ids) > 1 {
		merge = b.s.mergeOf(cur, ids, linked, region, neighbors)
		b.merges = append(b.merges, *merge)
	}
	cur.customer = survivor
	b.profiles[survivor] = append(b.profiles[survivor], cur)
	for _, id := range ids[1:] {
		for _, n := range b.profiles[id] {
			n.customer = survivor
		}
		b.profiles[survivor] = append(b.profiles[survivor], b.profiles[id]...)
		delete(b.profiles, id)
		delete(b.dirty, id)
		b.tombs = append(b.tombs, tombstone{id: id, into: survivor})
	}
	b.dirty[survivor] = true
	*out = Outcome{CustomerID: survivor, Changed: append([]string{survivor}, ids[1:]...)}
	if merge != nil {
		out.Merges = []crmhub.Merge{*merge}
	}
	return true, nil
}

// tighten reads the profiles of loose candidates. A loose candidate's
// profile was not touched by the batch: touching a profile reads its
// members, which tightens them.
func (b *batch) tighten(ctx context.Context, rids []int64) error {
	if len(rids) == 0 {
		return nil
	}
	rows, err := b.tx.Candidates(ctx, rids)
	if err != nil {
		return err
	}
	for _, st := range rows {
		if n := b.nodes[st.RID]; n != nil && n.loose {
			n.customer, n.feat.constrained, n.loose = st.CustomerID, st.Constrained, false
		}
	}
	for _, rid := range rids {
		if n := b.nodes[rid]; n.loose {
			return fmt.Errorf("match index: record %d is indexed but not stored", rid)
		}
	}
	return nil
}

// usable judges key k by members, with cur's features for cur.
func (b *batch) usable(k string, ms []int64, cur *node) bool {
	if len(ms) > b.s.r.cfg.MaxBlockSize {
		return false
	}
	if !deterministic(k) || len(ms) <= b.s.r.cfg.MaxPeoplePerKey {
		return true
	}
	fs := make([]*features, 0, len(ms))
	for _, m := range ms {
		switch n := b.nodes[m]; {
		case m == cur.rid:
			fs = append(fs, cur.feat)
		case n != nil:
			fs = append(fs, n.feat)
		}
	}
	return b.s.r.usable(k, fs)
}

// profile returns the complete member list of a profile, read from the
// store the first time; the batch's changes keep it current after that.
func (b *batch) profile(ctx context.Context, id string) ([]*node, error) {
	if ms, ok := b.profiles[id]; ok {
		return ms, nil
	}
	rows, err := b.tx.IdentityRecordsOfCustomers(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	ms := make([]*node, 0, len(rows))
	for _, st := range rows {
		n, err := decodeNode(st)
		if err != nil {
			return nil, err
		}
		// One object per record, so that moving it moves it everywhere.
		if have := b.nodes[n.rid]; have != nil {
			have.rec = n.rec
			if have.loose {
				have.customer, have.feat.constrained, have.loose = n.customer, n.feat.constrained, false
			}
			n = have
		} else {
			b.nodes[n.rid] = n
		}
		k := n.rec.Key()
		if b.stored[k] == nil {
			b.stored[k], b.docs[k] = n, st.Doc
		}
		ms = append(ms, n)
	}
	b.profiles[id] = ms
	return ms, nil
}

func (b *batch) put(n *node, doc []byte) {
	k := n.rec.Key()
	b.stored[k], b.docs[k] = n, doc
	b.rows[n.rid] = store.IdentityRecord{RID: n.rid, RecordKey: store.RecordKey(k), Tenant: n.rec.Tenant,
		Version: n.rec.Version, Doc: doc, Feat: n.feat.encode(), Constrained: n.feat.constrained}
}

// flush writes the batch's records, keys, profiles, tombstones and merges.
func (b *batch) flush(ctx context.Context, out []Outcome) error {
	rows := slices.Collect(maps.Values(b.rows))
	slices.SortFunc(rows, func(x, y store.IdentityRecord) int { return cmp.Compare(x.RID, y.RID) })
	err := b.tx.PutIdentityRecordsWithRID(ctx, rows)
	if err != nil {
		return err
	}
	slices.SortFunc(b.adds, func(x, y store.KeyRow) int { return cmp.Or(cmp.Compare(x.Key, y.Key), cmp.Compare(x.RID, y.RID)) })
	if b.mem != nil {
		err = b.mem.update(ctx, b.tx, rows, b.adds, nil)
	} else {
		err = b.tx.AddIdentityKeys(ctx, b.adds)
	}
	if err != nil {
		return err
	}
	gs := make([]group, 0, len(b.dirty))
	for _, id := range slices.Sorted(maps.Keys(b.dirty)) {
		gs = append(gs, group{id: id, nodes: b.profiles[id]})
	}
	if len(gs) == 0 && len(b.tombs) == 0 {
		return nil
	}
	_, err = b.s.writeGroups(ctx, b.tx, gs, b.tombs, b.merges)
	return err
}

// mergeOf logs a new record joining several profiles: the oldest survives,
// and the evidence is the weakest of the links that bridge them, since the
// merge is only as sure as that.
func (s *Resolver) mergeOf(cur *node, ids []string, linked map[string][]int64, region map[string][]*node,
	neighbors map[int64]edge) *crmhub.Merge {
	m := &crmhub.Merge{ID: crmhub.NewID(crmhub.MergeIDPrefix), SurvivorID: ids[0], MergedIDs: slices.Clone(ids[1:]),
		Actor: "system", CreatedAt: s.Now().UTC(), Sides: map[string][]string{}}
	for _, id := range ids {
		for _, n := range region[id] {
			m.Sides[id] = append(m.Sides[id], n.rec.Key().String())
		}
	}
	m.Sides[ids[0]] = append(m.Sides[ids[0]], cur.rec.Key().String())
	first := true
	for _, id := range ids {
		var best int64
		bestScore := -1.0
		for _, k := range linked[id] {
			if e := neighbors[k]; e.score > bestScore {
				best, bestScore = k, e.score
			}
		}
		if first || bestScore < m.Score {
			e := neighbors[best]
			m.Rule, m.Score = e.rule, round(e.score)
			if other := findNode(region[id], best); other != nil {
				_, outs := compare(cur.feat, other.feat, useName|useBirthday|useAddress|useEmail|usePhone, true)
				m.Evidence = evidenceOf(outs)
			}
			first = false
		}
	}
	return m
}
