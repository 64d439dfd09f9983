package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/connectors/shopify/shopifytest"
	"github.com/crmhub/crmhub/store"
)

// shopifyConfig writes the config of source main-store on the fake shop,
// with the given credentials keys, and a public URL.
func shopifyConfig(t *testing.T, shop *shopifytest.Server, credentials string) string {
	t.Helper()
	t.Setenv("SHOPIFY_TEST_TOKEN", shop.Token())
	t.Setenv("SHOPIFY_TEST_CLIENT_SECRET", shop.ClientSecret())
	return writeFile(t, t.TempDir(), "c.yaml", fmt.Sprintf(`store: {driver: sqlite, dsn: crmhub.db}
http: {listen: "127.0.0.1:0", public_url: "https://crm.example.com"}
sources:
  - name: main-store
    type: shopify
    shop: %s
    base_url: %s
%s`, shop.Shop(), shop.URL(), credentials))
}

func TestShopifyWebhooksSync(t *testing.T) {
	for _, tc := range []struct {
		name, credentials string
		tokens            int
	}{
		{"access token", "    access_token: ${SHOPIFY_TEST_TOKEN}\n", 0},
		{"client credentials", "    client_id: " + shopifytest.DefaultClientID + "\n    client_secret: ${SHOPIFY_TEST_CLIENT_SECRET}\n", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shop := shopifytest.New(t, shopifytest.Options{})
			cfg := shopifyConfig(t, shop, tc.credentials)
			const target = "https://crm.example.com/webhooks/shopify/main-store"

			r := runCLI(t, "shopify", "webhooks", "sync", "main-store", "-c", cfg)
			require.Equal(t, exitOK, r.code, r.stderr)
			require.Contains(t, r.stdout, "main-store: webhooks to "+target)
			require.Equal(t, 8, strings.Count(r.stdout, "  created  "), r.stdout)
			require.Contains(t, r.stdout, "privacy topics (customers/data_request, customers/redact, shop/redact) are set in the app's configuration")
			require.Len(t, shop.Subscriptions(), 8)
			require.Equal(t, tc.tokens, shop.Stats().TokensIssued)

			r = runCLI(t, "shopify", "webhooks", "sync", "main-store", "-c", cfg, "--json")
			require.Equal(t, exitOK, r.code, r.stderr)
			var changes []struct{ Action, Topic string }
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &changes))
			require.Len(t, changes, 8)
			for _, c := range changes {
				require.Equal(t, "kept", c.Action, c.Topic)
			}

			r = runCLI(t, "shopify", "webhooks", "sync", "main-store", "-c", cfg, "--dry-run", "--public-url", "https://new.example.com")
			require.Equal(t, exitOK, r.code, r.stderr)
			require.Equal(t, 8, strings.Count(r.stdout, "  move  "), r.stdout)
			for _, s := range shop.Subscriptions() {
				require.Equal(t, target, s.URI, "a dry run changes nothing")
			}
		})
	}
}

func TestShopifyWebhooksSyncUsageMistakes(t *testing.T) {
	shop := shopifytest.New(t, shopifytest.Options{})
	cfg := shopifyConfig(t, shop, "    access_token: ${SHOPIFY_TEST_TOKEN}\n")
	for _, args := range [][]string{
		{"no-such-source"},
		{"main-store", "--public-url", "http://crm.example.com"},
		{"main-store", "--public-url", "crm.example.com"},
	} {
		r := runCLI(t, append([]string{"shopify", "webhooks", "sync", "-c", cfg}, args...)...)
		require.Equal(t, exitUsage, r.code, "%v: %s", args, r.stdout)
	}
	require.Zero(t, shop.Stats().Requests)
}

