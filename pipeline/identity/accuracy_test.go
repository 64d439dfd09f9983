package identity

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/crmhub/config"
	"github.com/crmhub/crmhub/mapping"
)

// dedupDir holds the labelled record-linkage sets shipped beside the
// repository (see ../shared/data/README.md).
const dedupDir = "../../../shared/data/dedup"

// labelledSet is one labelled set: a CSV file, its mapping, and how to
// read the truth.
type labelledSet struct {
	name    string
	file    string
	mapping string
	// truth returns the true matching pairs as "idA|idB" with idA < idB,
	// given the rows (header first).
	truth func(t testing.TB, rows [][]string) map[string]bool
}

var labelledSets = []labelledSet{
	{"FEBRL 1", "dataset1.csv", "febrl.yaml", truePairsFile("febrl1_true_pairs.csv")},
	{"FEBRL 2", "dataset2.csv", "febrl.yaml", truePairsFile("febrl2_true_pairs.csv")},
	{"RLdata500", "RLdata500.csv", "rldata.yaml", clusterColumn("record_id", "label_true")},
	{"Splink fake 1000", "splink_fake_1000.csv", "splink.yaml", clusterColumn("unique_id", "cluster")},
}

// accuracyConfig is the identity configuration every set is measured with.
var accuracyConfig = config.IdentityConfig{Match: []config.MatchRule{
	{Field: "email"}, {Field: "phone"},
	{Fuzzy: []string{"name", "birthday", "address", "email", "phone"}, Threshold: 0.95},
}}

func pairKey(a, b string) string {
	if a > b {
		a, b = b, a
	}
	return a + "|" + b
}

func truePairsFile(name string) func(testing.TB, [][]string) map[string]bool {
	return func(t testing.TB, _ [][]string) map[string]bool {
		rows := readCSV(t, filepath.Join(dedupDir, name))
		pairs := map[string]bool{}
		for _, r := range rows[1:] {
			pairs[pairKey(strings.TrimSpace(r[0]), strings.TrimSpace(r[1]))] = true
		}
		return pairs
	}
}

func clusterColumn(idCol, clusterCol string) func(testing.TB, [][]string) map[string]bool {
	return func(t testing.TB, rows [][]string) map[string]bool {
		idI, cI := column(t, rows[0], idCol), column(t, rows[0], clusterCol)
		groups := map[string][]string{}
		for _, r := range rows[1:] {
			groups[r[cI]] = append(groups[r[cI]], r[idI])
		}
		return pairsOf(groups)
	}
}

func pairsOf(groups map[string][]string) map[string]bool {
	pairs := map[string]bool{}
	for _, g := range groups {
		for i := range g {
			for j := i + 1; j < len(g); j++ {
				pairs[pairKey(g[i], g[j])] = true
			}
		}
	}
	return pairs
}

func column(t testing.TB, header []string, name string) int {
	for i, h := range header {
		if strings.TrimSpace(h) == name {
			return i
		}
	}
	t.Fatalf("no column %q in %v", name, header)
	return -1
}

func readCSV(t testing.TB, path string) [][]string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.TrimLeadingSpace = true
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

// score is pairwise precision and recall.
type score struct{ tp, fp, fn int }

func (s score) precision() float64 { return float64(s.tp) / float64(max(1, s.tp+s.fp)) }
func (s score) recall() float64    { return float64(s.tp) / float64(max(1, s.tp+s.fn)) }
func (s score) f1() float64 {
	p, r := s.precision(), s.recall()
	return 2 * p * r / max(p+r, 1e-9)
}

func scorePairs(predicted, truth map[string]bool) score {
	var s score
	for p := range predicted {
		if truth[p] {
			s.tp++
		} else {
			s.fp++
		}
	}
	for p := range truth {
		if !predicted[p] {
			s.fn++
		}
	}
	return s
}

// TestResolveAccuracy measures Resolve on the labelled sets directly; the
// end-to-end harness (import, pipeline, export) lives in cmd/crmhub.
func TestResolveAccuracy(t *testing.T) {
	if _, err := os.Stat(dedupDir); err != nil {
		t.Skipf("SKIPPED: labelled sets not found at %s (they sit beside the repository in CI)", dedupDir)
	}
	cfg := ConfigFrom(accuracyConfig)
	for _, set := range labelledSets {
		t.Run(set.name, func(t *testing.T) {
			rows := readCSV(t, filepath.Join(dedupDir, set.file))
			rules, err := mapping.Load(filepath.Join("testdata", "accuracy", set.mapping))
			if err != nil {
				t.Fatal(err)
			}
			header := map[string]int{}
			for i, h := range rows[0] {
				header[strings.TrimSpace(h)] = i
			}
			var recs []Record
			for _, row := range rows[1:] {
				m, err := rules.Apply(mapping.CSVRecord{Header: header, Row: row}, mapping.Options{})
				if err != nil {
					t.Fatal(err)
				}
				r, _ := NewRecord(Source{Name: "set"}, m, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
				recs = append(recs, r)
			}
			groups := Resolve(recs, cfg, nil, nil)
			predicted := map[string][]string{}
			for gi, g := range groups {
				for _, i := range g {
					predicted[fmt.Sprint(gi)] = append(predicted[fmt.Sprint(gi)], recs[i].ExternalID)
				}
			}
			s := scorePairs(pairsOf(predicted), set.truth(t, rows))
			t.Logf("%-18s records %5d  precision %.4f  recall %.4f  F1 %.4f  (tp %d fp %d fn %d)",
				set.name, len(recs), s.precision(), s.recall(), s.f1(), s.tp, s.fp, s.fn)
			if s.precision() < 0.99 || s.recall() < 0.95 {
				t.Errorf("%s: precision %.4f (want ≥ 0.99), recall %.4f (want ≥ 0.95)", set.name, s.precision(), s.recall())
			}
		})
	}
}
