package identity

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
)

// Resolver resolves records into profiles in the store, one record at a
// time, inside the caller's transaction.
type Resolver struct {
	r *resolver
	// mem is the match index of a SQLite store; see memIndex.
	mem *memIndex
	// preparing bounds how many records Prepare works on at once, across
	// all callers; see Prepare.
	preparing chan struct{}
	// Now stamps merges; tests replace it.
	Now func() time.Time
}

// NewResolver returns a Resolver with the rules in cfg.
func NewResolver(cfg Config) *Resolver {
	return &Resolver{r: newResolver(cfg), mem: newMemIndex(), Now: time.Now,
		preparing: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)-1))}
}

// Outcome says what resolving one record did.
type Outcome struct {
	// CustomerID is the profile the record belongs to now.
	CustomerID string
	// Changed lists every profile whose document was written, tombstones
	// of merged profiles included.
	Changed []string
	// Merges are the merges the record caused.
	Merges []crmhub.Merge
	// Stale is set when the store holds a newer version of the record; it
	// was ignored.
	Stale bool
}

// node is a record of a region with what the resolver derived from it.
type node struct {
	rid      int64
	rec      Record // for candidates only the key fields are set
	feat     *features
	customer string // profile before this change; "" for a new record
	// loose marks a candidate read from the in-memory index: customer
	// is not known until it is read from the store.
	loose bool
	// enc is the candidate's entry in the in-memory index, when it was
	// read from there: comparisons made with that entry still hold.
	enc string
}

// Apply resolves one record: it stores the record and its keys, links it
// to the records that match, and rewrites the profiles that changed. An
// older version than the stored one is ignored.
func (s *Resolver) Apply(ctx context.Context, tx *store.Tx, rec Record) (Outcome, error) {
	key := rec.Key()
	doc, err := json.Marshal(rec)
	if err != nil {
		return Outcome{}, fmt.Errorf("encode record %s: %w", key, err)
	}
	stored, err := tx.IdentityRecords(ctx, []store.RecordKey{store.RecordKey(key)})
	if err != nil {
		return Outcome{}, err
	}
	var old *node
	if len(stored) == 1 {
		if rec.Version != "" && crmhub.CompareVersions(rec.Version, stored[0].Version) < 0 {
			return Outcome{CustomerID: stored[0].CustomerID, Stale: true}, nil
		}
		if bytes.Equal(stored[0].Doc, doc) && stored[0].CustomerID != "" {
			return Outcome{CustomerID: stored[0].CustomerID}, nil
		}
		o, err := decodeNode(stored[0])
		if err != nil {
			return Outcome{}, err
		}
		old = o
	}
	cur := &node{rec: rec, feat: featuresOf(&rec)}
	if old != nil {
		cur.customer, cur.feat.constrained = old.customer, old.feat.constrained
	}
	newKeys := keysOf(cur.feat, s.r.blocked)
	var oldKeys []string
	if old != nil {
		oldKeys = keysOf(old.feat, s.r.blocked)
	}
	mem, err := s.memIndexOf(ctx, tx)
	if err != nil {
		return Outcome{}, err
	}
	ir := store.IdentityRecord{RecordKey: store.RecordKey(key), Tenant: rec.Tenant,
		Version: rec.Version, Doc: doc, Feat: cur.feat.encode(), Constrained: cur.feat.constrained}
	if cur.rid, err = tx.PutIdentityRecord(ctx, ir); err != nil {
		return Outcome{}, err
	}
	ir.RID = cur.rid
	add, del := diffKeys(oldKeys, newKeys)
	if mem != nil {
		err = mem.update(ctx, tx, []store.IdentityRecord{ir}, keyRows(cur.rid, add), keyRows(cur.rid, del))
	} else {
		err = tx.SetIdentityKeys(ctx, cur.rid, hashKeys(add), hashKeys(del))
	}
	if err != nil {
		return Outcome{}, err
	}

	// What matches now: the members of the record's keys, after the change.
	ix := newKeyIndex(s, tx, mem)
	if err := ix.load(ctx, union(oldKeys, newKeys), cur); err != nil {
		return Outcome{}, err
	}
	neighbors := map[int64]edge{}
	det := map[int64]string{}
	var cands []int64
	for _, k := range newKeys {
		if !ix.usable(k) {
			continue
		}
		kind := keyKind(k)
		rule := s.r.detRule(kind)
		for _, m := range ix.members[k] {
			if m == cur.rid {
				continue
			}
			if _, ok := det[m]; !ok {
				det[m] = ""
				cands = append(cands, m)
			}
			if other := ix.nodes[m]; rule != "" && other != nil && sharesValue(kind, cur.feat, other.feat) {
				det[m] = rule
			}
		}
	}
	for _, m := range cands {
		if other := ix.nodes[m]; other != nil && other.customer != "" {
			if r, score, ok := s.r.link(cur.feat, other.feat, det[m]); ok {
				neighbors[m] = edge{rule: r, score: score}
			}
		}
	}
	linked := map[string][]int64{} // profile -> its records the new one links to
	for m := range neighbors {
		c := ix.nodes[m].customer
		linked[c] = append(linked[c], m)
	}
	crossing := ix.crossing(oldKeys, newKeys, old)
	if err := ix.loadNodes(ctx, crossing); err != nil {
		return Outcome{}, err
	}
	matchChanged := old == nil || fingerprint(old.feat) != fingerprint(cur.feat)

	// An update that changes nothing identity resolution looks at keeps the
	// record where it is, in its new version (profileRecords leaves cur
	// out: the stored version is the old one).
	if old != nil && !matchChanged && len(crossing) == 0 && old.customer != "" {
		members, err := s.profileRecords(ctx, tx, []string{old.customer}, cur)
		if err != nil {
			return Outcome{}, err
		}
		cur.customer = old.customer
		return s.write(ctx, tx, []group{{id: old.customer, nodes: append(members[old.customer], cur)}}, nil, nil)
	}

	// Everything the change can affect: the profiles the record was and
	// will be linked with, and the profiles under keys that start or stop
	// linking.
	seed := map[string]bool{}
	for c := range linked {
		seed[c] = true
	}
	if old != nil && old.customer != "" {
		seed[old.customer] = true
	}
	for _, k := range crossing {
		for _, m := range ix.members[k] {
			if n := ix.nodes[m]; n != nil && n.customer != "" {
				seed[n.customer] = true
			}
		}
	}
	region, err := s.profileRecords(ctx, tx, slices.Sorted(maps.Keys(seed)), cur)
	if err != nil {
		return Outcome{}, err
	}
	constrained := cur.feat.constrained
	for _, ns := range region {
		for _, n := range ns {
			constrained = constrained || n.feat.constrained
		}
	}
	if old == nil && len(crossing) == 0 && !constrained {
		return s.attach(ctx, tx, cur, linked, region, neighbors)
	}
	return s.recompute(ctx, tx, cur, region, constrained, system)
}

