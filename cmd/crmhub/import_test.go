package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/store"
)

func importFixture(t *testing.T) (dir, cfg string) {
	t.Helper()
	dir = t.TempDir()
	writeFile(t, dir, "legacy.yaml", `entity: customer
id: rec_id
fields:
  first_name: given_name
  last_name: surname
  birthday: {from: date_of_birth, transform: "date(20060102)"}
  address.postal_code: postcode
`)
	cfg = writeFile(t, dir, "c.yaml", `store:
  driver: sqlite
  dsn: crmhub.db
sources:
  - name: legacy
    type: file
    mapping: legacy.yaml
  - name: leads
    type: file
    mapping: legacy.yaml
    format: ndjson
`)
	return dir, cfg
}

func TestImportCSV(t *testing.T) {
	dir, cfg := importFixture(t)
	csvPath := writeFile(t, dir, "febrl.csv", `rec_id, given_name, surname, postcode, date_of_birth
rec-1-org, michaela, neumann, 0223, 19151111
rec-2-org, "courtney, jr", painter, 4017, 19801212
rec-3-org, too, short
, nobody, noid, 4017, 19801212
rec-5-org, lachlan, berry, 4814, 19990219
`)
	r := runCLI(t, "import", "legacy", csvPath, "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "3 records, 3 new to the raw table; 2 bad lines; 3 profiles (+3), 0 merges (+0) (see crmhub dlq list)")

	r = runCLI(t, "dlq", "list", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "line 4 has 3 fields, the header 5")
	require.Contains(t, r.stdout, "line 5: record has no id")

	// Again: nothing changes, not even the dead letters' attempts.
	r = runCLI(t, "import", "legacy", csvPath, "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "3 records, 0 new to the raw table; 2 bad lines; 3 profiles (+0), 0 merges (+0)")
	s, err := store.Open(context.Background(), store.Options{Driver: store.DriverSQLite, DSN: filepath.Join(dir, "crmhub.db")})
	require.NoError(t, err)
	defer s.Close()
	dls, err := s.DeadLetters(context.Background(), 0, 10)
	require.NoError(t, err)
	require.Len(t, dls, 2)
	for _, dl := range dls {
		require.Equal(t, 1, dl.Attempts)
		require.Equal(t, "legacy", dl.Source)
		require.NotEmpty(t, dl.Metadata["line"])
	}
	recs, err := s.RawRecords(context.Background(), "legacy", 0, 10)
	require.NoError(t, err)
	require.Len(t, recs, 3)
	require.Equal(t, "rec-1-org", recs[0].ExternalID)
	require.JSONEq(t, `{"rec_id":"rec-1-org","given_name":"michaela","surname":"neumann","postcode":"0223","date_of_birth":"19151111"}`,
		string(recs[0].Payload), "leading zeros stay")
}

func TestImportNDJSON(t *testing.T) {
	dir, cfg := importFixture(t)
	path := writeFile(t, dir, "leads.data", `{"rec_id": 9007199254740993, "given_name": "Zahra"}
{"rec_id": "x",
{"given_name": "no id"}
`)
	r := runCLI(t, "import", "leads", path, "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "1 records, 1 new to the raw table; 2 bad lines")
}

func TestImportMistakesExitTwo(t *testing.T) {
	dir, cfg := importFixture(t)
	bad := writeFile(t, dir, "bad.csv", "id,name\n1,x\n")
	r := runCLI(t, "import", "legacy", bad, "-c", cfg)
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, `legacy.yaml:2: id: column "rec_id" is not in the file's header`)

	r = runCLI(t, "import", "nope", bad, "-c", cfg)
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, `"nope" is not a file source`)

	r = runCLI(t, "import", "legacy", filepath.Join(dir, "missing.csv"), "-c", cfg)
	require.Equal(t, exitUsage, r.code)
}
