package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/store"
)

// identityFixture is a file source whose records are people, and a store.
func identityFixture(t *testing.T) (dir, cfg string) {
	t.Helper()
	dir = t.TempDir()
	writeFile(t, dir, "people.yaml", `entity: customer
id: id
version: updated_at
fields:
  email: {from: email, transform: email}
  phone: {from: phone, transform: "phone(AE)"}
  first_name: first
  last_name: last
  birthday: {from: dob, transform: "date(2006-01-02)"}
  address.city: city
`)
	cfg = writeFile(t, dir, "c.yaml", "store: {driver: sqlite, dsn: crmhub.db}\n"+peopleSources)
	return dir, cfg
}

// peopleSources are identityFixture's two file sources and its rules.
const peopleSources = `sources:
  - name: shop
    type: file
    mapping: people.yaml
  - name: erp
    type: file
    mapping: people.yaml
    format: ndjson
identity:
  match: [email, phone, {fuzzy: [name, birthday, address], threshold: 0.95}]
`

func profileOf(t *testing.T, dir, source, id string) string {
	t.Helper()
	s, err := store.Open(context.Background(), store.Options{Driver: store.DriverSQLite, DSN: filepath.Join(dir, "crmhub.db")})
	require.NoError(t, err)
	defer s.Close()
	c, err := s.CustomerIDByIdentity(context.Background(), source, id)
	require.NoError(t, err)
	return c
}

// TestUnmergeSurvivesRebuildAndMergeForces walks an operator through a
// wrong merge: unmerge splits it, a rebuild does not glue it again, a new
// record that matches both sides joins only one, and a forced merge joins
// them for good, rebuild included.
func TestUnmergeSurvivesRebuildAndMergeForces(t *testing.T) {
	dir, cfg := identityFixture(t)
	// Two profiles, then a record that links both: a merge.
	csv := writeFile(t, dir, "shop.csv", `id,email,phone,first,last,dob,city,updated_at
1,sara@example.com,,Sara,Al Amiri,,Dubai,2026-01-01T00:00:00Z
2,,050 123 4567,Sara,Haddad,1991-03-14,,2026-01-02T00:00:00Z
3,other@example.com,,John,Smith,1980-01-01,London,2026-01-01T00:00:00Z
`)
	r := runCLI(t, "import", "shop", csv, "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "3 profiles (+3), 0 merges (+0)")
	bridge := writeFile(t, dir, "bridge.ndjson", `{"id":"E-1","email":"SARA@example.com","phone":"+971501234567","first":"Sara","last":"Al Amiri"}
`)
	r = runCLI(t, "import", "erp", bridge, "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "2 profiles (-1), 1 merges (+1)")
	sara := profileOf(t, dir, "shop", "1")
	require.Equal(t, sara, profileOf(t, dir, "shop", "2"))
	require.Equal(t, sara, profileOf(t, dir, "erp", "E-1"))

	r = runCLI(t, "unmerge", sara, "--actor", "ops@example.com", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.NotEqual(t, profileOf(t, dir, "shop", "1"), profileOf(t, dir, "shop", "2"))
	r = runCLI(t, "unmerge", sara, "-c", cfg)
	require.Equal(t, exitUsage, r.code, "nothing left to undo")

	r = runCLI(t, "rebuild", "--dry-run", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "profiles 3 -> 3; 0 merges absorbing 0 profiles; 0 profiles split")
	r = runCLI(t, "rebuild", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.NotEqual(t, profileOf(t, dir, "shop", "1"), profileOf(t, dir, "shop", "2"), "rebuild re-glued a split profile")

	// A new record matching both sides joins one of them, not both.
	nd := writeFile(t, dir, "erp.ndjson", `{"id":"E-2","email":"sara@example.com","phone":"0501234567","first":"Sara","last":"Al Amiri"}
`)
	r = runCLI(t, "import", "erp", nd, "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.NotEqual(t, profileOf(t, dir, "shop", "1"), profileOf(t, dir, "shop", "2"))
	e2 := profileOf(t, dir, "erp", "E-2")
	require.Contains(t, []string{profileOf(t, dir, "shop", "1"), profileOf(t, dir, "shop", "2")}, e2)

	r = runCLI(t, "merge", profileOf(t, dir, "shop", "1"), profileOf(t, dir, "shop", "2"), "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "(manual)")
	require.Equal(t, profileOf(t, dir, "shop", "1"), profileOf(t, dir, "shop", "2"))
	r = runCLI(t, "rebuild", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Equal(t, profileOf(t, dir, "shop", "1"), profileOf(t, dir, "shop", "2"), "rebuild undid a forced merge")
	require.Equal(t, profileOf(t, dir, "shop", "1"), profileOf(t, dir, "erp", "E-2"))

	// Splitting one record off by its key.
	r = runCLI(t, "unmerge", profileOf(t, dir, "shop", "3"), "-c", cfg)
	require.Equal(t, exitUsage, r.code, "a profile without merges needs --record")
	r = runCLI(t, "unmerge", profileOf(t, dir, "shop", "1"), "--record", "shop:2", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.NotEqual(t, profileOf(t, dir, "shop", "1"), profileOf(t, dir, "shop", "2"))
	r = runCLI(t, "rebuild", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.NotEqual(t, profileOf(t, dir, "shop", "1"), profileOf(t, dir, "shop", "2"), "rebuild re-glued a split-off record")

	for _, args := range [][]string{
		{"merge", "cus_nope", profileOf(t, dir, "shop", "3")},
		{"unmerge", profileOf(t, dir, "shop", "3"), "--record", "nocolon"},
		{"unmerge", profileOf(t, dir, "shop", "3"), "--merge", "mrg_nope"},
	} {
		r = runCLI(t, append(args, "-c", cfg)...)
		require.Equal(t, exitUsage, r.code, "%v: %s", args, r.stderr)
	}
}

// TestRebuildDryRunReportsARuleChange changes the rules so that records
// no longer merge by email alone, and checks what the dry run announces.
func TestRebuildDryRunReportsARuleChange(t *testing.T) {
	dir, cfg := identityFixture(t)
	csv := writeFile(t, dir, "shop.csv", `id,email,phone,first,last,dob,city,updated_at
1,a@example.com,,Ann,Lee,1990-01-01,Dubai,
2,a@example.com,,Ann,Lee,,,
3,b@example.com,,Bob,Ray,1970-05-05,Riyadh,
`)
	r := runCLI(t, "import", "shop", csv, "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "2 profiles (+2)")
	writeFile(t, dir, "c.yaml", `store: {driver: sqlite, dsn: crmhub.db}
sources:
  - name: shop
    type: file
    mapping: people.yaml
  - name: erp
    type: file
    mapping: people.yaml
identity:
  match: [phone]
`)
	r = runCLI(t, "rebuild", "--dry-run", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "dry run, nothing written: 3 customer records (0 no longer map); profiles 2 -> 3; 0 merges absorbing 0 profiles; 1 profiles split; 1 new profiles; 1 records change profile")
	require.Equal(t, profileOf(t, dir, "shop", "1"), profileOf(t, dir, "shop", "2"), "a dry run writes nothing")
	r = runCLI(t, "rebuild", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.NotEqual(t, profileOf(t, dir, "shop", "1"), profileOf(t, dir, "shop", "2"))
}
