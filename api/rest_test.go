package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/api"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

// publisher is a bus that keeps what is published to it.
type publisher struct {
	mu   sync.Mutex
	sent map[string][]*message.Message
}

func (p *publisher) Publish(topic string, msgs ...*message.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sent == nil {
		p.sent = map[string][]*message.Message{}
	}
	p.sent[topic] = append(p.sent[topic], msgs...)
	return nil
}

func (p *publisher) Close() error { return nil }

func (p *publisher) on(topic string) []*message.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.sent[topic])
}

// fixture is the REST API on a real SQLite store, served with the
// server's middleware, with a token of each scope and a revoked one.
type fixture struct {
	store   *store.Store
	rest    *api.REST
	url     string
	bus     *publisher
	token   map[string]string // by scope
	revoked string
	client  *http.Client
}

// maxBody is the fixture server's body limit.
const maxBody = 1024

func newFixture(t *testing.T, opts ...func(*api.RESTOptions)) *fixture {
	t.Helper()
	s := storetest.SQLite(t)
	f := &fixture{store: s, bus: &publisher{}, token: map[string]string{},
		// Redirects are what some tests look at.
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	o := api.RESTOptions{Store: s, Replay: func(ctx context.Context, id int64) error {
		return pipeline.Replay(ctx, s, f.bus, id)
	}}
	for _, opt := range opts {
		opt(&o)
	}
	rest, err := api.NewREST(o)
	require.NoError(t, err)
	srv, err := api.New(api.Options{Addr: "127.0.0.1:0", MaxBodyBytes: maxBody})
	require.NoError(t, err)
	srv.Handle(api.RESTPattern, rest)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	f.rest, f.url = rest, ts.URL

	ctx := context.Background()
	require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
		for _, scope := range store.Scopes {
			_, secret, err := tx.CreateToken(ctx, "test-"+scope, scope)
			if err != nil {
				return err
			}
			f.token[scope] = secret
		}
		tok, secret, err := tx.CreateToken(ctx, "test-revoked", store.ScopeAdmin)
		if err != nil {
			return err
		}
		f.revoked = secret
		return tx.RevokeToken(ctx, tok.ID)
	}))
	return f
}

// do sends a request with token (none when empty) and returns the
// response with its body read.
func (f *fixture) do(t *testing.T, method, path, token string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, body)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := f.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

// get sends a GET with the read token and decodes a 200 answer into v.
func (f *fixture) get(t *testing.T, path string, v any) {
	t.Helper()
	resp, body := f.do(t, http.MethodGet, path, f.token[store.ScopeRead], nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", path, body)
	require.NoError(t, json.Unmarshal(body, v))
}

// apiError is the error shape every error comes in.
type apiError struct {
	Error struct {
		Code    string          `json:"code"`
		Message string          `json:"message"`
		Details json.RawMessage `json:"details"`
	} `json:"error"`
}

// requireError checks that a response is an error of the given status and
// code in the API's one shape, with nothing else in the body.
func requireError(t *testing.T, resp *http.Response, body []byte, status int, code string) apiError {
	t.Helper()
	require.Equal(t, status, resp.StatusCode, "%s", body)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var e apiError
	require.NoError(t, dec.Decode(&e), "the error shape: %s", body)
	require.Equal(t, code, e.Error.Code)
	require.NotEmpty(t, e.Error.Message)
	require.NotContains(t, string(body), "goroutine", "no stack trace")
	return e
}

// scopesBelow lists the scopes that do not include need.
func scopesBelow(need string) []string {
	return store.Scopes[:slices.Index(store.Scopes, need)]
}

// concretePath fills the {parameters} of a route pattern with a value
// every route's parameter accepts.
func concretePath(pattern string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(pattern, '{')
		if i < 0 {
			return b.String() + pattern
		}
		j := strings.IndexByte(pattern[i:], '}')
		b.WriteString(pattern[:i] + "1")
		pattern = pattern[i+j+1:]
	}
}

// operation is a method and path pattern.
type operation struct{ method, path string }

