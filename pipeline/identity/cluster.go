package identity

import (
	"cmp"
	"slices"
)

// Rules of edges, as the merge log names them.
const (
	RuleEmail  = "email"
	RulePhone  = "phone"
	RuleFuzzy  = "fuzzy"
	RuleManual = "manual"
)

// edge links two nodes of a region.
type edge struct {
	a, b  int
	rule  string
	score float64 // probability for fuzzy edges, 1 otherwise
}

// label puts a node on one side of one split: nodes with the same split
// and different sides never share a profile.
type label struct {
	split string
	side  int
}

// Split is an unmerge constraint: records in different sides never share
// a profile.
type Split struct {
	ID    string
	Sides [][]Key
}

// Link is a forced merge: the two records share a profile.
type Link struct {
	A, B Key
}

// cluster groups the n nodes of a region given their edges and split
// labels, and returns the groups, each sorted by key, in key order of
// their first member. Components without labels are plain connected
// components. A component with labels is split by a greedy pass over its
// edges in a fixed order (forced, then higher score, then by keys), which
// joins two groups unless a split keeps them apart: the outcome depends on
// the records and constraints only, never on arrival order.
func cluster(keys []Key, edges []edge, labels map[int][]label) [][]int {
	n := len(keys)
	uf := newUnionFind(n)
	for _, e := range edges {
		uf.union(e.a, e.b)
	}
	if len(labels) > 0 {
		constrained := map[int]bool{}
		for node := range labels {
			constrained[uf.find(node)] = true
		}
		// Redo the constrained components greedily.
		var sorted []edge
		for _, e := range edges {
			if constrained[uf.find(e.a)] {
				sorted = append(sorted, e)
			}
		}
		for i := range n {
			if constrained[uf.find(i)] {
				uf.mark(i)
			}
		}
		uf.resetMarked()
		slices.SortFunc(sorted, func(x, y edge) int {
			return cmp.Or(
				-cmp.Compare(boolInt(x.rule == RuleManual), boolInt(y.rule == RuleManual)),
				-cmp.Compare(x.score, y.score),
				comparePair(keys, x, y))
		})
		sides := make(map[int]map[string]int, len(labels))
		for node, ls := range labels {
			m := map[string]int{}
			for _, l := range ls {
				m[l.split] = l.side
			}
			sides[node] = m
		}
		for _, e := range sorted {
			ra, rb := uf.find(e.a), uf.find(e.b)
			if ra == rb || conflicting(sides[ra], sides[rb]) {
				continue
			}
			r := uf.union(ra, rb)
			other := ra
			if r == ra {
				other = rb
			}
			if len(sides[other]) > 0 {
				if sides[r] == nil {
					sides[r] = map[string]int{}
				}
				for s, side := range sides[other] {
					sides[r][s] = side
				}
			}
		}
	}
	groups := map[int][]int{}
	for i := range n {
		r := uf.find(i)
		groups[r] = append(groups[r], i)
	}
	out := make([][]int, 0, len(groups))
	for _, g := range groups {
		slices.SortFunc(g, func(x, y int) int { return keys[x].Compare(keys[y]) })
		out = append(out, g)
	}
	slices.SortFunc(out, func(x, y []int) int { return keys[x[0]].Compare(keys[y[0]]) })
	return out
}

func conflicting(a, b map[string]int) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	for s, side := range a {
		if other, ok := b[s]; ok && other != side {
			return true
		}
	}
	return false
}

func comparePair(keys []Key, x, y edge) int {
	xa, xb := orderedPair(keys, x)
	ya, yb := orderedPair(keys, y)
	return cmp.Or(xa.Compare(ya), xb.Compare(yb))
}

func orderedPair(keys []Key, e edge) (Key, Key) {
	a, b := keys[e.a], keys[e.b]
	if a.Compare(b) > 0 {
		a, b = b, a
	}
	return a, b
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// unionFind is a disjoint-set forest with path halving and union by size.
type unionFind struct {
	parent, size []int
	marked       []int
}

func newUnionFind(n int) *unionFind {
	u := &unionFind{parent: make([]int, n), size: make([]int, n)}
	for i := range n {
		u.parent[i], u.size[i] = i, 1
	}
	return u
}

func (u *unionFind) find(x int) int {
	for u.parent[x] != x {
		u.parent[x] = u.parent[u.parent[x]]
		x = u.parent[x]
	}
	return x
}

// union joins the sets of a and b and returns the new root.
func (u *unionFind) union(a, b int) int {
	ra, rb := u.find(a), u.find(b)
	if ra == rb {
		return ra
	}
	if u.size[ra] < u.size[rb] {
		ra, rb = rb, ra
	}
	u.parent[rb] = ra
	u.size[ra] += u.size[rb]
	return ra
}

// mark remembers a node whose set resetMarked breaks up again.
func (u *unionFind) mark(x int) { u.marked = append(u.marked, x) }

func (u *unionFind) resetMarked() {
	for _, x := range u.marked {
		u.parent[x], u.size[x] = x, 1
	}
	u.marked = u.marked[:0]
}
