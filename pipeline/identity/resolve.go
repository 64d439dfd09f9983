package identity

import (
	"math"
	"runtime"
	"sync"
)

// resolver holds a normalized Config and what is derived from it.
type resolver struct {
	cfg     Config
	blocked blockedSet
}

func newResolver(cfg Config) *resolver {
	cfg = cfg.normalize()
	return &resolver{cfg: cfg, blocked: newBlockedSet(cfg.Blocked)}
}

// link decides whether two records are the same person. det says whether
// they share a usable email or phone key of a kind whose rule is on.
func (r *resolver) link(a, b *features, det string) (rule string, score float64, ok bool) {
	if a.tenant != b.tenant {
		return "", 0, false
	}
	// Some comparisons are not symmetric (swapped names use the given-name
	// table on one side); comparing in key order keeps the decision the
	// same whichever record arrived last.
	if a.key.Compare(b.key) > 0 {
		a, b = b, a
	}
	if det != "" && !namesConflict(a, b) {
		return det, 1, true
	}
	return r.fuzzy(a, b)
}

// ruledOut reports whether link(a, b, "") is certain to be false from
// what decodeBound reads of b: another tenant, or an upper bound of the
// weight below every fuzzy rule's threshold.
func (r *resolver) ruledOut(a, b *features) bool {
	if a.tenant != b.tenant {
		return true
	}
	if a.key.Compare(b.key) > 0 {
		a, b = b, a
	}
	for _, fr := range r.cfg.Fuzzy {
		if bound(a, b, fr.set) >= weightFor(fr.Threshold, r.cfg.Prior)-1 {
			return false
		}
	}
	return true
}

// fuzzy is link's verdict without a shared email or phone; a and b are in
// key order and of one tenant.
func (r *resolver) fuzzy(a, b *features) (rule string, score float64, ok bool) {
	for _, fr := range r.cfg.Fuzzy {
		// Most candidates share a blocking key and little else; a margin
		// of a bit keeps rounding from ruling out a pair compare accepts.
		if need := weightFor(fr.Threshold, r.cfg.Prior); bound(a, b, fr.set) < need-1 {
			continue
		}
		w, _ := compare(a, b, fr.set, false)
		if p := probability(w, r.cfg.Prior); p >= fr.Threshold && p > score {
			rule, score, ok = RuleFuzzy, p, true
		}
	}
	return rule, score, ok
}

// weightFor is the weight at which probability reaches threshold. For a
// threshold of 1 or more it is -Inf, so that no pair is ruled out: such a
// threshold is met only where the probability rounds to 1.
func weightFor(threshold, prior float64) float64 {
	if threshold >= 1 {
		return math.Inf(-1)
	}
	return -math.Log2(1/threshold-1) - prior
}

// detRule returns the rule a shared key of kind stands for, or "" when it
// is not deterministic or its rule is off.
func (r *resolver) detRule(kind string) string {
	switch {
	case kind == kindEmail && r.cfg.Email:
		return RuleEmail
	case kind == kindPhone && r.cfg.Phone:
		return RulePhone
	}
	return ""
}

// usable reports whether a key links its members, given them: a blocking
// key must not be too common, an email or phone not shared by more
// different people than allowed.
func (r *resolver) usable(key string, members []*features) bool {
	if len(members) > r.cfg.MaxBlockSize {
		return false
	}
	if !deterministic(key) || len(members) <= r.cfg.MaxPeoplePerKey {
		return true
	}
	people := map[string]bool{}
	for _, m := range members {
		if m.signature != "" {
			people[m.signature] = true
		}
	}
	return len(people) <= r.cfg.MaxPeoplePerKey
}

// Resolve groups records into profiles: the whole-data form of what the
// incremental resolver does, used by rebuild and by tests. Records must
// have distinct keys. It returns groups of indexes into records.
func Resolve(records []Record, cfg Config, splits []Split, links []Link) [][]int {
	r := newResolver(cfg)
	feats := make([]*features, len(records))
	parallel(len(records), func(i int) { feats[i] = featuresOf(&records[i]) })
	groups, _ := r.group(feats, nil, splits, links)
	return groups
}