// TestRouteInventory walks every route of the route table, and every
// operation of the OpenAPI document, and checks that each refuses a
// request without a token, with a bad or revoked one (401) and with a
// token below its scope (403), and serves one with its scope.
func TestRouteInventory(t *testing.T) {
	f := newFixture(t)
	scope := map[operation]string{}
	for _, rt := range f.rest.Routes() {
		scope[operation{rt.Method, rt.Pattern}] = rt.Scope
	}
	for op, need := range documentedOperations(t, api.OpenAPI()) {
		if _, ok := scope[op]; !ok {
			scope[op] = need
		}
	}
	require.NotEmpty(t, scope)
	for op, need := range scope {
		t.Run(op.method+" "+op.path, func(t *testing.T) {
			require.Contains(t, store.Scopes, need, "every route needs a scope")
			path := concretePath(op.path)
			for name, token := range map[string]string{"no token": "", "unknown token": "crmhub_nope", "revoked token": f.revoked} {
				resp, body := f.do(t, op.method, path, token, nil)
				requireError(t, resp, body, http.StatusUnauthorized, api.CodeUnauthorized)
				require.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer", name)
			}
			for _, low := range scopesBelow(need) {
				resp, body := f.do(t, op.method, path, f.token[low], nil)
				requireError(t, resp, body, http.StatusForbidden, api.CodeForbidden)
			}
			for _, enough := range store.Scopes[slices.Index(store.Scopes, need):] {
				resp, body := f.do(t, op.method, path, f.token[enough], nil)
				require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, resp.StatusCode,
					"a %s token is enough: %s", enough, body)
			}
		})
	}
}

func TestAuthorizationHeader(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, header string
		want         int
	}{
		{"bearer", "Bearer " + f.token[store.ScopeRead], http.StatusOK},
		{"scheme in any case", "bearer " + f.token[store.ScopeRead], http.StatusOK},
		{"basic", "Basic " + f.token[store.ScopeRead], http.StatusUnauthorized},
		{"no scheme", f.token[store.ScopeRead], http.StatusUnauthorized},
		{"empty bearer", "Bearer ", http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, f.url+"/api/v1/customers", nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", tc.header)
			resp, err := f.client.Do(req)
			require.NoError(t, err)
			_ = resp.Body.Close()
			require.Equal(t, tc.want, resp.StatusCode)
		})
	}
}

func TestErrorShape(t *testing.T) {
	f := newFixture(t)
	read, write := f.token[store.ScopeRead], f.token[store.ScopeWrite]
	tests := []struct {
		name, method, path, token string
		body                      io.Reader
		status                    int
		code                      string
	}{
		{"bad limit", http.MethodGet, "/api/v1/customers?limit=many", read, nil, http.StatusBadRequest, api.CodeInvalidParameter},
		{"unknown parameter", http.MethodGet, "/api/v1/customers?segmnet=vip", read, nil, http.StatusBadRequest, api.CodeInvalidParameter},
		{"bad cursor", http.MethodGet, "/api/v1/orders?cursor=%21%21", read, nil, http.StatusBadRequest, api.CodeInvalidParameter},
		{"no token", http.MethodGet, "/api/v1/customers", "", nil, http.StatusUnauthorized, api.CodeUnauthorized},
		{"scope too small", http.MethodPost, "/api/v1/dead-letters/1/replay", read, nil, http.StatusForbidden, api.CodeForbidden},
		{"unknown route", http.MethodGet, "/api/v1/nowhere", read, nil, http.StatusNotFound, api.CodeNotFound},
		{"unknown route without token", http.MethodGet, "/api/v2/customers", "", nil, http.StatusNotFound, api.CodeNotFound},
		{"unknown record", http.MethodGet, "/api/v1/customers/cus_nobody", read, nil, http.StatusNotFound, api.CodeNotFound},
		{"wrong method", http.MethodDelete, "/api/v1/customers", read, nil, http.StatusMethodNotAllowed, api.CodeMethodNotAllowed},
		{"body too large", http.MethodPost, "/api/v1/dead-letters/1/replay", write,
			strings.NewReader(strings.Repeat("x", maxBody+1)), http.StatusRequestEntityTooLarge, api.CodeBodyTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.do(t, tc.method, tc.path, tc.token, tc.body)
			requireError(t, resp, body, tc.status, tc.code)
		})
	}

	t.Run("bad parameter names it", func(t *testing.T) {
		resp, body := f.do(t, http.MethodGet, "/api/v1/customers?updated_since=yesterday", read, nil)
		e := requireError(t, resp, body, http.StatusBadRequest, api.CodeInvalidParameter)
		require.JSONEq(t, `{"parameter":"updated_since"}`, string(e.Error.Details))
	})
	t.Run("405 says what is allowed", func(t *testing.T) {
		resp, body := f.do(t, http.MethodPost, "/api/v1/customers", read, nil)
		requireError(t, resp, body, http.StatusMethodNotAllowed, api.CodeMethodNotAllowed)
		require.Equal(t, "GET, HEAD", resp.Header.Get("Allow"))
		resp, body = f.do(t, http.MethodGet, "/api/v1/dead-letters/1/replay", write, nil)
		requireError(t, resp, body, http.StatusMethodNotAllowed, api.CodeMethodNotAllowed)
		require.Equal(t, "POST", resp.Header.Get("Allow"))
	})
	t.Run("429 says when to retry", func(t *testing.T) {
		f := newFixture(t, func(o *api.RESTOptions) { o.RateLimit, o.RateBurst = 1.0/60, 1 })
		now := time.Now()
		api.SetClock(f.rest, func() time.Time { return now })
		read := f.token[store.ScopeRead]
		resp, body := f.do(t, http.MethodGet, "/api/v1/orders", read, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		resp, body = f.do(t, http.MethodGet, "/api/v1/orders", read, nil)
		requireError(t, resp, body, http.StatusTooManyRequests, api.CodeRateLimited)
		require.Equal(t, "60", resp.Header.Get("Retry-After"))
	})
}

