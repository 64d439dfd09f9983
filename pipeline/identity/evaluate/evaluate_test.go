package evaluate

import (
	"strings"
	"testing"
)

func TestReadTruthPairsAndClusters(t *testing.T) {
	pairs, ids, err := ReadTruth(strings.NewReader("rec_id_1,rec_id_2\nb, a\nc,d\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pairs) != 2 || !pairs[Pair{"a", "b"}] || !pairs[Pair{"c", "d"}] || len(ids) != 4 {
		t.Fatalf("pairs %v ids %v", pairs, ids)
	}
	clusters, ids, err := ReadTruth(strings.NewReader("unique_id,first_name,cluster\n1,x,0\n2,y,0\n3,z,0\n4,w,1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(clusters) != 3 || !clusters[Pair{"1", "3"}] || len(ids) != 4 {
		t.Fatalf("clusters %v ids %v", clusters, ids)
	}
	if _, _, err := ReadTruth(strings.NewReader("a,b\nonly\n")); err == nil {
		t.Fatal("a short line must be an error")
	}
}

func TestCompare(t *testing.T) {
	truth := Pairs([][]string{{"1", "2", "3"}, {"4", "5"}})
	for _, tc := range []struct {
		name      string
		predicted [][]string
		want      Score
		p, r      float64
	}{
		{"perfect", [][]string{{"3", "1", "2"}, {"5", "4"}}, Score{4, 0, 0}, 1, 1},
		{"one glued", [][]string{{"1", "2", "3", "4", "5"}}, Score{4, 6, 0}, 0.4, 1},
		{"all apart", [][]string{{"1"}, {"2"}, {"3"}, {"4"}, {"5"}}, Score{0, 0, 4}, 1, 0},
		{"one missed", [][]string{{"1", "2"}, {"3"}, {"4", "5"}}, Score{2, 0, 2}, 1, 0.5},
	} {
		got := Compare(Pairs(tc.predicted), truth, nil)
		if got != tc.want || got.Precision() != tc.p || got.Recall() != tc.r {
			t.Errorf("%s: %+v p %.2f r %.2f, want %+v p %.2f r %.2f", tc.name, got, got.Precision(), got.Recall(), tc.want, tc.p, tc.r)
		}
	}
	// Records the truth does not name are left out.
	got := Compare(Pairs([][]string{{"1", "2", "x"}}), truth, map[string]bool{"1": true, "2": true, "3": true})
	if got.FalsePositives != 0 || got.TruePositives != 1 {
		t.Fatalf("unknown ids counted: %+v", got)
	}
	if f := (Score{TruePositives: 1, FalsePositives: 1, FalseNegatives: 1}).F1(); f != 0.5 {
		t.Fatalf("F1 = %v", f)
	}
}
