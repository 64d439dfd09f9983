package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/store/storetest"
)

// envCLIChild turns the test binary into crmhub: tests run it as a child
// process (to kill it with SIGKILL, say) with the command line after its
// name.
const envCLIChild = "CRMHUB_TEST_CLI_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(envCLIChild) == "1" {
		main()
	}
	storetest.Main(cleanRun{m})
}

// cleanRun runs the tests, then removes what they built once for all.
type cleanRun struct{ m *testing.M }

func (c cleanRun) Run() int {
	defer removeChildBinary()
	return c.m.Run()
}

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestInitWritesAConfigThatValidates(t *testing.T) {
	dir := t.TempDir()
	r := runCLI(t, "init")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "# ", "the example is commented")
	path := writeFile(t, dir, "x.yaml", r.stdout)

	r = runCLI(t, "validate", "-c", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "OK")

	r = runCLI(t, "init", "-o", filepath.Join(dir, "y.yaml"))
	require.Equal(t, exitOK, r.code, r.stderr)
	r = runCLI(t, "init", "-o", filepath.Join(dir, "y.yaml"))
	require.Equal(t, exitUsage, r.code, "init does not overwrite without --force")
	require.Contains(t, r.stderr, "--force")
}

func TestValidateReportsEveryProblemWithItsLine(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "bad.yaml", `store:
  driver: sqlite
  dsn: crmhub.db
bus:
  driver: sqlite
htp:
  listen: ":8080"
sources:
  - name: shop
    type: shopify
    shop: example.myshopify.com
    access_token: ${CRMHUB_TEST_UNSET_TOKEN}
  - name: legacy
    type: filez
`)
	r := runCLI(t, "validate", "-c", path)
	require.Equal(t, exitUsage, r.code, "bad config exits 2")
	for _, line := range []string{"bad.yaml:6:", "bad.yaml:12:", "bad.yaml:14:"} {
		require.Contains(t, r.stderr, line)
	}
	require.Contains(t, r.stderr, "CRMHUB_TEST_UNSET_TOKEN")
	require.Contains(t, r.stderr, `"http"`, "suggests the key that was meant")
	require.Contains(t, r.stderr, "3 problems")
}

func TestValidatePrintRedactsSecrets(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CRMHUB_TEST_SHOP_TOKEN", "shpat_supersecret123")
	path := writeFile(t, dir, "c.yaml", `sources:
  - name: shop
    type: shopify
    shop: example.myshopify.com
    access_token: ${CRMHUB_TEST_SHOP_TOKEN}
`)
	r := runCLI(t, "validate", "-c", path, "--print")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.NotContains(t, r.stdout, "supersecret")
	require.Contains(t, r.stdout, "access_token")
	require.Contains(t, r.stdout, "driver: sqlite", "defaults are shown")
}

func TestUsageMistakesExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{"frobnicate"},
		{"status", "--no-such-flag"},
		{"version", "extra"},
		{"validate", "-c", filepath.Join(t.TempDir(), "missing.yaml")},
	} {
		r := runCLI(t, args...)
		require.Equal(t, exitUsage, r.code, "%v: %s", args, r.stderr)
		require.NotEmpty(t, r.stderr)
	}
}

func TestRuntimeFailureExitsOne(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CRMHUB_TEST_DEAD_DSN", "postgres://crmhub:pw@127.0.0.1:1/x?connect_timeout=2")
	path := writeFile(t, dir, "c.yaml", "store:\n  driver: postgres\n  dsn: ${CRMHUB_TEST_DEAD_DSN}\nbus:\n  driver: postgres\n")
	r := runCLI(t, "status", "-c", path)
	require.Equal(t, exitFailure, r.code, r.stderr)
	require.NotContains(t, r.stderr, ":pw@", "errors never show the password")
}

func TestVersion(t *testing.T) {
	r := runCLI(t, "version")
	require.Equal(t, exitOK, r.code)
	require.Regexp(t, regexp.MustCompile(`^crmhub \S+`), r.stdout)
}

// latestMigration is the version of the newest migration of a driver,
// read from the migration files' names (00004_deliveries.sql is 4).
func latestMigration(t *testing.T, driver string) int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "store", "migrations", driver, "*.sql"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	v, err := strconv.ParseInt(strings.SplitN(filepath.Base(slices.Max(files)), "_", 2)[0], 10, 64)
	require.NoError(t, err)
	return v
}

func TestMigrateAndStatusOnBothStores(t *testing.T) {
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			dir := t.TempDir()
			cfg := "store: {driver: sqlite, dsn: crmhub.db}\n"
			if driver == "postgres" {
				t.Setenv("CRMHUB_TEST_STORE_DSN", storetest.PostgresDSN(t))
				cfg = "store:\n  driver: postgres\n  dsn: ${CRMHUB_TEST_STORE_DSN}\nbus: {driver: postgres}\n"
			}
			path := writeFile(t, dir, "c.yaml", cfg)

			r := runCLI(t, "status", "-c", path)
			require.Equal(t, exitOK, r.code, r.stderr)
			require.Contains(t, r.stdout, "migrations pending")

			r = runCLI(t, "migrate", "-c", path)
			require.Equal(t, exitOK, r.code, r.stderr)
			require.Contains(t, r.stdout, "applied 1")
			require.Contains(t, r.stdout, "0 pending")
			r = runCLI(t, "migrate", "-c", path)
			require.Equal(t, exitOK, r.code, r.stderr)
			require.NotContains(t, r.stdout, "applied 1", "a second migrate has nothing to do")

			r = runCLI(t, "migrate", "--status", "-c", path)
			require.Equal(t, exitOK, r.code, r.stderr)
			require.Regexp(t, `1 applied\s+00001_init.sql`, r.stdout)

			r = runCLI(t, "status", "-c", path, "--json")
			require.Equal(t, exitOK, r.code, r.stderr)
			var rep statusReport
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
			require.Equal(t, driver, rep.Store.Driver)
			require.EqualValues(t, latestMigration(t, driver), rep.Store.SchemaVersion)
			require.Zero(t, rep.Store.PendingMigrates)
			require.NotContains(t, rep.Store.Location, "@", "no credentials in the location")
		})
	}
}

func TestDemoRunsOfflineAndIsRepeatable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	args := []string{"demo", "--once", "--dir", dir, "--people", "20", "--listen", "127.0.0.1:0"}
	r := runCLI(t, args...)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.FileExists(t, filepath.Join(dir, "crmhub.yaml"))
	require.FileExists(t, filepath.Join(dir, "crmhub.db"))
	m := regexp.MustCompile(`fed (\d+) records, (\d+) of them new`).FindStringSubmatch(r.stdout)
	require.NotNil(t, m, r.stdout)
	require.Equal(t, m[1], m[2], "a fresh demo lands everything")
	require.Contains(t, r.stdout, "raw records  "+m[1])

	r = runCLI(t, args...)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "fed "+m[1]+" records, 0 of them new")

	// The demo's config works for every other command as it is: it holds
	// no secret, and needs no environment.
	r = runCLI(t, "status", "-c", filepath.Join(dir, "crmhub.yaml"))
	require.Equal(t, exitOK, r.code, r.stderr)
	require.True(t, strings.Contains(r.stdout, "raw records  "+m[1]), r.stdout)
	r = runCLI(t, "dlq", "list", "-c", filepath.Join(dir, "crmhub.yaml"))
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "C-BROKEN")
}
