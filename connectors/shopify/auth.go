package shopify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/crmhub/crmhub"
)

// A shop's Admin API access comes one of three ways:
//
//   - an Admin API access token of a custom app (ClientConfig.AccessToken),
//     which does not expire;
//   - the client credentials grant of an app made in the Dev Dashboard and
//     installed on a shop of the same organization (ClientConfig.ClientID
//     and ClientSecret): POST https://{shop}/admin/oauth/access_token with
//     grant_type=client_credentials answers a token that expires after
//     expires_in seconds (86399, a day), and a new one is asked for the
//     same way;
//   - the authorization code grant of a public app installed by the shop
//     (see Installer), whose offline token expires within an hour and is
//     renewed with its refresh token (InstalledTokens).
//
// The last two give a TokenSource, which the client's transport asks for
// the token of each request.

// DefaultRefreshEarly is how long before it expires a token is replaced:
// long enough that no request goes out with a token that expires on the
// way.
const DefaultRefreshEarly = 5 * time.Minute

// TokenOptions tune a TokenSource.
type TokenOptions struct {
	// Early is how long before its expiry a token is replaced. Default
	// DefaultRefreshEarly.
	Early time.Duration
	// Now is the clock expiries are read on. Default time.Now.
	Now func() time.Time
}

// TokenSource hands out the access token requests go out with. It keeps
// the token it fetched last and fetches a new one once the current one
// expires within the early margin, so that a request is never refused for
// an expired token. It is safe for concurrent use; concurrent callers
// wait for one fetch.
type TokenSource struct {
	fetch func(ctx context.Context) (*oauth2.Token, error)
	early time.Duration
	now   func() time.Time

	mu      sync.Mutex
	tok     *oauth2.Token
	expires time.Time // zero: never
}

// NewTokenSource returns a TokenSource that gets its tokens from fetch.
// A token's expiry is read from its expires_in, counted from when its
// fetch began, or else from its Expiry; a token with neither is kept
// until Invalidate.
func NewTokenSource(fetch func(ctx context.Context) (*oauth2.Token, error), opts TokenOptions) *TokenSource {
	if opts.Early <= 0 {
		opts.Early = DefaultRefreshEarly
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &TokenSource{fetch: fetch, early: opts.Early, now: opts.Now}
}

// Token returns the current access token, fetching a new one first when
// the current one is about to expire. ctx bounds the fetch.
func (s *TokenSource) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := s.now()
	if s.tok != nil && (s.expires.IsZero() || start.Before(s.expires.Add(-s.early))) {
		return s.tok.AccessToken, nil
	}
	tok, err := s.fetch(ctx)
	if err != nil {
		if s.tok != nil && (s.expires.IsZero() || start.Before(s.expires)) {
			// Not expired yet: the next request asks again.
			return s.tok.AccessToken, nil
		}
		return "", &tokenError{err: err}
	}
	if tok == nil || tok.AccessToken == "" {
		return "", &tokenError{err: crmhub.Permanent(errors.New("the token endpoint answered no access token"))}
	}
	s.tok, s.expires = tok, expiryOf(tok, start)
	return tok.AccessToken, nil
}

// Invalidate forgets the current token: the next Token fetches one. The
// client calls it when Shopify refuses a token before its time (revoked,
// or replaced by another process).
func (s *TokenSource) Invalidate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tok = nil
}

func expiryOf(tok *oauth2.Token, fetched time.Time) time.Time {
	in := tok.ExpiresIn
	if in <= 0 {
		// The client credentials grant of golang.org/x/oauth2 leaves
		// ExpiresIn out; the answer's field is still there.
		in = seconds(tok.Extra("expires_in"))
	}
	if in > 0 {
		return fetched.Add(time.Duration(in) * time.Second)
	}
	return tok.Expiry
}

// tokenError is a failure to get an access token, as the client's
// transport reports it.
type tokenError struct{ err error }

func (e *tokenError) Error() string {
	var re *oauth2.RetrieveError
	if errors.As(e.err, &re) && re.Response != nil {
		code := re.Response.StatusCode
		if code == http.StatusBadRequest || code == http.StatusUnauthorized || code == http.StatusForbidden {
			return fmt.Sprintf("shopify refused to issue an access token (%d %s); check the source's client_id and "+
				"client_secret, and that the app is installed on the shop", code, re.ErrorCode)
		}
		return fmt.Sprintf("get shopify access token: the token endpoint answered %d", code)
	}
	return "get shopify access token: " + e.err.Error()
}

func (e *tokenError) Unwrap() error { return e.err }

// temporary says whether asking again may succeed: the token endpoint was
// unreachable, busy (429) or failing (5xx).
func (e *tokenError) temporary() bool {
	if crmhub.IsPermanent(e.err) {
		return false
	}
	var re *oauth2.RetrieveError
	if errors.As(e.err, &re) {
		return re.Response != nil && (re.Response.StatusCode == http.StatusTooManyRequests || re.Response.StatusCode >= 500)
	}
	return true
}

// tokenTransport sends each request with the current token of a
// TokenSource in X-Shopify-Access-Token, the header the Admin API reads.
type tokenTransport struct {
	src  *TokenSource
	next http.RoundTripper
}

func (t tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	tok, err := t.src.Token(r.Context())
	if err != nil {
		if r.Body != nil {
			_ = r.Body.Close()
		}
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Header.Set("X-Shopify-Access-Token", tok)
	return t.next.RoundTrip(r)
}

// shopOrigin is where a shop's endpoints are: https://{shop}, or a base
// URL (scheme and host) that replaces it.
func shopOrigin(shop, baseURL string) string {
	if baseURL != "" {
		return strings.TrimSuffix(baseURL, "/")
	}
	return "https://" + shop
}

// tokenPath is the token endpoint of every grant.
const tokenPath = "/admin/oauth/access_token"

// oauthContext makes golang.org/x/oauth2 use httpc.
func oauthContext(ctx context.Context, httpc *http.Client) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, httpc)
}

// clientCredentials returns the TokenSource of the client credentials
// grant. Shopify reads the client id and secret from the form body.
func clientCredentials(origin, clientID, clientSecret string, httpc *http.Client, opts TokenOptions) *TokenSource {
	cc := &clientcredentials.Config{ClientID: clientID, ClientSecret: clientSecret, TokenURL: origin + tokenPath,
		AuthStyle: oauth2.AuthStyleInParams}
	return NewTokenSource(func(ctx context.Context) (*oauth2.Token, error) {
		return cc.Token(oauthContext(ctx, httpc))
	}, opts)
}