// group resolves a closed set of records: every record that could link
// to one of them is among them. usable says whether a key links its
// members; nil means judge it by its members in feats, which is right when
// feats holds every record there is.
func (r *resolver) group(feats []*features, usable func(key string) bool, splits []Split, links []Link) ([][]int, []edge) {
	groups, edges, _ := r.groupKeys(feats, usable, splits, links)
	return groups, edges
}

// groupKeys is group that also returns each record's keys.
func (r *resolver) groupKeys(feats []*features, usable func(key string) bool, splits []Split, links []Link) ([][]int, []edge, [][]string) {
	n := len(feats)
	keys := make([]Key, n)
	recKeys := make([][]string, n)
	parallel(n, func(i int) {
		keys[i] = feats[i].key
		recKeys[i] = keysOf(feats[i], r.blocked)
	})
	index := map[string][]int32{}
	for i, ks := range recKeys {
		for _, k := range ks {
			index[k] = append(index[k], int32(i))
		}
	}
	ok := make(map[string]bool, len(index))
	for k, members := range index {
		if len(members) < 2 {
			continue
		}
		if usable != nil {
			ok[k] = usable(k)
			continue
		}
		fs := make([]*features, len(members))
		for j, m := range members {
			fs[j] = feats[m]
		}
		ok[k] = r.usable(k, fs)
	}
	edges := r.edges(feats, recKeys, func(k string) ([]int32, bool) { return index[k], ok[k] })
	byKey := make(map[Key]int, n)
	for i, k := range keys {
		byKey[k] = i
	}
	for _, l := range links {
		a, okA := byKey[l.A]
		b, okB := byKey[l.B]
		if okA && okB && a != b && feats[a].tenant == feats[b].tenant {
			edges = append(edges, edge{a: a, b: b, rule: RuleManual, score: 1})
		}
	}
	return cluster(keys, edges, splitLabels(splits, byKey)), edges, recKeys
}

// edges compares every node with the later nodes that share a usable key
// with it, on all cores.
func (r *resolver) edges(feats []*features, recKeys [][]string, members func(string) ([]int32, bool)) []edge {
	n := len(feats)
	workers := runtime.GOMAXPROCS(0)
	out := make([][]edge, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seen := make([]int32, n) // generation stamps: seen[j] == i+1
			det := map[int32]string{}
			var cands []int32
			for i := w; i < n; i += workers {
				cands = cands[:0]
				clear(det)
				for _, k := range recKeys[i] {
					ms, ok := members(k)
					if !ok {
						continue
					}
					rule := r.detRule(keyKind(k))
					for _, j := range ms {
						if int(j) <= i {
							continue
						}
						if seen[j] != int32(i+1) {
							seen[j] = int32(i + 1)
							cands = append(cands, j)
						}
						if rule != "" {
							det[j] = rule
						}
					}
				}
				for _, j := range cands {
					if rule, s, ok := r.link(feats[i], feats[j], det[j]); ok {
						out[w] = append(out[w], edge{a: i, b: int(j), rule: rule, score: s})
					}
				}
			}
		}()
	}
	wg.Wait()
	var all []edge
	for _, es := range out {
		all = append(all, es...)
	}
	return all
}

func splitLabels(splits []Split, byKey map[Key]int) map[int][]label {
	labels := map[int][]label{}
	for _, s := range splits {
		for side, ks := range s.Sides {
			for _, k := range ks {
				if i, ok := byKey[k]; ok {
					labels[i] = append(labels[i], label{split: s.ID, side: side})
				}
			}
		}
	}
	return labels
}

// parallel calls fn for 0..n-1 on all cores.
func parallel(n int, fn func(int)) {
	workers := runtime.GOMAXPROCS(0)
	if n <= 1 || workers == 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				fn(i)
			}
		}()
	}
	wg.Wait()
}
