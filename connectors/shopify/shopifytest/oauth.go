package shopifytest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The fake's OAuth side, as a shop's /admin/oauth endpoints behave:
//
//   - POST /admin/oauth/access_token issues tokens for the client
//     credentials grant (expires_in TokenTTL), for an authorization code
//     (with expiring=1: expires_in OfflineTokenTTL and a refresh token;
//     without: a token that does not expire), and for a refresh token,
//     which is replaced at every use and whose use revokes the access
//     tokens issued before. Unknown clients, codes used twice and unknown
//     refresh tokens are refused.
//   - GET /admin/oauth/authorize plays the merchant who approves: it
//     answers a redirect to redirect_uri with code, hmac, host, shop, state
//     and timestamp, signed with the client secret.
//
// The GraphQL endpoint accepts Options.Token and every issued token that
// has not expired (by TokenClock) or been revoked; others get 401.

// Defaults of the OAuth side.
const (
	DefaultClientID     = "crmhub-test-client"
	DefaultClientSecret = "shpss_test_client_secret"
	DefaultShop         = "example.myshopify.com"
	// DefaultTokenTTL is what Shopify gives a client credentials token.
	DefaultTokenTTL = 86399 * time.Second
	// DefaultOfflineTokenTTL is what Shopify gives an expiring offline
	// token.
	DefaultOfflineTokenTTL = time.Hour
)

type oauthFake struct {
	tokens  map[string]issuedToken
	codes   map[string]bool
	refresh map[string]bool
	n       int
}

type issuedToken struct {
	expires time.Time // zero: never
	revoked bool
}

func (s *Server) clientID() string     { return or(s.opts.ClientID, DefaultClientID) }
func (s *Server) clientSecret() string { return or(s.opts.ClientSecret, DefaultClientSecret) }
func (s *Server) shop() string         { return or(s.opts.Shop, DefaultShop) }

// ClientID and ClientSecret are the app credentials the fake accepts.
func (s *Server) ClientID() string     { return s.clientID() }
func (s *Server) ClientSecret() string { return s.clientSecret() }

// Shop is the fake shop's domain.
func (s *Server) Shop() string { return s.shop() }

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func (s *Server) tokenNow() time.Time {
	if s.opts.TokenClock != nil {
		return s.opts.TokenClock()
	}
	return time.Now()
}

// authorized reports whether an access token may query, counting the
// refusals.
func (s *Server) authorized(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if token != "" && token == s.opts.Token {
		return true
	}
	t, ok := s.oauth.tokens[token]
	if ok && !t.revoked && (t.expires.IsZero() || s.tokenNow().Before(t.expires)) {
		return true
	}
	s.stats.Unauthorized++
	return false
}

// serveOAuth answers the OAuth endpoints; it reports false for other
// paths.
func (s *Server) serveOAuth(w http.ResponseWriter, r *http.Request) bool {
	switch {
	case r.URL.Path == "/admin/oauth/access_token" && r.Method == http.MethodPost:
		s.serveToken(w, r)
	case r.URL.Path == "/admin/oauth/authorize" && r.Method == http.MethodGet:
		s.serveAuthorize(w, r)
	default:
		return false
	}
	return true
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	p, err := tokenParams(r)
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if p.Get("client_id") != s.clientID() || !hmac.Equal([]byte(p.Get("client_secret")), []byte(s.clientSecret())) {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.oauth.tokens == nil {
		s.oauth = oauthFake{tokens: map[string]issuedToken{}, codes: map[string]bool{}, refresh: map[string]bool{}}
	}
	grant := p.Get("grant_type")
	switch {
	case grant == "client_credentials":
		tokenJSON(w, s.issue(s.ttl(s.opts.TokenTTL, DefaultTokenTTL), false))
	case (grant == "" || grant == "authorization_code") && p.Get("code") != "":
		if !s.oauth.codes[p.Get("code")] {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "The authorization code was not found or was already used")
			return
		}
		delete(s.oauth.codes, p.Get("code"))
		if p.Get("expiring") == "1" {
			tokenJSON(w, s.issue(s.ttl(s.opts.OfflineTokenTTL, DefaultOfflineTokenTTL), true))
			return
		}
		tokenJSON(w, s.issue(0, false))
	case grant == "refresh_token":
		if !s.oauth.refresh[p.Get("refresh_token")] {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "The refresh token is invalid")
			return
		}
		delete(s.oauth.refresh, p.Get("refresh_token"))
		// Only one expiring offline token is active per app and shop.
		for k, t := range s.oauth.tokens {
			t.revoked = true
			s.oauth.tokens[k] = t
		}
		tokenJSON(w, s.issue(s.ttl(s.opts.OfflineTokenTTL, DefaultOfflineTokenTTL), true))
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type "+grant)
	}
}

