package identity

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// nodeKeys returns one key per id, in the given order, all of source "s".
func nodeKeys(ids ...string) []Key {
	keys := make([]Key, len(ids))
	for i, id := range ids {
		keys[i] = Key{Source: "s", ExternalID: id}
	}
	return keys
}

// groupIDs turns cluster's groups of nodes into groups of external ids.
func groupIDs(keys []Key, groups [][]int) [][]string {
	out := make([][]string, len(groups))
	for i, g := range groups {
		for _, n := range g {
			out[i] = append(out[i], keys[n].ExternalID)
		}
	}
	return out
}

// edgeOf builds an edge between the nodes of two ids.
func edgeOf(keys []Key, a, b, rule string, score float64) edge {
	ia := slices.IndexFunc(keys, func(k Key) bool { return k.ExternalID == a })
	ib := slices.IndexFunc(keys, func(k Key) bool { return k.ExternalID == b })
	if ia < 0 || ib < 0 {
		panic("no node " + a + " or " + b)
	}
	return edge{a: ia, b: ib, rule: rule, score: score}
}

// splitOf labels the nodes of each side with one split.
func splitOf(keys []Key, labels map[int][]label, id string, sides ...[]string) {
	for side, ids := range sides {
		for _, x := range ids {
			i := slices.IndexFunc(keys, func(k Key) bool { return k.ExternalID == x })
			labels[i] = append(labels[i], label{split: id, side: side})
		}
	}
}

// clusterShuffled runs cluster on the edges in the given order, then in
// many shuffled orders with their ends swapped at random, and fails unless
// every run agrees.
func clusterShuffled(t *testing.T, keys []Key, edges []edge, labels map[int][]label) [][]string {
	t.Helper()
	want := groupIDs(keys, cluster(keys, edges, labels))
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 50 {
		shuffled := slices.Clone(edges)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		for j := range shuffled {
			if rng.IntN(2) == 0 {
				shuffled[j].a, shuffled[j].b = shuffled[j].b, shuffled[j].a
			}
		}
		if got := groupIDs(keys, cluster(keys, shuffled, labels)); !slices.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("shuffle %d: groups %v, in the original edge order %v", i, got, want)
		}
	}
	return want
}

