package config

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the .golden files in testdata/problems")

// testEnv is the environment of the tests below: variables whose name
// starts with UNSET_ are missing, all others are set.
var testEnv = mapEnv(map[string]string{
	"SHOPIFY_TOKEN":          "shpat_test_token_value",
	"SHOPIFY_WEBHOOK_SECRET": "whsec_test_value",
	"SHOPIFY_CLIENT_SECRET":  "client_secret_test_value",
	"ERP_SECRET":             "erp_test_secret_value",
	"HUBSPOT_TOKEN":          "pat_test_value",
	"META_APP_SECRET":        "meta_app_secret_value",
	"META_ADS_TOKEN":         "meta_ads_token_value",
	"DATABASE_URL":           "postgres://crmhub@db:5432/crmhub",
	"PGPASSWORD":             "pg_password_value",
	"LISTEN_ADDR":            "127.0.0.1:9090",
	"MAX_BODY":               "2048",
	"SYNC_EVERY":             "15m",
})

func parseProblems(t *testing.T, name string, data []byte, opts ...Option) Problems {
	t.Helper()
	c, err := Parse(name, data, testEnv, opts...)
	require.Error(t, err)
	require.Nil(t, c)
	var ps Problems
	require.True(t, errors.As(err, &ps), "want Problems, got %T", err)
	return ps
}

// TestProblemsGolden parses each broken file in testdata/problems and
// compares the full report with the .golden file next to it; run with
// -update after an intended change and review the diff.
func TestProblemsGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/problems/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			ps := parseProblems(t, file, data)
			for _, p := range ps {
				require.NotEmpty(t, p.Message, p.Error())
				require.NotEmpty(t, p.Hint, "every problem says what to do: %s", p.Error())
				require.Equal(t, file, p.File)
			}
			got := ps.Error() + "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./config -run TestProblemsGolden -update")
			require.Equal(t, string(want), got)
		})
	}
}

func TestThreeMistakesReportedTogether(t *testing.T) {
	data, err := os.ReadFile("testdata/problems/three_mistakes.yaml")
	require.NoError(t, err)
	ps := parseProblems(t, "crmhub.yaml", data)

	type want struct {
		line int
		path string
		msg  string
	}
	var got []want
	for _, p := range ps {
		got = append(got, want{p.Line, p.Path, p.Message})
	}
	require.Equal(t, []want{
		{4, "htp", `unknown key "htp" (did you mean "http"?)`},
		{10, "sources[0].access_token", "environment variable UNSET_SHOPIFY_TOKEN is not set"},
		{12, "sources[1].type", `unknown source type "shopfy" (did you mean "shopify"?)`},
	}, got)
	require.Equal(t, `crmhub.yaml:12: sources[1].type: unknown source type "shopfy" (did you mean "shopify"?); known: file, ga4, meta, sample, shopify, webhook`, ps[2].Error())
	require.Equal(t, "export UNSET_SHOPIFY_TOKEN=... or remove the key", ps[1].Hint)
}