func (s *Server) ttl(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

// issue makes a token, and a refresh token with it; the caller holds
// s.mu.
func (s *Server) issue(ttl time.Duration, refresh bool) map[string]any {
	s.oauth.n++
	s.stats.TokensIssued++
	tok := fmt.Sprintf("shpat_fake_%d_%s", s.oauth.n, randomHex(8))
	out := map[string]any{"access_token": tok, "scope": strings.Join(s.opts.Scopes, ",")}
	t := issuedToken{}
	if ttl > 0 {
		t.expires = s.tokenNow().Add(ttl)
		out["expires_in"] = int64(ttl / time.Second)
	}
	s.oauth.tokens[tok] = t
	if refresh {
		rt := fmt.Sprintf("shprt_fake_%d_%s", s.oauth.n, randomHex(8))
		s.oauth.refresh[rt] = true
		out["refresh_token"] = rt
		out["refresh_token_expires_in"] = int64(90 * 24 * time.Hour / time.Second)
	}
	return out
}

// serveAuthorize approves the install at once and sends the browser back
// to the app, as Shopify does once the merchant clicks Install.
func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != s.clientID() {
		http.Error(w, "Oauth error invalid_request: The client_id is not valid", http.StatusBadRequest)
		return
	}
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || back.Host == "" {
		http.Error(w, "Oauth error invalid_request: The redirect_uri is missing or not whitelisted", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	if s.oauth.tokens == nil {
		s.oauth = oauthFake{tokens: map[string]issuedToken{}, codes: map[string]bool{}, refresh: map[string]bool{}}
	}
	code := randomHex(16)
	s.oauth.codes[code] = true
	s.mu.Unlock()
	v := url.Values{"code": {code}, "host": {"YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvZXhhbXBsZQ"}, "shop": {s.shop()},
		"state": {q.Get("state")}, "timestamp": {strconv.FormatInt(s.tokenNow().Unix(), 10)}}
	back.RawQuery = s.SignQuery(v)
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// SignQuery returns v as a query string signed as Shopify signs its
// redirects to an app: hmac, the hex HMAC-SHA256 under the client secret
// of the other parameters sorted and joined with &, appended.
func (s *Server) SignQuery(v url.Values) string {
	v = cloneValues(v)
	v.Del("hmac")
	msg := v.Encode() // sorted by key
	mac := hmac.New(sha256.New, []byte(s.clientSecret()))
	mac.Write([]byte(msg))
	return msg + "&hmac=" + hex.EncodeToString(mac.Sum(nil))
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// tokenParams reads a token request's parameters: a form, or JSON as
// Shopify's libraries send it.
func tokenParams(r *http.Request) (url.Values, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" {
		if err := r.ParseForm(); err != nil {
			return nil, err
		}
		return r.PostForm, nil
	}
	var m map[string]any
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		return nil, err
	}
	out := url.Values{}
	for k, v := range m {
		out.Set(k, fmt.Sprint(v))
	}
	return out, nil
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	writeJSON(w, map[string]string{"error": code, "error_description": desc})
}

func tokenJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	writeJSON(w, v)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
