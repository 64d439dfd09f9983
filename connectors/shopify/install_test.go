package shopify_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/connectors/shopify"
	"github.com/crmhub/crmhub/connectors/shopify/shopifytest"
	"github.com/crmhub/crmhub/internal/syncbuf"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

// installWorld is crmhub's install flow served over HTTP for a fake
// shop, on a real store.
type installWorld struct {
	shop   *shopifytest.Server
	store  *store.Store
	url    string
	src    shopify.InstallSource
	logs   *syncbuf.Buffer
	clock  *clock
	client *http.Client // keeps cookies, follows no redirect
}

func newInstallWorld(t *testing.T) *installWorld {
	t.Helper()
	clk := newClock()
	shop := shopifytest.New(t, shopifytest.Options{TokenClock: clk.now})
	s := storetest.SQLite(t)
	mux := http.NewServeMux()
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	logs := &syncbuf.Buffer{}
	src := shopify.InstallSource{Name: "main-store", Shop: shop.Shop(), ClientID: shop.ClientID(),
		ClientSecret: shop.ClientSecret(), BaseURL: shop.URL()}
	inst, err := shopify.NewInstaller(shopify.InstallOptions{PublicURL: ts.URL, States: s, Tokens: s,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Now: clk.now}, src)
	require.NoError(t, err)
	mux.HandleFunc("GET "+shopify.InstallPath, inst.ServeInstall)
	mux.HandleFunc("GET "+shopify.CallbackPath, inst.ServeCallback)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &installWorld{shop: shop, store: s, url: ts.URL, src: src, logs: logs, clock: clk, client: client}
}

func (w *installWorld) get(t *testing.T, u string) *http.Response {
	t.Helper()
	resp, err := w.client.Get(u)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp
}

// start begins an install and returns the shop's authorization URL it
// redirected to; the client now holds the state cookie.
func (w *installWorld) start(t *testing.T) *url.URL {
	t.Helper()
	resp := w.get(t, w.url+shopify.InstallPath+"?shop="+w.shop.Shop())
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	return loc
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// TestInstallFlowStoresAWorkingToken: install, approve on the (fake)
// shop, come back: the token is stored sealed, never logged, and a
// client of the shop works with it, renewing it with its refresh token
// before it expires.
func TestInstallFlowStoresAWorkingToken(t *testing.T) {
	ctx := context.Background()
	w := newInstallWorld(t)
	w.shop.Put(shopifytest.Generate(1, w.clock.now())...)

	auth := w.start(t)
	require.Equal(t, "/admin/oauth/authorize", auth.Path)
	q := auth.Query()
	require.Equal(t, w.shop.ClientID(), q.Get("client_id"))
	require.Equal(t, "read_customers,read_orders", q.Get("scope"))
	require.Equal(t, w.url+shopify.CallbackPath, q.Get("redirect_uri"))
	require.GreaterOrEqual(t, len(q.Get("state")), 32, "a random state")
	require.Empty(t, q.Get("grant_options[]"), "offline access")

	// The merchant approves; the shop sends the browser back.
	approved := w.get(t, auth.String())
	require.Equal(t, http.StatusFound, approved.StatusCode)
	callback := approved.Header.Get("Location")
	done := w.get(t, callback)
	require.Equal(t, http.StatusOK, done.StatusCode, body(t, done))

	row, err := w.store.ShopToken(ctx, w.shop.Shop())
	require.NoError(t, err)
	require.Equal(t, w.shop.ClientID(), row.ClientID)
	require.Equal(t, "read_customers,read_orders", row.Scope)
	require.True(t, row.ExpiresAt.Valid, "an expiring offline token")
	require.NotContains(t, string(row.Sealed), "shpat_", "the token is sealed")
	require.NotContains(t, string(row.Sealed), "shprt_", "the refresh token too")
	require.NotContains(t, w.logs.String(), "shpat_")
	require.NotContains(t, w.logs.String(), "shprt_")

	// The same callback again: its state was used.
	require.Equal(t, http.StatusForbidden, w.get(t, callback).StatusCode)

	tokens := shopify.InstalledTokens(w.src, w.store, shopify.TokenOptions{Now: w.clock.now})
	c, err := shopify.NewClient(fastClient(shopify.ClientConfig{Shop: w.shop.Shop(), BaseURL: w.shop.URL(), Tokens: tokens}), nil)
	require.NoError(t, err)
	require.NoError(t, queryOne(ctx, c))
	require.Equal(t, 1, w.shop.Stats().TokensIssued, "the stored token is used")

	w.clock.set(w.clock.now().Add(57 * time.Minute))
	require.NoError(t, queryOne(ctx, c))
	require.Equal(t, 2, w.shop.Stats().TokensIssued, "renewed before it expired")
	renewed, err := w.store.ShopToken(ctx, w.shop.Shop())
	require.NoError(t, err)
	require.NotEqual(t, row.Sealed, renewed.Sealed, "the new token and refresh token are stored")

	// Another process renews next: this one's token is revoked, and it
	// takes the stored one after Shopify refuses its own once.
	w.clock.set(w.clock.now().Add(57 * time.Minute))
	other, err := shopify.NewClient(fastClient(shopify.ClientConfig{Shop: w.shop.Shop(), BaseURL: w.shop.URL(),
		Tokens: shopify.InstalledTokens(w.src, w.store, shopify.TokenOptions{Now: w.clock.now})}), nil)
	require.NoError(t, err)
	require.NoError(t, queryOne(ctx, other))
	require.Equal(t, 3, w.shop.Stats().TokensIssued)
	w.clock.set(w.clock.now().Add(-10 * time.Minute)) // so that c does not renew on its own
	require.NoError(t, queryOne(ctx, c))
	require.Equal(t, 3, w.shop.Stats().TokensIssued, "the other process's token was taken from the store")
	require.Equal(t, 1, w.shop.Stats().Unauthorized)
}

// TestInstallCallbackRefusals: a callback whose state, hmac or shop is
// wrong stores nothing.
func TestInstallCallbackRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		// edit changes the callback's parameters; sign says whether the
		// result is signed with the app's secret.
		edit   func(v url.Values)
		sign   bool
		cookie bool
		want   int
	}{
		{"good", func(url.Values) {}, true, true, 0},
		{"bad state", func(v url.Values) { v.Set("state", "forged-state-value-0000000000000000000") }, true, true, http.StatusForbidden},
		{"no state cookie", func(url.Values) {}, true, false, http.StatusForbidden},
		{"bad hmac", func(url.Values) {}, false, true, http.StatusUnauthorized},
		{"tampered after signing", nil, true, true, http.StatusUnauthorized},
		{"shop not a myshopify.com domain", func(v url.Values) { v.Set("shop", "example.myshopify.com.evil.com") }, true, true, http.StatusBadRequest},
		{"shop of no source", func(v url.Values) { v.Set("shop", "other.myshopify.com") }, true, true, http.StatusNotFound},
		{"no code", func(v url.Values) { v.Del("code") }, true, true, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			w := newInstallWorld(t)
			auth := w.start(t)
			approved := w.get(t, auth.String())
			back, err := url.Parse(approved.Header.Get("Location"))
			require.NoError(t, err)
			v := back.Query()
			v.Del("hmac")
			var raw string
			switch {
			case tc.edit == nil:
				raw = w.shop.SignQuery(v) + "&timestamp=1"
			case tc.sign:
				tc.edit(v)
				raw = w.shop.SignQuery(v)
			default:
				tc.edit(v)
				raw = v.Encode() + "&hmac=" + "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
			}
			if !tc.cookie {
				w.client.Jar, _ = cookiejar.New(nil)
			}
			resp := w.get(t, w.url+shopify.CallbackPath+"?"+raw)
			_, err = w.store.ShopToken(ctx, w.shop.Shop())
			if tc.want == 0 {
				require.Equal(t, http.StatusOK, resp.StatusCode, body(t, resp))
				require.NoError(t, err)
				return
			}
			require.Equal(t, tc.want, resp.StatusCode, body(t, resp))
			require.ErrorIs(t, err, crmhub.ErrNotFound, "nothing stored")
			require.Equal(t, 0, w.shop.Stats().TokensIssued, "no code was exchanged")
		})
	}
}

