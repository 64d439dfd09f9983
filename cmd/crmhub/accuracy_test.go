package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/pipeline/identity/evaluate"
)

// dedupDir holds the labelled record-linkage sets that sit beside the
// repository (../shared/data/dedup).
const dedupDir = "../../../shared/data/dedup"

// accuracyIdentity is the identity section every labelled set is resolved
// with; the README's accuracy table quotes it.
const accuracyIdentity = `identity:
  match:
    - email
    - phone
    - {fuzzy: [name, birthday, address, email, phone], threshold: 0.95}
`

// TestAccuracyOfLabelledSets imports each labelled set through a file
// source and its mapping, exports the profiles and measures pairwise
// precision and recall against the truth. National ids (FEBRL's
// soc_sec_id) are not mapped.
func TestAccuracyOfLabelledSets(t *testing.T) {
	if _, err := os.Stat(dedupDir); err != nil {
		t.Skipf("SKIPPED: the labelled sets are not at %s; they sit beside the repository in CI", dedupDir)
	}
	mappings, err := filepath.Abs("../../pipeline/identity/testdata/accuracy")
	require.NoError(t, err)
	sets := []struct{ name, file, mapping, truth string }{
		{"FEBRL 1", "dataset1.csv", "febrl.yaml", "febrl1_true_pairs.csv"},
		{"FEBRL 2", "dataset2.csv", "febrl.yaml", "febrl2_true_pairs.csv"},
		{"RLdata500", "RLdata500.csv", "rldata.yaml", "RLdata500.csv"},
		{"Splink fake 1000", "splink_fake_1000.csv", "splink.yaml", "splink_fake_1000.csv"},
	}
	for _, set := range sets {
		t.Run(set.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := writeFile(t, dir, "crmhub.yaml", fmt.Sprintf(`store: {driver: sqlite, dsn: crmhub.db}
sources:
  - name: set
    type: file
    mapping: %s
`, filepath.Join(mappings, set.mapping))+accuracyIdentity)
			r := runCLI(t, "import", "set", filepath.Join(dedupDir, set.file), "-c", cfg)
			require.Equal(t, exitOK, r.code, r.stderr)
			out := filepath.Join(dir, "customers.ndjson")
			r = runCLI(t, "export", "customers", "-o", out, "-c", cfg)
			require.Equal(t, exitOK, r.code, r.stderr)

			groups := exportedGroups(t, out)
			f, err := os.Open(filepath.Join(dedupDir, set.truth))
			require.NoError(t, err)
			defer f.Close()
			truth, _, err := evaluate.ReadTruth(f)
			require.NoError(t, err)
			s := evaluate.Compare(evaluate.Pairs(groups), truth, nil) // every record of the file is exported
			t.Logf("| %s | %d | %d | %.4f | %.4f | %.4f |", set.name, countIDs(groups), len(groups),
				s.Precision(), s.Recall(), s.F1())
			require.GreaterOrEqual(t, s.Precision(), 0.99, "precision, %+v", s)
			require.GreaterOrEqual(t, s.Recall(), 0.95, "recall, %+v", s)

			// crmhub identity evaluate tells an operator the same.
			r = runCLI(t, "identity", "evaluate", "--truth", filepath.Join(dedupDir, set.truth), "--source", "set", "--json", "-c", cfg)
			require.Equal(t, exitOK, r.code, r.stderr)
			var rep struct{ Precision, Recall float64 }
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
			require.InDelta(t, s.Precision(), rep.Precision, 1e-9)
			require.InDelta(t, s.Recall(), rep.Recall, 1e-9)
		})
	}
}

// exportedGroups reads an NDJSON customer export into the external ids
// of each profile.
func exportedGroups(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var groups [][]string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var c crmhub.Customer
		require.NoError(t, json.Unmarshal(sc.Bytes(), &c))
		var g []string
		for _, id := range c.Identities {
			g = append(g, id.ExternalID)
		}
		groups = append(groups, g)
	}
	require.NoError(t, sc.Err())
	return groups
}

func countIDs(groups [][]string) int {
	n := 0
	for _, g := range groups {
		n += len(g)
	}
	return n
}
