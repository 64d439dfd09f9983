package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTokenCreateListRevoke(t *testing.T) {
	path := writeFile(t, t.TempDir(), "c.yaml", "store:\n  driver: sqlite\n  dsn: crmhub.db\n")
	r := runCLI(t, "token", "list", "-c", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "no tokens")

	for name, args := range map[string][]string{
		"no name":       {"token", "create", "--scope", "read"},
		"unknown scope": {"token", "create", "--name", "x", "--scope", "root"},
		"revoke no id":  {"token", "revoke"},
		"revoke nobody": {"token", "revoke", "tok_nope"},
	} {
		r := runCLI(t, append(args, "-c", path)...)
		require.Equal(t, exitUsage, r.code, "%s: %s", name, r.stderr)
	}

	r = runCLI(t, "token", "create", "--name", "mis-reporting", "--scope", "write", "-c", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	secret := strings.TrimSpace(r.stdout)
	require.True(t, strings.HasPrefix(secret, "crmhub_"), "the token alone on stdout: %q", r.stdout)
	require.NotContains(t, secret, "\n")
	require.Contains(t, r.stderr, "shown only this once")
	require.NotContains(t, r.stderr, secret)

	r = runCLI(t, "token", "list", "-c", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "mis-reporting")
	require.Contains(t, r.stdout, "write")
	require.NotContains(t, r.stdout, secret, "secrets are never listed")

	r = runCLI(t, "token", "list", "--json", "-c", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.NotContains(t, r.stdout, secret[len("crmhub_"):])
	var toks []tokenView
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &toks))
	require.Len(t, toks, 1)
	require.Equal(t, "write", toks[0].Scope)
	require.Nil(t, toks[0].RevokedAt)

	r = runCLI(t, "token", "revoke", toks[0].ID, "-c", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	r = runCLI(t, "token", "list", "--json", "-c", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &toks))
	require.NotNil(t, toks[0].RevokedAt)
}

// TestRunServesTheRESTAPI makes a token with the CLI, starts crmhub run
// and calls the API with it, then revokes it while the server runs.
func TestRunServesTheRESTAPI(t *testing.T) {
	path := writeFile(t, t.TempDir(), "c.yaml", `store: {driver: sqlite, dsn: crmhub.db}
bus: {driver: sqlite}
http: {listen: "127.0.0.1:0"}
log: {level: info, format: text}
`)
	r := runCLI(t, "token", "create", "--name", "ops", "--scope", "read", "-c", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	secret := strings.TrimSpace(r.stdout)

	run := startRun(t, path)
	get := func(p, token string) (int, string) { return run.call(t, http.MethodGet, p, token, "") }
	code, body := get("/api/v1/customers", secret)
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"data":[],"next_cursor":null}`, body)
	code, body = get("/api/v1/customers", "")
	require.Equal(t, http.StatusUnauthorized, code, body)
	code, _ = get("/api/openapi.json", "")
	require.Equal(t, http.StatusOK, code)

	r = runCLI(t, "token", "list", "--json", "-c", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	var toks []tokenView
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &toks))
	require.NotNil(t, toks[0].LastUsedAt, "the token's use is recorded")
	r = runCLI(t, "token", "revoke", toks[0].ID, "-c", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	code, body = get("/api/v1/customers", secret)
	require.Equal(t, http.StatusUnauthorized, code, "a revoked token is refused at once: %s", body)

	require.Equal(t, exitOK, run.stop(t), run.stderr)
	require.NotContains(t, run.stderr.String(), secret, "tokens are never logged")
}