// TestStatusShowsHowChangesArrived: changes landed by webhook and by pull
// show up in crmhub status per source, with the webhook-first share.
func TestStatusShowsHowChangesArrived(t *testing.T) {
	shop := shopifytest.New(t, shopifytest.Options{RestoreRate: 1000})
	shop.Put(shopifytest.Generate(5, time.Now().Add(-48*time.Hour))...)
	cfg := shopifyConfig(t, shop, "    access_token: ${SHOPIFY_TEST_TOKEN}\n    streams: [customers]\n")
	r := runCLI(t, "sync", "main-store", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)

	r = runCLI(t, "status", "-c", cfg, "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var rep statusReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	require.Len(t, rep.Changes, 1)
	require.Equal(t, sourceChanges{Source: "main-store", Backfill: 5}, rep.Changes[0],
		"history pulled by the first sync is backfill, and says nothing of the webhooks yet")

	r = runCLI(t, "status", "-c", cfg)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Regexp(t, `main-store\s+0\s+0\s+5\s+-`, r.stdout)
}

const installRunConfig = `store: {driver: sqlite, dsn: crmhub.db}
bus: {driver: sqlite}
http: {listen: "127.0.0.1:0", public_url: "https://crm.example.com"}
sources:
  - name: main-store
    type: shopify
    shop: %s
    base_url: %s
    auth: install
    client_id: %s
    client_secret: ${SHOPIFY_TEST_CLIENT_SECRET}
`

// TestRunServesInstallAndMetrics: crmhub run serves the install flow of a
// public app's shop, takes its webhooks signed with the app's client
// secret, and exposes how their changes arrived at /metrics.
func TestRunServesInstallAndMetrics(t *testing.T) {
	shop := shopifytest.New(t, shopifytest.Options{})
	t.Setenv("SHOPIFY_TEST_CLIENT_SECRET", shop.ClientSecret())
	dir := t.TempDir()
	path := writeFile(t, dir, "crmhub.yaml", fmt.Sprintf(installRunConfig, shop.Shop(), shop.URL(), shop.ClientID()))
	r := startRun(t, path)
	defer func() { require.Equal(t, exitOK, r.stop(t), r.stderr.String()) }()

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get("http://" + r.addr + "/shopify/install?shop=" + shop.Shop())
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, shop.URL()+"/admin/oauth/authorize", loc.Scheme+"://"+loc.Host+loc.Path)
	require.Equal(t, "https://crm.example.com/shopify/callback", loc.Query().Get("redirect_uri"))

	body := []byte(`{"id":7039114952811000001,"email":"sara@example.com","updated_at":"` +
		time.Now().UTC().Format(time.RFC3339) + `","addresses":[]}`)
	require.Equal(t, http.StatusOK, r.deliver(t, shop.ClientSecret(), "w-1", body))

	m := r.metrics(t)
	require.Contains(t, m, `crmhub_source_changes_total{channel="webhook",source="main-store"} 1`)
	require.Contains(t, m, `crmhub_source_webhook_first_ratio{source="main-store"} 1`)
	require.Contains(t, m, "go_goroutines")

	s, err := store.Open(context.Background(), store.Options{Driver: store.DriverSQLite, DSN: filepath.Join(dir, "crmhub.db")})
	require.NoError(t, err)
	defer s.Close()
	_, err = s.ShopToken(context.Background(), shop.Shop())
	require.Error(t, err, "no token before the callback")
	require.NotContains(t, r.stderr.String(), shop.ClientSecret())
}

// TestRunPushesWithTheInstalledToken: a shopify destination on a source
// whose shop installed the public app pushes with the token the install
// stored; it asks the shop for no other token.
func TestRunPushesWithTheInstalledToken(t *testing.T) {
	shop := shopifytest.New(t, shopifytest.Options{Scopes: []string{"read_customers", "write_customers"}, RestoreRate: 1000})
	at := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	shop.Put(shopifytest.Customer{ID: 7039114952811000001, FirstName: "Sara", LastName: "Al Amiri", Email: "sara@example.com",
		State: "ENABLED", CreatedAt: at, UpdatedAt: at})
	t.Setenv("SHOPIFY_TEST_CLIENT_SECRET", shop.ClientSecret())
	dir := t.TempDir()
	path := writeFile(t, dir, "crmhub.yaml", fmt.Sprintf(installRunConfig, shop.Shop(), shop.URL(), shop.ClientID())+
		`destinations:
  - name: shopify-tags
    type: shopify
    source: main-store
    push: [metafields]
`)
	r := startRun(t, path)
	defer func() { require.Equal(t, exitOK, r.stop(t), r.stderr.String()) }()

	// The merchant installs the app: crmhub's install redirects to the
	// shop, which approves and redirects to the callback.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var cookies []*http.Cookie
	redirect := func(u string) *url.URL {
		t.Helper()
		resp, err := noFollow.Get(u)
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusFound, resp.StatusCode, u)
		cookies = append(cookies, resp.Cookies()...)
		loc, err := url.Parse(resp.Header.Get("Location"))
		require.NoError(t, err)
		return loc
	}
	approved := redirect(redirect("http://" + r.addr + "/shopify/install?shop=" + shop.Shop()).String())
	// The browser that began the install comes back with its state cookie.
	req, err := http.NewRequest(http.MethodGet, "http://"+r.addr+"/shopify/callback?"+approved.RawQuery, nil)
	require.NoError(t, err)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := noFollow.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Less(t, resp.StatusCode, 400, "the callback takes the install")
	require.Equal(t, 1, shop.Stats().TokensIssued)

	shop.SendWebhooks(t, shopifytest.WebhookTarget{URL: "http://" + r.addr + "/webhooks/shopify/main-store", Secret: shop.ClientSecret()})
	code, err := shop.Notify("customers/create", 7039114952811000001)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	require.Eventually(t, func() bool {
		return shop.Metafields(7039114952811000001)["crmhub.unified_id"].Value != ""
	}, 60*time.Second, 10*time.Millisecond, "%s", r.stderr)
	st := shop.Stats()
	require.Equal(t, 1, st.TokensIssued, "the push used the installed token")
	require.Zero(t, st.Unauthorized)
}