// action says who changes profiles, for the merge log.
type action struct {
	actor  string
	rule   string // forced rule of the merges the action makes; "" to derive it from the edges
	reason string // the operator's reason for the merges the action makes
}

var system = action{actor: "system"}

// attach adds a new record to the profiles it links to, merging them when
// it links to several. Without constraints a profile is a connected
// component, so this is what recomputing the region would give.
func (s *Resolver) attach(ctx context.Context, tx *store.Tx, cur *node, linked map[string][]int64,
	region map[string][]*node, neighbors map[int64]edge) (Outcome, error) {
	ids := slices.Sorted(maps.Keys(linked))
	if len(ids) == 0 {
		id := crmhub.NewID(crmhub.CustomerIDPrefix)
		return s.write(ctx, tx, []group{{id: id, nodes: []*node{cur}}}, nil, nil)
	}
	survivor := ids[0] // the oldest profile keeps its id
	g := group{id: survivor, nodes: []*node{cur}}
	for _, id := range ids {
		g.nodes = append(g.nodes, region[id]...)
	}
	var merges []crmhub.Merge
	if len(ids) > 1 {
		merges = append(merges, *s.mergeOf(cur, ids, linked, region, neighbors))
	}
	return s.write(ctx, tx, []group{g}, ids[1:], merges)
}

func findNode(ns []*node, rid int64) *node {
	for _, n := range ns {
		if n.rid == rid {
			return n
		}
	}
	return nil
}