func TestRateLimitIsPerToken(t *testing.T) {
	f := newFixture(t, func(o *api.RESTOptions) { o.RateLimit, o.RateBurst = 1, 2 })
	now := time.Now()
	api.SetClock(f.rest, func() time.Time { return now })
	read, write := f.token[store.ScopeRead], f.token[store.ScopeWrite]
	status := func(token string) int {
		resp, _ := f.do(t, http.MethodGet, "/api/v1/dead-letters", token, nil)
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, status(read))
	require.Equal(t, http.StatusOK, status(read))
	resp, body := f.do(t, http.MethodGet, "/api/v1/dead-letters", read, nil)
	requireError(t, resp, body, http.StatusTooManyRequests, api.CodeRateLimited)
	require.Equal(t, "1", resp.Header.Get("Retry-After"), "one request a second comes back after a second")
	require.Equal(t, http.StatusOK, status(write), "another token has its own budget")

	now = now.Add(time.Second)
	require.Equal(t, http.StatusOK, status(read), "the budget refills")
	require.Equal(t, http.StatusTooManyRequests, status(read))
}

// touchCounter is the store counting TouchToken calls.
type touchCounter struct {
	*store.Store
	mu      sync.Mutex
	touches int
}

func (c *touchCounter) TouchToken(ctx context.Context, id string) error {
	c.mu.Lock()
	c.touches++
	c.mu.Unlock()
	return c.Store.TouchToken(ctx, id)
}

func (c *touchCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.touches
}

func TestTokenUseIsRecordedAtMostOncePerMinute(t *testing.T) {
	var counter *touchCounter
	f := newFixture(t, func(o *api.RESTOptions) {
		counter = &touchCounter{Store: o.Store.(*store.Store)}
		o.Store = counter
	})
	offset := time.Duration(0)
	api.SetClock(f.rest, func() time.Time { return time.Now().Add(offset) })
	lastUsed := func() time.Time {
		toks, err := f.store.Tokens(context.Background())
		require.NoError(t, err)
		for _, tok := range toks {
			if tok.Name == "test-read" {
				require.True(t, tok.LastUsedAt.Valid, "the token's use was recorded")
				return tok.LastUsedAt.Time
			}
		}
		t.Fatal("no read token")
		return time.Time{}
	}

	for range 5 {
		var p struct{}
		f.get(t, "/api/v1/orders", &p)
	}
	require.Equal(t, 1, counter.count(), "five requests within a minute record the use once")
	first := lastUsed()

	offset = 2 * time.Minute
	var p struct{}
	f.get(t, "/api/v1/orders", &p)
	require.Equal(t, 2, counter.count(), "a request a minute later records it again")
	require.False(t, lastUsed().Before(first))
}

func TestNewRESTNeedsAStoreAndReplay(t *testing.T) {
	_, err := api.NewREST(api.RESTOptions{})
	require.Error(t, err)
	_, err = api.NewREST(api.RESTOptions{Store: storetest.SQLite(t)})
	require.Error(t, err)
}
