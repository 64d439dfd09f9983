package shopify_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/connectors/shopify"
	"github.com/crmhub/crmhub/connectors/shopify/shopifytest"
)

// clock is a test clock moved by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// oneCustomer is the smallest query the fake answers.
const oneCustomer = `query OneCustomer($first: Int!) {
  customers(first: $first, sortKey: UPDATED_AT) { edges { node { id } } pageInfo { hasNextPage endCursor } }
}`

func queryOne(ctx context.Context, c *shopify.Client) error {
	var out json.RawMessage
	return c.Query(ctx, oneCustomer, map[string]any{"first": 1}, &out)
}

func fastClient(cfg shopify.ClientConfig) shopify.ClientConfig {
	cfg.Timeout, cfg.MinBackoff, cfg.MaxBackoff = 5*time.Second, 5*time.Millisecond, 20*time.Millisecond
	return cfg
}

// TestClientCredentialsTokenIsRenewedBeforeItExpires: the client gets its
// token with the client credentials grant, keeps it while it is good, and
// asks for the next one within the early margin before it expires, while
// the fake would still accept it: no request is ever refused.
func TestClientCredentialsTokenIsRenewedBeforeItExpires(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	t0 := clk.now()
	shop := shopifytest.New(t, shopifytest.Options{TokenTTL: time.Hour, TokenClock: clk.now})
	shop.Put(shopifytest.Generate(2, t0)...)
	c, err := shopify.NewClient(fastClient(shopify.ClientConfig{Shop: shop.Shop(), BaseURL: shop.URL(),
		ClientID: shop.ClientID(), ClientSecret: shop.ClientSecret(),
		TokenOptions: shopify.TokenOptions{Early: 5 * time.Minute, Now: clk.now}}), nil)
	require.NoError(t, err)

	for _, step := range []struct {
		name   string
		at     time.Duration
		issued int
	}{
		{"the first query gets a token", 0, 1},
		{"a good token is kept", 50 * time.Minute, 1},
		{"renewed within five minutes of its expiry, while still good", 56 * time.Minute, 2},
		{"the renewed token is kept", 100 * time.Minute, 2},
		{"past its expiry without a query in between", 3 * time.Hour, 3},
	} {
		clk.set(t0.Add(step.at))
		require.NoError(t, queryOne(ctx, c), step.name)
		st := shop.Stats()
		require.Equal(t, step.issued, st.TokensIssued, step.name)
		require.Zero(t, st.Unauthorized, "%s: no request was refused", step.name)
	}
}

// TestFakeRejectsExpiredTokens: a client credentials token used as a
// plain access token works until it expires, and is refused with 401
// after: what the renewal above avoids.
func TestFakeRejectsExpiredTokens(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	shop := shopifytest.New(t, shopifytest.Options{TokenTTL: time.Hour, TokenClock: clk.now})
	resp, err := http.PostForm(shop.URL()+"/admin/oauth/access_token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {shop.ClientID()}, "client_secret": {shop.ClientSecret()}})
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
	require.Equal(t, 3600, tok.ExpiresIn)

	c, err := shopify.NewClient(fastClient(shopify.ClientConfig{Shop: shop.Shop(), BaseURL: shop.URL(),
		AccessToken: tok.AccessToken}), nil)
	require.NoError(t, err)
	require.NoError(t, queryOne(ctx, c))
	clk.set(clk.now().Add(time.Hour))
	err = queryOne(ctx, c)
	var apiErr *shopify.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusUnauthorized, apiErr.Status)
	require.Equal(t, 1, shop.Stats().Unauthorized)
}

// TestClientCredentialsRefused: a wrong client secret is a permanent
// error that says what to check, and names no secret.
func TestClientCredentialsRefused(t *testing.T) {
	shop := shopifytest.New(t, shopifytest.Options{})
	c, err := shopify.NewClient(fastClient(shopify.ClientConfig{Shop: shop.Shop(), BaseURL: shop.URL(),
		ClientID: shop.ClientID(), ClientSecret: "wrong-secret-value"}), nil)
	require.NoError(t, err)
	err = queryOne(context.Background(), c)
	require.Error(t, err)
	require.True(t, crmhub.IsPermanent(err))
	require.Contains(t, err.Error(), "client_secret")
	require.NotContains(t, err.Error(), "wrong-secret-value")
	require.Zero(t, shop.Stats().Requests, "no query went out without a token")
}

func TestNewClientWantsOneKindOfCredentials(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  shopify.ClientConfig
		err  string
	}{
		{"none", shopify.ClientConfig{Shop: "a.myshopify.com"}, "exactly one"},
		{"token and client", shopify.ClientConfig{Shop: "a.myshopify.com", AccessToken: "t", ClientID: "i", ClientSecret: "s"}, "exactly one"},
		{"client id alone", shopify.ClientConfig{Shop: "a.myshopify.com", ClientID: "i"}, "both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := shopify.NewClient(tc.cfg, nil)
			require.ErrorContains(t, err, tc.err)
		})
	}
	_, err := shopify.NewClient(shopify.ClientConfig{Shop: "a.myshopify.com", ClientID: "i", ClientSecret: "s"}, nil)
	require.NoError(t, err, "client credentials alone")
}
