package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/store"
)

// TestAPIMergesAndExportsAsTheCLI runs crmhub run over profiles the CLI
// imported, undoes and forces a merge through the REST API, and checks
// that the store ends up as `crmhub unmerge` and `crmhub merge` leave it,
// with the token in the merge log, and that the API's export is the CLI's
// export byte for byte.
func TestAPIMergesAndExportsAsTheCLI(t *testing.T) {
	dir, cfg := identityFixture(t)
	csv := writeFile(t, dir, "shop.csv", `id,email,phone,first,last,dob,city,updated_at
1,sara@example.com,,Sara,Al Amiri,,Dubai,2026-01-01T00:00:00Z
2,,050 123 4567,Sara,Haddad,1991-03-14,,2026-01-02T00:00:00Z
3,other@example.com,,John,Smith,1980-01-01,London,2026-01-01T00:00:00Z
`)
	r := runCLI(t, "import", "shop", csv, "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	bridge := writeFile(t, dir, "bridge.ndjson", `{"id":"E-1","email":"SARA@example.com","phone":"+971501234567","first":"Sara","last":"Al Amiri"}
`)
	r = runCLI(t, "import", "erp", bridge, "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "1 merges (+1)")
	sara := profileOf(t, dir, "shop", "1")
	require.Equal(t, sara, profileOf(t, dir, "shop", "2"))
	r = runCLI(t, "token", "create", "--name", "ops", "--scope", "write", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	token := strings.TrimSpace(r.stdout)

	runCfg := writeFile(t, dir, "run.yaml", `store: {driver: sqlite, dsn: crmhub.db}
bus: {driver: sqlite}
http: {listen: "127.0.0.1:0", page_size_max: 2, rate_limit: 50, rate_burst: 50}
`+peopleSources)
	run := startRun(t, runCfg)
	defer func() { require.Equal(t, exitOK, run.stop(t)) }()
	call := func(method, path, body string) (int, []byte) {
		t.Helper()
		status, b := run.call(t, method, path, token, body)
		return status, []byte(b)
	}

	status, body := call(http.MethodGet, "/readyz", "")
	require.Equal(t, http.StatusOK, status, "%s", body)
	status, body = call(http.MethodGet, "/api/v1/customers?limit=100", "")
	require.Equal(t, http.StatusOK, status, "%s", body)
	var page struct{ Data []crmhub.Customer }
	require.NoError(t, json.Unmarshal(body, &page))
	require.Len(t, page.Data, 2, "http.page_size_max clamps the page")

	var res struct {
		Merges   []crmhub.Merge `json:"merges"`
		Undone   []string       `json:"undone"`
		Profiles []struct {
			ID         string  `json:"id"`
			MergedInto *string `json:"merged_into"`
		} `json:"profiles"`
	}
	status, body = call(http.MethodPost, "/api/v1/customers/"+sara+"/unmerge", "")
	require.Equal(t, http.StatusOK, status, "%s", body)
	require.NoError(t, json.Unmarshal(body, &res))
	require.Len(t, res.Undone, 1)
	require.NotEqual(t, profileOf(t, dir, "shop", "1"), profileOf(t, dir, "shop", "2"), "the merge is undone")
	require.NotEmpty(t, res.Profiles)

	status, body = call(http.MethodPost, "/api/v1/customers/"+sara+"/unmerge", "")
	require.Equal(t, http.StatusConflict, status, "nothing left to undo: %s", body)
	status, body = call(http.MethodPost, "/api/v1/merges", `{"customer_ids":["cus_nobody","`+sara+`"]}`)
	require.Equal(t, http.StatusNotFound, status, "%s", body)

	a, b := profileOf(t, dir, "shop", "1"), profileOf(t, dir, "shop", "2")
	announcedA, announcedB := announcements(t, dir, a), announcements(t, dir, b)
	status, body = call(http.MethodPost, "/api/v1/merges", fmt.Sprintf(`{"customer_ids":[%q,%q],"reason":"same person"}`, a, b))
	require.Equal(t, http.StatusOK, status, "%s", body)
	require.Equal(t, announcedA+1, announcements(t, dir, a), "the merge announces the profiles it changed, for the destinations")
	require.Equal(t, announcedB+1, announcements(t, dir, b))
	require.NoError(t, json.Unmarshal(body, &res))
	require.Len(t, res.Merges, 1)
	require.Equal(t, "manual", res.Merges[0].Rule)
	require.Equal(t, "api:ops", res.Merges[0].Actor)
	require.Equal(t, "same person", res.Merges[0].Reason, "the merge log keeps the reason")
	require.Equal(t, profileOf(t, dir, "shop", "1"), profileOf(t, dir, "shop", "2"), "the forced merge holds")

	s, err := store.Open(context.Background(), store.Options{Driver: store.DriverSQLite, DSN: filepath.Join(dir, "crmhub.db")})
	require.NoError(t, err)
	merges, err := s.MergesOf(context.Background(), sara)
	_ = s.Close()
	require.NoError(t, err)
	undoneBy := ""
	for _, m := range merges {
		if m.Undone() {
			undoneBy = m.UndoneBy
		}
	}
	require.Equal(t, "api:ops", undoneBy, "the merge log names the token that undid the merge")

	for _, format := range []string{"ndjson", "csv"} {
		status, body = call(http.MethodGet, "/api/v1/export/customers?format="+format, "")
		require.Equal(t, http.StatusOK, status, "%s", body)
		cli := runCLI(t, "export", "customers", "--format", format, "-c", cfg)
		require.Equal(t, exitOK, cli.code, cli.stderr)
		require.Equal(t, cli.stdout, string(body), "the API's %s export is the CLI's", format)
		require.Contains(t, cli.stdout, "other@example.com", "the export holds the profiles")
	}
}

// announcements counts the messages on the SQLite bus that announce
// profile id as changed.
func announcements(t *testing.T, dir, id string) int {
	t.Helper()
	s, err := store.Open(context.Background(), store.Options{Driver: store.DriverSQLite, DSN: filepath.Join(dir, "crmhub.db")})
	require.NoError(t, err)
	defer s.Close()
	var n int
	require.NoError(t, s.ReadDB().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM bus_messages
		WHERE topic = ? AND CAST(payload AS TEXT) LIKE ?`, pipeline.TopicProfilesChanged, `%"`+id+`"%`).Scan(&n))
	return n
}