func TestClusterComponents(t *testing.T) {
	tests := []struct {
		name  string
		ids   []string
		edges [][2]string
		want  [][]string
	}{
		{"no nodes", nil, nil, [][]string{}},
		{"no edges: singletons", []string{"a", "b", "c"}, nil, [][]string{{"a"}, {"b"}, {"c"}}},
		{"one pair and a singleton", []string{"a", "b", "c"}, [][2]string{{"a", "c"}}, [][]string{{"a", "c"}, {"b"}}},
		{"chain", []string{"a", "b", "c", "d"}, [][2]string{{"a", "b"}, {"b", "c"}, {"c", "d"}}, [][]string{{"a", "b", "c", "d"}}},
		{"two components", []string{"a", "b", "c", "d", "e"}, [][2]string{{"a", "d"}, {"b", "e"}, {"e", "c"}},
			[][]string{{"a", "d"}, {"b", "c", "e"}}},
		{"cycle and duplicate edges", []string{"a", "b", "c"}, [][2]string{{"a", "b"}, {"b", "c"}, {"c", "a"}, {"a", "b"}},
			[][]string{{"a", "b", "c"}}},
		// Nodes in an order other than their keys' still come out sorted
		// by key, within and across groups.
		{"sorted by key, not by node", []string{"z", "m", "b", "y", "a"}, [][2]string{{"z", "a"}, {"m", "y"}},
			[][]string{{"a", "z"}, {"b"}, {"m", "y"}}},
		{"self loop", []string{"a", "b"}, [][2]string{{"a", "a"}}, [][]string{{"a"}, {"b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := nodeKeys(tt.ids...)
			var edges []edge
			for _, p := range tt.edges {
				edges = append(edges, edgeOf(keys, p[0], p[1], RuleEmail, 1))
			}
			require.Equal(t, tt.want, clusterShuffled(t, keys, edges, nil))
		})
	}
}

func TestClusterSplits(t *testing.T) {
	type testEdge struct {
		a, b  string
		rule  string
		score float64
	}
	tests := []struct {
		name   string
		ids    []string
		edges  []testEdge
		splits [][][]string // per split, its sides
		want   [][]string
	}{
		{"split keeps a direct link apart", []string{"a", "b"},
			[]testEdge{{"a", "b", RuleEmail, 1}},
			[][][]string{{{"a"}, {"b"}}},
			[][]string{{"a"}, {"b"}}},
		{"bridge joins the side of the stronger edge", []string{"a", "b", "c"},
			[]testEdge{{"c", "a", RuleFuzzy, 0.97}, {"c", "b", RuleFuzzy, 0.99}},
			[][][]string{{{"a"}, {"b"}}},
			[][]string{{"a"}, {"b", "c"}}},
		{"bridge joins the other side when that edge is stronger", []string{"a", "b", "c"},
			[]testEdge{{"c", "a", RuleFuzzy, 0.99}, {"c", "b", RuleFuzzy, 0.97}},
			[][][]string{{{"a"}, {"b"}}},
			[][]string{{"a", "c"}, {"b"}}},
		{"equal scores go by key order", []string{"a", "b", "c"},
			[]testEdge{{"c", "b", RuleEmail, 1}, {"c", "a", RuleEmail, 1}},
			[][][]string{{{"a"}, {"b"}}},
			[][]string{{"a", "c"}, {"b"}}},
		// Key order would pick a–c; the manual edge to b comes first.
		{"manual edge wins over score and key order", []string{"a", "b", "c"},
			[]testEdge{{"c", "a", RuleEmail, 1}, {"c", "b", RuleManual, 1}},
			[][][]string{{{"a"}, {"b"}}},
			[][]string{{"a"}, {"b", "c"}}},
		{"manual edge wins over a stronger-looking fuzzy edge", []string{"a", "b", "c"},
			[]testEdge{{"c", "a", RuleFuzzy, 0.999}, {"c", "b", RuleManual, 0.5}},
			[][][]string{{{"a"}, {"b"}}},
			[][]string{{"a"}, {"b", "c"}}},
		{"a manual edge across the split is not applied", []string{"a", "b"},
			[]testEdge{{"a", "b", RuleManual, 1}},
			[][][]string{{{"a"}, {"b"}}},
			[][]string{{"a"}, {"b"}}},
		{"chain cut at its weakest link", []string{"a", "b", "x", "y"},
			[]testEdge{{"a", "x", RuleFuzzy, 0.99}, {"x", "y", RuleFuzzy, 0.96}, {"y", "b", RuleFuzzy, 0.98}},
			[][][]string{{{"a"}, {"b"}}},
			[][]string{{"a", "x"}, {"b", "y"}}},
		{"sides of several records", []string{"a", "b", "c", "d"},
			[]testEdge{{"a", "b", RuleEmail, 1}, {"b", "c", RuleEmail, 1}, {"c", "d", RuleEmail, 1}, {"a", "d", RuleFuzzy, 0.99}},
			[][][]string{{{"a", "b"}, {"c", "d"}}},
			[][]string{{"a", "b"}, {"c", "d"}}},
		{"two splits", []string{"a", "b", "c", "d"},
			[]testEdge{{"a", "c", RuleEmail, 1}, {"b", "d", RuleEmail, 1}, {"a", "d", RuleFuzzy, 0.99}, {"b", "c", RuleFuzzy, 0.98}},
			[][][]string{{{"a"}, {"b"}}, {{"c"}, {"d"}}},
			[][]string{{"a", "c"}, {"b", "d"}}},
		{"three sides", []string{"a", "b", "c", "x"},
			[]testEdge{{"x", "a", RuleEmail, 1}, {"x", "b", RuleEmail, 1}, {"x", "c", RuleEmail, 1}},
			[][][]string{{{"a"}, {"b"}, {"c"}}},
			[][]string{{"a", "x"}, {"b"}, {"c"}}},
		{"components without a split are left whole", []string{"a", "b", "c", "d", "e"},
			[]testEdge{{"a", "b", RuleEmail, 1}, {"d", "e", RuleFuzzy, 0.96}, {"c", "e", RuleFuzzy, 0.95}},
			[][][]string{{{"a"}, {"b"}}},
			[][]string{{"a"}, {"b"}, {"c", "d", "e"}}},
		{"a split of records with no edges", []string{"a", "b", "c"},
			[]testEdge{{"b", "c", RuleEmail, 1}},
			[][][]string{{{"a"}, {"b"}}},
			[][]string{{"a"}, {"b", "c"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := nodeKeys(tt.ids...)
			var edges []edge
			for _, x := range tt.edges {
				edges = append(edges, edgeOf(keys, x.a, x.b, x.rule, x.score))
			}
			labels := map[int][]label{}
			for i, sides := range tt.splits {
				splitOf(keys, labels, string(rune('A'+i)), sides...)
			}
			require.Equal(t, tt.want, clusterShuffled(t, keys, edges, labels))
		})
	}
}

// TestClusterSplitIndependentOfNodeOrder numbers the same records in
// other orders: the groups must not depend on which node a record is.
func TestClusterSplitIndependentOfNodeOrder(t *testing.T) {
	ids := []string{"a", "b", "c", "d", "x", "y"}
	type testEdge struct {
		a, b  string
		score float64
	}
	es := []testEdge{{"a", "x", 0.99}, {"x", "y", 0.97}, {"y", "b", 0.98}, {"c", "x", 0.97}, {"d", "y", 0.97}, {"c", "d", 0.96}}
	run := func(order []string) [][]string {
		keys := nodeKeys(order...)
		var edges []edge
		for _, x := range es {
			edges = append(edges, edgeOf(keys, x.a, x.b, RuleFuzzy, x.score))
		}
		labels := map[int][]label{}
		splitOf(keys, labels, "s", []string{"a"}, []string{"b"})
		return groupIDs(keys, cluster(keys, edges, labels))
	}
	want := run(ids)
	rng := rand.New(rand.NewPCG(5, 6))
	for range 50 {
		order := slices.Clone(ids)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		require.Equal(t, want, run(order), "node order %v", order)
	}
}

func TestUnionFind(t *testing.T) {
	u := newUnionFind(5)
	u.union(0, 1)
	u.union(3, 4)
	u.union(1, 4)
	for _, x := range []int{1, 3, 4} {
		if u.find(x) != u.find(0) {
			t.Errorf("node %d is not with node 0", x)
		}
	}
	if u.find(2) == u.find(0) {
		t.Error("node 2 joined without an edge")
	}
	if r := u.union(0, 4); r != u.find(0) {
		t.Errorf("union of one set returned %d, want its root %d", r, u.find(0))
	}
	// Marked nodes become singletons again.
	for _, x := range []int{0, 1, 3, 4} {
		u.mark(x)
	}
	u.resetMarked()
	for x := range 5 {
		if u.find(x) != x {
			t.Errorf("after reset node %d has root %d", x, u.find(x))
		}
	}
}