// recompute re-derives the profiles of a region from its records. When a
// constraint is involved the region first grows to the whole connected
// part of the graph, since the greedy split depends on all of it.
func (s *Resolver) recompute(ctx context.Context, tx *store.Tx, cur *node, region map[string][]*node, constrained bool, act action) (Outcome, error) {
	var nodes []*node
	seen := map[int64]bool{}
	addNode := func(n *node) {
		if !seen[n.rid] {
			seen[n.rid] = true
			nodes = append(nodes, n)
		}
	}
	if cur != nil {
		addNode(cur)
	}
	for _, id := range slices.Sorted(maps.Keys(region)) {
		for _, n := range region[id] {
			addNode(n)
		}
	}
	mem, err := s.memIndexOf(ctx, tx)
	if err != nil {
		return Outcome{}, err
	}
	ix := newKeyIndex(s, tx, mem)
	if constrained {
		for i := 0; i < len(nodes); i++ {
			n := nodes[i]
			ks := keysOf(n.feat, s.r.blocked)
			if err := ix.load(ctx, ks, cur); err != nil {
				return Outcome{}, err
			}
			var reach []string
			for _, k := range ks {
				if !ix.usable(k) {
					continue
				}
				kind := keyKind(k)
				rule := s.r.detRule(kind)
				for _, m := range ix.members[k] {
					o := ix.nodes[m]
					if seen[m] || o == nil || o.customer == "" {
						continue
					}
					det := ""
					if rule != "" && sharesValue(kind, n.feat, o.feat) {
						det = rule
					}
					if _, _, ok := s.r.link(n.feat, o.feat, det); ok {
						reach = append(reach, o.customer)
					}
				}
			}
			if len(reach) > 0 {
				more, err := s.profileRecords(ctx, tx, reach, cur)
				if err != nil {
					return Outcome{}, err
				}
				for _, id := range slices.Sorted(maps.Keys(more)) {
					for _, m := range more[id] {
						addNode(m)
					}
				}
			}
		}
	}
	slices.SortFunc(nodes, func(a, b *node) int { return a.rec.Key().Compare(b.rec.Key()) })
	keys := make([]store.RecordKey, len(nodes))
	feats := make([]*features, len(nodes))
	var all []string
	for i, n := range nodes {
		keys[i], feats[i] = store.RecordKey(n.rec.Key()), n.feat
		all = append(all, keysOf(n.feat, s.r.blocked)...)
	}
	slices.Sort(all)
	if err := ix.load(ctx, slices.Compact(all), cur); err != nil {
		return Outcome{}, err
	}
	splits, links, err := constraintsOf(ctx, tx, keys)
	if err != nil {
		return Outcome{}, err
	}
	groups, edges := s.r.group(feats, ix.usable, splits, links)
	return s.assign(ctx, tx, nodes, groups, edges, act)
}

// assign gives the groups of a recomputed region their profile ids (see
// plan) and writes them.
func (s *Resolver) assign(ctx context.Context, tx *store.Tx, nodes []*node, groups [][]int, edges []edge, act action) (Outcome, error) {
	customers := make([]string, len(nodes))
	keys := make([]Key, len(nodes))
	feats := make([]*features, len(nodes))
	for i, n := range nodes {
		customers[i], keys[i], feats[i] = n.customer, n.rec.Key(), n.feat
	}
	p := s.plan(customers, keys, feats, groups, edges, act)
	out := make([]group, len(groups))
	for gi, g := range groups {
		out[gi].id = p.ids[gi]
		for _, i := range g {
			out[gi].nodes = append(out[gi].nodes, nodes[i])
		}
	}
	return s.writeGroups(ctx, tx, out, p.tombstones, p.merges)
}

// plan is how a resolved set of records maps onto profiles.
type plan struct {
	ids        []string // per group
	tombstones []tombstone
	merges     []crmhub.Merge
	// created counts groups that got a new id; split counts former
	// profiles whose records went to more than one group.
	created, split int
}

