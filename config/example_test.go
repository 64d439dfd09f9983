package config

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// exampleEnv is the environment the fully enabled example needs: every
// variable it names, each with a plausible value.
var exampleEnv = map[string]string{
	"DATABASE_URL":           "postgres://crmhub@db.internal:5432/crmhub?sslmode=require",
	"SHOPIFY_TOKEN":          "shpat_example_token",
	"SHOPIFY_WEBHOOK_SECRET": "shopify-webhook-secret",
	"ERP_SECRET":             "erp-in-secret",
	"META_APP_SECRET":        "meta-app-secret",
	"META_VERIFY_TOKEN":      "meta-verify-token",
	"META_ACCESS_TOKEN":      "meta-access-token",
	"KLAVIYO_API_KEY":        "pk_klaviyo",
	"HUBSPOT_TOKEN":          "pat-hubspot",
	"META_ADS_TOKEN":         "meta-ads-token",
	"ERP_OUT_SECRET":         "erp-out-secret",
}

func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// exampleDir makes a directory holding the files the example refers to,
// and returns the config path inside it.
func exampleDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"mappings/erp.yaml", "mappings/legacy.yaml", "ga4-service-account.json"} {
		p := filepath.Join(dir, f)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("{}\n"), 0o600))
	}
	return filepath.Join(dir, "crmhub.yaml")
}

// enableAll switches on every commented-out setting of the example, the
// way its header tells users to: a line whose first non-blank characters
// are "# " loses them, "##" explanations stay.
func enableAll(tb testing.TB, example []byte) []byte {
	tb.Helper()
	lines := strings.Split(string(example), "\n")
	enabled := 0
	for i, l := range lines {
		rest := strings.TrimLeft(l, " ")
		if strings.HasPrefix(rest, "# ") {
			lines[i] = l[:len(l)-len(rest)] + rest[2:]
			enabled++
		}
	}
	require.Greater(tb, enabled, 50, "the example should offer commented-out settings")
	return []byte(strings.Join(lines, "\n"))
}

// lastKeyWins drops all but the last occurrence of a key in every mapping.
// The example shows alternatives (postgres for sqlite, nats for sqlite)
// right below what they replace; enabling both means choosing the second,
// as a user following "replace the lines above" would.
func lastKeyWins(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		last := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			last[n.Content[i].Value] = i
		}
		var kept []*yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if last[n.Content[i].Value] == i {
				kept = append(kept, n.Content[i], n.Content[i+1])
			}
		}
		n.Content = kept
	}
	for _, c := range n.Content {
		lastKeyWins(c)
	}
}

// fullExample is the example with every block enabled.
func fullExample(tb testing.TB) []byte {
	tb.Helper()
	var doc yaml.Node
	require.NoError(tb, yaml.Unmarshal(enableAll(tb, Example()), &doc))
	lastKeyWins(&doc)
	out, err := yaml.Marshal(&doc)
	require.NoError(tb, err)
	return out
}

func TestExampleParsesWithEmptyEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crmhub.yaml")
	c, err := Parse(path, Example(), nil)
	require.NoError(t, err)
	require.Equal(t, "sqlite", c.Store.Driver)
	require.Equal(t, filepath.Join(filepath.Dir(path), "crmhub.db"), c.Store.DSN.Reveal())
	require.Equal(t, "sqlite", c.Bus.Driver)
	require.Equal(t, ":8080", c.HTTP.Listen)
	require.Len(t, c.Sources, 1)
	require.Equal(t, "sample", c.Sources[0].Type)
	require.Empty(t, c.Destinations)
	require.Len(t, c.Identity.Match, 3)
}

func TestExampleFullyEnabled(t *testing.T) {
	c, err := Parse(exampleDir(t), fullExample(t), mapEnv(exampleEnv))
	require.NoError(t, err)

	require.Equal(t, "postgres", c.Store.Driver)
	require.Equal(t, exampleEnv["DATABASE_URL"], c.Store.DSN.Reveal())
	require.Equal(t, "nats", c.Bus.Driver)
	require.Equal(t, "https://crm.example.com", c.HTTP.PublicURL)

	// Every type is shown, so a newcomer finds every block.
	var srcTypes, dstTypes []string
	for _, s := range c.Sources {
		srcTypes = append(srcTypes, s.Type)
	}
	for _, d := range c.Destinations {
		dstTypes = append(dstTypes, d.Type)
	}
	slices.Sort(srcTypes)
	slices.Sort(dstTypes)
	require.Equal(t, SourceTypes(), slices.Compact(srcTypes))
	require.Equal(t, DestinationTypes(), slices.Compact(dstTypes))

	shop := c.Source("main-store")
	require.NotNil(t, shop)
	require.Equal(t, "shpat_example_token", shop.AccessToken.Reveal())
	require.Equal(t, Duration(60*Day), shop.Backfill)
	require.Equal(t, "2026-01", shop.APIVersion)
}

// TestExampleNamesItsVariables keeps exampleEnv and the example in step, and
// shows what a user who enables everything but exports nothing is told.
func TestExampleNamesItsVariables(t *testing.T) {
	var named []string
	ref := regexp.MustCompile(`\$\{([A-Z0-9_]+)\}`)
	for _, l := range strings.Split(string(Example()), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "##") {
			continue // explanations may show ${NAME} as syntax
		}
		for _, m := range ref.FindAllStringSubmatch(l, -1) {
			named = append(named, m[1])
		}
	}
	slices.Sort(named)
	var want []string
	for k := range exampleEnv {
		want = append(want, k)
	}
	slices.Sort(want)
	require.Equal(t, want, slices.Compact(named))

	_, err := Parse(exampleDir(t), fullExample(t), nil)
	var ps Problems
	require.True(t, errors.As(err, &ps))
	var missing []string
	for _, p := range ps {
		require.True(t, strings.HasPrefix(p.Message, "environment variable "), p.Error())
		missing = append(missing, strings.Fields(p.Message)[2])
	}
	slices.Sort(missing)
	require.Equal(t, want, missing)
}

func TestExampleReturnsACopy(t *testing.T) {
	a := Example()
	a[0] = 'X'
	require.NotEqual(t, a[0], Example()[0])
}