// TestInstallStartRefusals: an install is started only for the shop of a
// configured source, and a signed start must verify.
func TestInstallStartRefusals(t *testing.T) {
	w := newInstallWorld(t)
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"", http.StatusBadRequest},
		{"shop=https://example.myshopify.com", http.StatusBadRequest},
		{"shop=other.myshopify.com", http.StatusNotFound},
		{"shop=" + w.shop.Shop() + "&timestamp=1&hmac=00", http.StatusUnauthorized},
		{w.shop.SignQuery(url.Values{"shop": {w.shop.Shop()}, "timestamp": {"1"}}), http.StatusFound},
	} {
		t.Run(tc.query, func(t *testing.T) {
			require.Equal(t, tc.want, w.get(t, w.url+shopify.InstallPath+"?"+tc.query).StatusCode)
		})
	}
}

func TestVerifyQuery(t *testing.T) {
	const secret = "hush"
	// Shopify's documented example.
	const example = "code=0907a61c0c8d55e99db179b68161bc00&hmac=700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf" +
		"&shop=some-shop.myshopify.com&state=0.6784241404160823&timestamp=1337178173"
	for _, tc := range []struct {
		name, query string
		want        bool
	}{
		{"documented example", example, true},
		{"parameters in another order", "shop=some-shop.myshopify.com&timestamp=1337178173&code=0907a61c0c8d55e99db179b68161bc00" +
			"&state=0.6784241404160823&hmac=700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf", true},
		{"a value changed", example[:len(example)-1] + "4", false},
		{"a parameter added", example + "&admin=1", false},
		{"no hmac", "code=1&shop=some-shop.myshopify.com", false},
		{"two hmacs", example + "&hmac=700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf", false},
		{"hmac not hex", "code=1&hmac=zz", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, shopify.VerifyQuery(secret, tc.query))
		})
	}
}