// plan gives each group a profile id: the id most of its records had,
// larger groups choosing first, or a new one. A former profile no group
// keeps becomes a tombstone pointing at the group that took most of its
// records. A group holding records of several former profiles is a merge,
// logged with the weakest edge that joins them as evidence.
func (s *Resolver) plan(customers []string, keys []Key, feats []*features, groups [][]int, edges []edge, act action) plan {
	var p plan
	order := make([]int, len(groups))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return len(groups[b]) - len(groups[a]) })
	taken := map[string]bool{}
	p.ids = make([]string, len(groups))
	for _, gi := range order {
		votes := map[string]int{}
		for _, i := range groups[gi] {
			if c := customers[i]; c != "" {
				votes[c]++
			}
		}
		best := ""
		for _, c := range slices.Sorted(maps.Keys(votes)) {
			if !taken[c] && (best == "" || votes[c] > votes[best]) {
				best = c
			}
		}
		if best == "" {
			best = crmhub.NewID(crmhub.CustomerIDPrefix)
			p.created++
		}
		taken[best] = true
		p.ids[gi] = best
	}
	groupOf := make([]int, len(customers))
	for gi, g := range groups {
		for _, i := range g {
			groupOf[i] = gi
		}
	}
	spread := map[string]map[int]int{}
	for i, c := range customers {
		if c == "" {
			continue
		}
		if spread[c] == nil {
			spread[c] = map[int]int{}
		}
		spread[c][groupOf[i]]++
	}
	for _, c := range slices.Sorted(maps.Keys(spread)) {
		if len(spread[c]) > 1 {
			p.split++
		}
		if taken[c] {
			continue
		}
		best, bestN := -1, 0
		for gi, cnt := range spread[c] {
			if cnt > bestN || (cnt == bestN && gi < best) {
				best, bestN = gi, cnt
			}
		}
		p.tombstones = append(p.tombstones, tombstone{id: c, into: p.ids[best]})
	}
	// The weakest edge inside each group that joins records of different
	// former profiles.
	weakest := map[int]*edge{}
	for i := range edges {
		e := &edges[i]
		ga := groupOf[e.a]
		if ga != groupOf[e.b] || customers[e.a] == customers[e.b] {
			continue
		}
		if w := weakest[ga]; w == nil || e.score < w.score {
			weakest[ga] = e
		}
	}
	for gi, g := range groups {
		former := map[string][]string{}
		for _, i := range g {
			if c := customers[i]; c != "" {
				former[c] = append(former[c], keys[i].String())
			}
		}
		if len(former) < 2 {
			continue
		}
		m := crmhub.Merge{ID: crmhub.NewID(crmhub.MergeIDPrefix), SurvivorID: p.ids[gi], Actor: act.actor, Reason: act.reason,
			CreatedAt: s.Now().UTC(), Sides: former, Rule: RuleFuzzy}
		for c := range former {
			if c != p.ids[gi] {
				m.MergedIDs = append(m.MergedIDs, c)
			}
		}
		if len(m.MergedIDs) == 0 {
			continue
		}
		slices.Sort(m.MergedIDs)
		if w := weakest[gi]; w != nil {
			m.Rule, m.Score = w.rule, round(w.score)
			_, outs := compare(feats[w.a], feats[w.b], useName|useBirthday|useAddress|useEmail|usePhone, true)
			m.Evidence = evidenceOf(outs)
		}
		if act.rule != "" {
			m.Rule = act.rule
		}
		p.merges = append(p.merges, m)
	}
	return p
}

// group is one profile to write.
type group struct {
	id    string
	nodes []*node
}

type tombstone struct{ id, into string }

func (s *Resolver) write(ctx context.Context, tx *store.Tx, gs []group, merged []string, merges []crmhub.Merge) (Outcome, error) {
	tomb := make([]tombstone, len(merged))
	for i, id := range merged {
		tomb[i] = tombstone{id: id, into: gs[0].id}
	}
	return s.writeGroups(ctx, tx, gs, tomb, merges)
}

// writeGroups writes the profiles of gs, their tombstones and the merge
// log. The record being applied is the one whose node has no customer or
// appears in gs; the outcome names its profile.
func (s *Resolver) writeGroups(ctx context.Context, tx *store.Tx, gs []group, tombs []tombstone, merges []crmhub.Merge) (Outcome, error) {
	var out Outcome
	cs := make([]crmhub.Customer, 0, len(gs)+len(tombs))
	profiles := make([]crmhub.Customer, len(gs))
	parallel(len(gs), func(i int) {
		g := gs[i]
		recs := make([]Record, len(g.nodes))
		for i, n := range g.nodes {
			recs[i] = n.rec
		}
		slices.SortFunc(recs, func(a, b Record) int { return a.Key().Compare(b.Key()) })
		profiles[i] = s.r.cfg.Survivorship.Profile(g.id, recs)
		profiles[i].UpdatedAt = time.Time{} // set to now by the store: the profile changed now
	})
	for i, g := range gs {
		cs = append(cs, profiles[i])
		out.Changed = append(out.Changed, g.id)
	}
	for _, t := range tombs {
		cs = append(cs, crmhub.Customer{ID: t.id, MergedInto: t.into})
		out.Changed = append(out.Changed, t.id)
	}
	if err := tx.UpsertCustomers(ctx, cs); err != nil {
		return Outcome{}, err
	}
	for _, m := range merges {
		if err := tx.RecordMerge(ctx, m); err != nil {
			return Outcome{}, err
		}
	}
	out.Merges = merges
	return out, nil
}

