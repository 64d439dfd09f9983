// Package evaluate measures identity resolution against a known truth:
// pairwise precision, recall and F1 of the records that share a profile.
package evaluate

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Pair is two record ids, the smaller first.
type Pair struct{ A, B string }

// NewPair orders a and b.
func NewPair(a, b string) Pair {
	if a > b {
		a, b = b, a
	}
	return Pair{a, b}
}

// Pairs returns every pair of ids that share a group.
func Pairs(groups [][]string) map[Pair]bool {
	out := map[Pair]bool{}
	for _, g := range groups {
		g = slices.Clone(g)
		slices.Sort(g)
		for i := range g {
			for j := i + 1; j < len(g); j++ {
				out[Pair{g[i], g[j]}] = true
			}
		}
	}
	return out
}

// Score counts true positive, false positive and false negative pairs.
type Score struct {
	TruePositives  int `json:"true_positives"`
	FalsePositives int `json:"false_positives"`
	FalseNegatives int `json:"false_negatives"`
}

// Precision is the share of predicted pairs that are true.
func (s Score) Precision() float64 {
	return ratio(s.TruePositives, s.TruePositives+s.FalsePositives)
}

// Recall is the share of true pairs that were predicted.
func (s Score) Recall() float64 { return ratio(s.TruePositives, s.TruePositives+s.FalseNegatives) }

// F1 is the harmonic mean of precision and recall.
func (s Score) F1() float64 {
	p, r := s.Precision(), s.Recall()
	if p+r == 0 {
		return 0
	}
	return 2 * p * r / (p + r)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

// Compare scores predicted pairs against true ones. Only pairs whose ids
// are both in known count: a record the truth does not name says nothing.
func Compare(predicted, truth map[Pair]bool, known map[string]bool) Score {
	var s Score
	for p := range predicted {
		if known != nil && (!known[p.A] || !known[p.B]) {
			continue
		}
		if truth[p] {
			s.TruePositives++
		} else {
			s.FalsePositives++
		}
	}
	for p := range truth {
		if !predicted[p] {
			s.FalseNegatives++
		}
	}
	return s
}

// ReadTruth reads the truth from CSV with a header. With two columns it is
// a list of matching pairs (id_1,id_2); with a column named cluster (or
// label, label_true, entity_id) beside an id column it gives each record's
// true cluster. Cells are trimmed, so files with ", " separators read
// too. ids lists every id the file names.
func ReadTruth(r io.Reader) (truth map[Pair]bool, ids map[string]bool, err error) {
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("read truth header: %w", err)
	}
	for i := range header {
		header[i] = strings.TrimSpace(header[i])
	}
	clusterCol, idCol := -1, -1
	for i, h := range header {
		switch strings.ToLower(h) {
		case "cluster", "label", "label_true", "entity_id", "true_id":
			clusterCol = i
		}
	}
	if clusterCol >= 0 {
		idCol = 0
		if idCol == clusterCol {
			idCol = 1
		}
	}
	truth, ids = map[Pair]bool{}, map[string]bool{}
	groups := map[string][]string{}
	line := 1
	for {
		row, err := cr.Read()
		line++
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read truth line %d: %w", line, err)
		}
		if clusterCol >= 0 {
			if max(idCol, clusterCol) >= len(row) {
				return nil, nil, fmt.Errorf("truth line %d: want an id and a cluster", line)
			}
			id := strings.TrimSpace(row[idCol])
			groups[strings.TrimSpace(row[clusterCol])] = append(groups[strings.TrimSpace(row[clusterCol])], id)
			ids[id] = true
			continue
		}
		if len(row) < 2 {
			return nil, nil, fmt.Errorf("truth line %d: want two ids", line)
		}
		a, b := strings.TrimSpace(row[0]), strings.TrimSpace(row[1])
		truth[NewPair(a, b)] = true
		ids[a], ids[b] = true, true
	}
	if clusterCol >= 0 {
		var gs [][]string
		for _, g := range groups {
			gs = append(gs, g)
		}
		truth = Pairs(gs)
	}
	return truth, ids, nil
}