func TestUnknownKeySuggestions(t *testing.T) {
	tests := []struct {
		name, yaml, path, msg string
	}{
		{"typo", "htpp: {}", "htpp", `unknown key "htpp" (did you mean "http"?)`},
		{"transposed", "sources: [{name: a, type: sample, sede: 1}]", "sources[0].sede", `unknown key "sede" for a sample source (did you mean "seed"?)`},
		{"camel case", "sources: [{name: a, type: shopify, shop: a.myshopify.com, accessToken: x}]", "sources[0].accessToken", `unknown key "accessToken" for a shopify source (did you mean "access_token"?)`},
		{"nothing close", "store: {flavour: vanilla}", "store.flavour", `unknown key "flavour"`},
		{"nested", "bus: {driver: nats, nats: {url: nats://h:4222, stream: x}}", "bus.nats.stream", `unknown key "stream"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := parseProblems(t, "c.yaml", []byte(tt.yaml))
			require.Len(t, ps, 1, ps.Error())
			require.Equal(t, tt.path, ps[0].Path)
			require.Equal(t, tt.msg, ps[0].Message)
			require.Equal(t, 1, ps[0].Line)
			require.True(t, strings.HasPrefix(ps[0].Hint, "remove it or use one of: "), ps[0].Hint)
		})
	}
}

func TestTypeErrorsHaveLines(t *testing.T) {
	ps := parseProblems(t, "c.yaml", []byte("http:\n  max_body_bytes: 1MB\n  listen: [a]\nsources:\n  - 7\n  - name: x\n    type: nope\n"))
	require.Equal(t, Problems{
		{File: "c.yaml", Line: 2, Path: "http.max_body_bytes", Message: `want a whole number, got "1MB"`, Hint: "write a whole number here"},
		{File: "c.yaml", Line: 3, Path: "http.listen", Message: "want a single value, got a list", Hint: "write one value after listen:"},
		{File: "c.yaml", Line: 5, Path: "sources[0]", Message: `want keys indented under sources, got "7"`, Hint: "write key: value pairs on the lines below, indented"},
		// The broken first item must not shift the second one to sources[0].
		{File: "c.yaml", Line: 7, Path: "sources[1].type", Message: `unknown source type "nope"`, Hint: "known: file, ga4, meta, sample, shopify, webhook"},
	}, ps)
}

func TestSecretLiteralRejected(t *testing.T) {
	ps := parseProblems(t, "c.yaml", []byte(`sources:
  - name: erp
    type: webhook
    mapping: testdata/mappings/erp.yaml
    secret: s3cr3t-value
`))
	require.Len(t, ps, 1)
	require.Equal(t, "sources[0].secret", ps[0].Path)
	require.Equal(t, 5, ps[0].Line)
	require.Equal(t, "secret written into the file", ps[0].Message)
	require.Equal(t, "move it to an environment variable and write secret: ${ERP_SECRET}", ps[0].Hint)
	require.NotContains(t, ps.Error(), "s3cr3t-value")
}

func TestEnvExpansion(t *testing.T) {
	dir := t.TempDir()
	c, err := Parse(filepath.Join(dir, "c.yaml"), []byte(`
http:
  listen: ${LISTEN_ADDR}
  max_body_bytes: "${MAX_BODY}"
sources:
  - name: shop
    type: shopify
    shop: example.myshopify.com
    access_token: ${SHOPIFY_TOKEN}
    schedule: ${SYNC_EVERY}
destinations:
  - name: tags
    type: shopify
    source: shop
    push: [tags]
    tag_prefix: "$${crm}:"
identity:
  blocked_values: ["cost $5", "$${HOME}", "a$$b"]
`), testEnv)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:9090", c.HTTP.Listen)
	require.EqualValues(t, 2048, c.HTTP.MaxBodyBytes, "a quoted reference still fills a number")
	require.Equal(t, "shpat_test_token_value", c.Sources[0].AccessToken.Reveal())
	require.Equal(t, Duration(15*time.Minute), c.Sources[0].Schedule)
	require.Equal(t, "${crm}:", c.Destinations[0].TagPrefix)
	require.Equal(t, []string{"cost $5", "${HOME}", "a$$b"}, c.Identity.BlockedValues)
}

func TestUnquotedReferenceInFlowStyle(t *testing.T) {
	ps := parseProblems(t, "c.yaml", []byte("sources:\n  - {name: s, type: shopify,\n     access_token: ${TOKEN}}\n"))
	require.Len(t, ps, 1)
	require.Equal(t, `inside [ ] and { }, quote references: ["${NAME}"]`, ps[0].Hint)
}

func TestEnvValueStaysText(t *testing.T) {
	// A secret that happens to look like YAML true or null is still text.
	env := mapEnv(map[string]string{"TOKEN": "true", "SECRET": "null"})
	c, err := Parse("c.yaml", []byte(`sources:
  - {name: s, type: shopify, shop: a.myshopify.com, access_token: "${TOKEN}", webhook_secret: '${SECRET}'}
`), env)
	require.NoError(t, err)
	require.Equal(t, "true", c.Sources[0].AccessToken.Reveal())
	require.Equal(t, "null", c.Sources[0].WebhookSecret.Reveal())
}

func TestDefaultsApplied(t *testing.T) {
	dir := t.TempDir()
	c, err := Parse(filepath.Join(dir, "crmhub.yaml"), []byte(`sources:
  - {name: shop, type: shopify, shop: a.myshopify.com, access_token: "${SHOPIFY_TOKEN}"}
  - {name: ga, type: ga4, property_id: "1"}
  - {name: leads, type: meta, app_secret: "${META_APP_SECRET}", verify_token: "${META_APP_SECRET}", access_token: "${META_ADS_TOKEN}"}
  - {name: erp, type: webhook, secret: "${ERP_SECRET}", mapping: `+filepath.Join(mustAbs(t, "testdata/mappings/erp.yaml"))+`}
destinations:
  - {name: tags, type: shopify, source: shop, push: [tags]}
`), testEnv)
	require.NoError(t, err)

	require.Equal(t, StoreConfig{Driver: "sqlite", DSN: Secret(filepath.Join(dir, "crmhub.db")), Synchronous: "full"}, c.Store)
	require.Equal(t, BusConfig{Driver: "sqlite", DSN: c.Store.DSN}, c.Bus)
	require.Equal(t, HTTPConfig{Listen: ":8080", ReadTimeout: Duration(10 * time.Second), WriteTimeout: Duration(30 * time.Second), IdleTimeout: Duration(2 * time.Minute), MaxBodyBytes: 1 << 20,
		PageSizeMax: 1000, RateLimit: 20, RateBurst: 40}, c.HTTP)
	require.Equal(t, LogConfig{Level: "info", Format: "text"}, c.Log)

	shop := c.Sources[0]
	require.Equal(t, "2026-01", shop.APIVersion)
	require.Equal(t, []string{"customers", "orders"}, shop.Streams)
	require.Equal(t, Duration(60*Day), shop.Backfill)
	require.Equal(t, Duration(3*Day), c.Sources[1].Lookback)
	require.Equal(t, "v21.0", c.Sources[2].APIVersion)
	require.Equal(t, "X-Signature-256", c.Sources[3].SignatureHeader)
	require.Equal(t, "crmhub:", c.Destinations[0].TagPrefix)

	require.Equal(t, []MatchRule{{Field: "email"}, {Field: "phone"}}, c.Identity.Match)
	require.Equal(t, 5, c.Identity.MaxProfilesPerKey)
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	require.NoError(t, err)
	return abs
}

func TestRelativePathsResolvedAgainstConfigDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etc")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "mappings"), 0o755))
	for _, f := range []string{"mappings/erp.yaml", "sa.json"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte("{}"), 0o600))
	}
	abs := filepath.Join(t.TempDir(), "legacy.yaml")
	require.NoError(t, os.WriteFile(abs, []byte("{}"), 0o600))
	path := filepath.Join(dir, "crmhub.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`store: {dsn: data/crm.db}
sources:
  - {name: erp, type: webhook, secret: "${ERP_SECRET}", mapping: mappings/erp.yaml}
  - {name: legacy, type: file, mapping: `+abs+`}
  - {name: ga, type: ga4, property_id: "1", credentials_file: ./sa.json}
`), 0o600))
	t.Setenv("ERP_SECRET", "x")

	// Loading from another working directory changes nothing.
	t.Chdir(t.TempDir())
	c, err := Load(path)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "data/crm.db"), c.Store.DSN.Reveal())
	require.Equal(t, filepath.Join(dir, "mappings/erp.yaml"), c.Sources[0].Mapping)
	require.Equal(t, abs, c.Sources[1].Mapping)
	require.Equal(t, filepath.Join(dir, "sa.json"), c.Sources[2].CredentialsFile)
	require.Equal(t, path, c.File())

	// And a missing mapping is reported with the path that was looked for.
	require.NoError(t, os.Remove(filepath.Join(dir, "mappings/erp.yaml")))
	_, err = Load(path)
	require.ErrorContains(t, err, "crmhub.yaml:3: sources[0].mapping: mapping file "+filepath.Join(dir, "mappings/erp.yaml")+" does not exist")
}

func TestSQLiteSpecialDSNsKept(t *testing.T) {
	for _, dsn := range []string{":memory:", "file:crm.db?mode=memory"} {
		c, err := Parse("/etc/crmhub/c.yaml", []byte("store: {dsn: '"+dsn+"'}\n"), nil)
		require.NoError(t, err)
		require.Equal(t, dsn, c.Store.DSN.Reveal())
	}
}

func TestEphemeralBusOnlyWhenAllowed(t *testing.T) {
	data := []byte("bus: {driver: gochannel}\n")
	ps := parseProblems(t, "c.yaml", data)
	require.Len(t, ps, 1)
	require.Contains(t, ps[0].Message, "loses them on a crash")

	c, err := Parse("c.yaml", data, nil, WithEphemeralBus())
	require.NoError(t, err)
	require.True(t, c.AllowEphemeralBus)
	require.Equal(t, "gochannel", c.Bus.Driver)
}

func TestLoad(t *testing.T) {
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "crmhub.yaml")
		_, err := Load(path)
		require.ErrorIs(t, err, fs.ErrNotExist)
		var ps Problems
		require.True(t, errors.As(err, &ps))
		require.Equal(t, path+": config file not found; write one with crmhub init, or point -c or CRMHUB_CONFIG at it", err.Error())
	})
	t.Run("environment", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "crmhub.yaml")
		require.NoError(t, os.WriteFile(path, []byte(`sources: [{name: s, type: shopify, shop: a.myshopify.com, access_token: "${CRMHUB_TEST_TOKEN}"}]`), 0o600))
		t.Setenv("CRMHUB_TEST_TOKEN", "from-env")
		c, err := Load(path)
		require.NoError(t, err)
		require.Equal(t, "from-env", c.Sources[0].AccessToken.Reveal())
	})
}

func TestDefaultPath(t *testing.T) {
	t.Setenv(EnvConfigPath, "")
	require.Equal(t, "crmhub.yaml", DefaultPath())
	t.Setenv(EnvConfigPath, "/etc/crmhub/prod.yaml")
	require.Equal(t, "/etc/crmhub/prod.yaml", DefaultPath())
}

func TestValidateConfigBuiltInGo(t *testing.T) {
	c := &Config{Sources: []SourceConfig{{Name: "shop", Type: "shopify", Shop: "a.myshopify.com", Secret: "x"}}}
	c.ApplyDefaults()
	err := c.Validate()
	var ps Problems
	require.True(t, errors.As(err, &ps))
	require.Equal(t, []string{
		"sources[0].secret: secret does not apply to a shopify source; remove it; a shopify source takes: access_token, api_version, auth, backfill, base_url, client_id, client_secret, default_region, mapping, name, overlap, schedule, scopes, shop, streams, tenant, type, webhook_secret, webhook_secrets_previous",
		"sources[0].access_token: a shopify source needs credentials; use exactly one way to authenticate: access_token: ${SHOP_ACCESS_TOKEN}, or client_id and client_secret: ${SHOP_CLIENT_SECRET}",
	}, strings.Split(err.Error(), "\n"))

	c.Sources[0].Secret = ""
	c.Sources[0].AccessToken = "t"
	require.NoError(t, c.Validate())
}

func TestRedactedOmitsSecrets(t *testing.T) {
	c, err := Parse(exampleDir(t), fullExample(t), mapEnv(exampleEnv))
	require.NoError(t, err)
	out, err := c.Redacted()
	require.NoError(t, err)
	for name, v := range exampleEnv {
		require.NotContains(t, string(out), v, name)
	}
	require.Contains(t, string(out), "access_token: '[REDACTED]'")
	require.Contains(t, string(out), "backfill: 60d")
	require.Contains(t, string(out), "- {fuzzy: [name, birthday, address, email, phone], threshold: 0.95}")

	// A sqlite path is not a credential and is shown.
	c, err = Parse("/srv/crmhub/crmhub.yaml", Example(), nil)
	require.NoError(t, err)
	out, err = c.Redacted()
	require.NoError(t, err)
	require.Contains(t, string(out), "dsn: /srv/crmhub/crmhub.db\n")
}

func TestBusInheritsStoreDSNFromEnvironment(t *testing.T) {
	env := func(name string) (string, bool) {
		if name == "DATABASE_URL" {
			return "postgres://crmhub:pw@db.internal:5432/crmhub", true
		}
		return "", false
	}
	c, err := Parse("c.yaml", []byte("store:\n  driver: postgres\n  dsn: ${DATABASE_URL}\nbus:\n  driver: postgres\n"), env)
	require.NoError(t, err, "a password from the environment is fine in the bus too")
	require.Equal(t, c.Store.DSN, c.Bus.DSN)

	ps := parseProblems(t, "c.yaml", []byte("store:\n  driver: postgres\n  dsn: postgres://crmhub:pw@db/crmhub\nbus:\n  driver: postgres\n"))
	require.Len(t, ps, 1, "the literal password is reported once, where it was written")
	require.Equal(t, "store.dsn", ps[0].Path)
}