// profileRecords loads the records of profiles, with cur in place of its
// stored version.
func (s *Resolver) profileRecords(ctx context.Context, tx *store.Tx, ids []string, cur *node) (map[string][]*node, error) {
	stored, err := tx.IdentityRecordsOfCustomers(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := map[string][]*node{}
	for _, st := range stored {
		if cur != nil && st.RID == cur.rid {
			continue
		}
		n, err := decodeNode(st)
		if err != nil {
			return nil, err
		}
		out[n.customer] = append(out[n.customer], n)
	}
	return out, nil
}

// decodeNode reads a stored record: its features from the precomputed
// column, its document when the row has one (profile members do,
// candidates do not).
func decodeNode(st store.IdentityRecord) (*node, error) {
	n := &node{rid: st.RID, customer: st.CustomerID,
		rec: Record{Source: st.Source, ExternalID: st.ExternalID, Tenant: st.Tenant}}
	if len(st.Doc) > 0 {
		if err := json.Unmarshal(st.Doc, &n.rec); err != nil {
			return nil, fmt.Errorf("decode identity record %s: %w", st.RecordKey, err)
		}
	}
	f, ok := decodeFeatures(st.Feat, Key(st.RecordKey))
	if !ok {
		if len(st.Doc) == 0 {
			return nil, fmt.Errorf("identity record %s has neither features nor document", st.RecordKey)
		}
		f = featuresOf(&n.rec)
	}
	f.constrained = st.Constrained
	n.feat = f
	return n, nil
}

func constraintsOf(ctx context.Context, tx *store.Tx, keys []store.RecordKey) ([]Split, []Link, error) {
	ss, err := tx.SplitsOf(ctx, keys)
	if err != nil {
		return nil, nil, err
	}
	ls, err := tx.LinksOf(ctx, keys)
	if err != nil {
		return nil, nil, err
	}
	return convertSplits(ss), convertLinks(ls), nil
}

func convertSplits(ss []store.Split) []Split {
	out := make([]Split, len(ss))
	for i, s := range ss {
		out[i].ID = s.ID
		for _, side := range s.Sides {
			ks := make([]Key, len(side))
			for j, k := range side {
				ks[j] = Key(k)
			}
			out[i].Sides = append(out[i].Sides, ks)
		}
	}
	return out
}

func convertLinks(ls []store.Link) []Link {
	out := make([]Link, len(ls))
	for i, l := range ls {
		out[i] = Link{A: Key(l.A), B: Key(l.B)}
	}
	return out
}

// keyIndex caches key members and their records during one Apply.
type keyIndex struct {
	s       *Resolver
	tx      *store.Tx
	mem     *memIndex          // nil when keys are in SQL
	members map[string][]int64 // key -> record numbers
	nodes   map[int64]*node    // record number -> record; nil while unread
	cur     *node
}

func newKeyIndex(s *Resolver, tx *store.Tx, mem *memIndex) *keyIndex {
	return &keyIndex{s: s, tx: tx, mem: mem, members: map[string][]int64{}, nodes: map[int64]*node{}}
}

// load reads the members of keys (as they are after the change: the
// current record's keys were written before) and the features of members
// of keys small enough to use.
func (ix *keyIndex) load(ctx context.Context, keys []string, cur *node) error {
	if cur != nil {
		ix.cur = cur
		ix.nodes[cur.rid] = cur
	}
	var missing []string
	for _, k := range keys {
		if _, ok := ix.members[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	limit := ix.s.r.cfg.MaxBlockSize + 1
	found, err := keyMembers(ctx, ix.tx, ix.mem, hashKeys(missing), limit)
	if err != nil {
		return err
	}
	var need []int64
	for _, k := range missing {
		ms := found[hashKey(k)]
		ix.members[k] = ms
		if len(ms) >= limit {
			continue
		}
		for _, m := range ms {
			if _, ok := ix.nodes[m]; !ok {
				ix.nodes[m] = nil
				need = append(need, m)
			}
		}
	}
	return ix.read(ctx, need)
}

func (ix *keyIndex) read(ctx context.Context, rids []int64) error {
	if len(rids) == 0 {
		return nil
	}
	stored, err := ix.tx.Candidates(ctx, rids)
	if err != nil {
		return err
	}
	for _, st := range stored {
		n, err := decodeNode(st)
		if err != nil {
			return err
		}
		ix.nodes[st.RID] = n
	}
	return nil
}

// usable judges a loaded key by its members after the change.
func (ix *keyIndex) usable(k string) bool {
	var f *features
	if ix.cur != nil {
		f = ix.cur.feat
	}
	return ix.usableWith(k, ix.members[k], f)
}

// crossing returns the keys whose usability the change flipped: keys the
// record gained or lost, or kept with a changed name, that now link or stop
// linking their members. Their members' profiles must be recomputed.
func (ix *keyIndex) crossing(oldKeys, newKeys []string, old *node) []string {
	var out []string
	cur := ix.cur.rid
	for _, k := range union(oldKeys, newKeys) {
		after := ix.members[k]
		if len(after) > ix.s.r.cfg.MaxBlockSize+1 {
			continue // unusable before and after
		}
		before := slices.DeleteFunc(slices.Clone(after), func(m int64) bool { return m == cur })
		var oldFeat *features
		if slices.Contains(oldKeys, k) {
			before = append(before, cur)
			oldFeat = old.feat
		}
		if ix.usableWith(k, before, oldFeat) != ix.usableWith(k, after, ix.cur.feat) && len(after)+len(before) > 2 {
			out = append(out, k)
		}
	}
	return out
}

// usableWith judges a key by members, taking the current record's
// features as f.
func (ix *keyIndex) usableWith(k string, ms []int64, f *features) bool {
	if len(ms) > ix.s.r.cfg.MaxBlockSize {
		return false
	}
	if !deterministic(k) || len(ms) <= ix.s.r.cfg.MaxPeoplePerKey {
		return true
	}
	fs := make([]*features, 0, len(ms))
	for _, m := range ms {
		switch n := ix.nodes[m]; {
		case ix.cur != nil && m == ix.cur.rid:
			if f != nil {
				fs = append(fs, f)
			}
		case n != nil:
			fs = append(fs, n.feat)
		}
	}
	return ix.s.r.usable(k, fs)
}

// loadNodes reads the records of every member of keys, however many.
func (ix *keyIndex) loadNodes(ctx context.Context, keys []string) error {
	var need []int64
	for _, k := range keys {
		for _, m := range ix.members[k] {
			if ix.nodes[m] == nil {
				need = append(need, m)
			}
		}
	}
	return ix.read(ctx, need)
}

// fingerprint is what identity resolution looks at in a record: equal
// fingerprints link the same way.
func fingerprint(f *features) string {
	return strings.Join([]string{f.tenant, strings.Join(f.emails, ","), strings.Join(f.phones, ","),
		f.first.key, f.last.key, f.dobKey, f.streetK, f.cityK, f.post}, "\x1f")
}

func diffKeys(old, cur []string) (add, del []string) {
	for _, k := range cur {
		if !slices.Contains(old, k) {
			add = append(add, k)
		}
	}
	for _, k := range old {
		if !slices.Contains(cur, k) {
			del = append(del, k)
		}
	}
	return add, del
}

func union(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// keyMembers returns up to limit members of each key, from the in-memory
// index when there is one.
func keyMembers(ctx context.Context, tx *store.Tx, mem *memIndex, keys []int64, limit int) (map[int64][]int64, error) {
	if mem != nil {
		return mem.members(keys, limit), nil
	}
	return tx.KeyMembers(ctx, keys, limit)
}

// keyRows pairs keys with the record that holds them.
func keyRows(rid int64, keys []string) []store.KeyRow {
	out := make([]store.KeyRow, len(keys))
	for i, k := range keys {
		out[i] = store.KeyRow{Key: hashKey(k), RID: rid}
	}
	return out
}
