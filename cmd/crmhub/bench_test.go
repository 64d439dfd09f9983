package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
)

// TestBenchAPILoadsARunningServer runs crmhub run over imported profiles
// and `crmhub bench api` against it: the figures are there, every request
// was answered 200, the export has one line per live profile, and a wrong
// token or a wrong flag fails the run with a clear message.
func TestBenchAPILoadsARunningServer(t *testing.T) {
	dir, cfg := identityFixture(t)
	const people = 60
	var csv strings.Builder
	csv.WriteString("id,email,phone,first,last,dob,city,updated_at\n")
	for i := range people {
		fmt.Fprintf(&csv, "%d,person%d@example.com,,First%d,Last%d,,Dubai,2026-01-01T00:00:00Z\n", i+1, i, i, i)
	}
	r := runCLI(t, "import", "shop", writeFile(t, dir, "shop.csv", csv.String()), "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	r = runCLI(t, "token", "create", "--name", "bench", "--scope", "read", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	token := strings.TrimSpace(r.stdout)
	live := liveProfiles(t, filepath.Join(dir, "crmhub.db"))
	require.Equal(t, people, live, "distinct emails, distinct profiles")

	runCfg := writeFile(t, dir, "run.yaml", `store: {driver: sqlite, dsn: crmhub.db}
bus: {driver: sqlite}
http: {listen: "127.0.0.1:0", rate_limit: 100000, rate_burst: 100000}
sources:
  - name: shop
    type: file
    mapping: people.yaml
`)
	run := startRun(t, runCfg)
	defer func() { require.Equal(t, exitOK, run.stop(t)) }()
	base := "http://" + run.addr
	t.Setenv(envBenchToken, "")

	t.Run("json", func(t *testing.T) {
		r := runCLI(t, "bench", "api", "--url", base, "--token", token, "--ids", "50", "--requests", "200",
			"--concurrency", "4", "--json")
		require.Equal(t, exitOK, r.code, r.stderr)
		var res benchResult
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &res), r.stdout)
		require.Equal(t, 50, res.IDs, "60 profiles hold 50 ids")
		require.Equal(t, "the first page", res.Sampling)
		g := res.Get
		require.Equal(t, 200, g.Requests)
		require.Equal(t, 4, g.Concurrency)
		require.Zero(t, g.Non200)
		require.Zero(t, g.Errors)
		require.Positive(t, g.PerSecond)
		require.Positive(t, g.P50)
		require.True(t, g.P50 <= g.P90 && g.P90 <= g.P99 && g.P99 <= g.P999 && g.P999 <= g.Max, "%+v", g)
		require.NotNil(t, res.Export)
		require.True(t, res.Export.Complete)
		require.EqualValues(t, live, res.Export.Lines, "one line per live profile")
		require.Positive(t, res.Export.Bytes)
		require.NotContains(t, r.stdout+r.stderr, token, "the token is never printed")
	})

	t.Run("spread sample and table", func(t *testing.T) {
		old := benchPageSize
		benchPageSize = 10
		t.Cleanup(func() { benchPageSize = old })
		t.Setenv(envBenchToken, token)
		r := runCLI(t, "bench", "api", "--url", base, "--ids", "30", "--requests", "40", "--export=false")
		require.Equal(t, exitOK, r.code, r.stderr)
		require.Regexp(t, `ids sampled\s+([1-2][0-9]|30), from 3 pages spread over the id range`, r.stdout)
		for _, want := range []string{"3 pages spread over the id range", "40 requests, 4 at once", "requests/s",
			"p50", "p90", "p99 ", "p99.9", "max", "non-200   "} {
			require.Contains(t, r.stdout, want)
		}
		require.NotContains(t, r.stdout, "export", "--export=false")
		require.NotContains(t, r.stdout, token)
	})

	t.Run("wrong token", func(t *testing.T) {
		r := runCLI(t, "bench", "api", "--url", base, "--token", "not-a-token", "--ids", "5", "--requests", "5")
		require.Equal(t, exitFailure, r.code, r.stdout)
		require.Contains(t, r.stderr, "401 Unauthorized: unauthorized: the API token is unknown or revoked")
		require.Contains(t, r.stderr, "is the token right")
		require.NotContains(t, r.stderr, "not-a-token")
		require.Empty(t, r.stdout, "nothing was measured")
	})

	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no token", []string{"--url", base}, "no API token: set " + envBenchToken},
		{"bad url", []string{"--url", "127.0.0.1:1", "--token", token}, "want the base URL"},
		{"no concurrency", []string{"--url", base, "--token", token, "--concurrency", "0"}, "--concurrency 0: want at least 1"},
		{"extra argument", []string{"--url", base, "--token", token, "more"}, "accepts 0 arg(s)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(t, append([]string{"bench", "api"}, c.args...)...)
			require.Equal(t, exitUsage, r.code, r.stderr)
			require.Contains(t, r.stderr, c.want)
			require.NotContains(t, r.stderr, token)
		})
	}
}

// liveProfiles counts the profiles an export holds, read from the store
// directly.
func liveProfiles(t *testing.T, path string) int {
	t.Helper()
	s, err := store.Open(context.Background(), store.Options{Driver: store.DriverSQLite, DSN: path})
	require.NoError(t, err)
	defer s.Close()
	n := 0
	require.NoError(t, s.EachCustomer(context.Background(), store.ExportOptions{}, func(crmhub.Customer) error {
		n++
		return nil
	}))
	return n
}
