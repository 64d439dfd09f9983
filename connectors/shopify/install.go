package shopify

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/crmhub/crmhub"
)

// The install flow of a public app (Shopify's authorization code grant),
// served by crmhub run:
//
//  1. GET /shopify/install?shop={shop}.myshopify.com (the app's URL; when
//     Shopify sends the merchant there it adds hmac and timestamp, which
//     are verified) answers a redirect to the shop's
//     /admin/oauth/authorize with the client id, the scopes, the callback
//     and a random state. The state is kept twice: its hash in the
//     store's oauth_states table with the shop and an expiry (ten
//     minutes), and its value in a cookie on the browser that asked.
//  2. The merchant approves; Shopify sends the browser to GET
//     /shopify/callback?code=…&hmac=…&host=…&shop=…&state=…&timestamp=….
//     The callback checks that the shop is a *.myshopify.com domain of a
//     configured source, that the hmac is the HMAC-SHA256 (hex) of the
//     other parameters, sorted and joined with &, under the app's client
//     secret, and that the state is the cookie's and was issued for that
//     shop and not used before; then it exchanges the code for an offline
//     access token at the shop's /admin/oauth/access_token (asking for an
//     expiring token and its refresh token, which public apps must use)
//     and stores it sealed (see TokenStore). Tokens are never logged.

// Paths of the install flow.
const (
	InstallPath  = "/shopify/install"
	CallbackPath = "/shopify/callback"
)

// DefaultScopes are the access scopes an install asks for by default:
// what pulling customers and orders needs.
var DefaultScopes = []string{"read_customers", "read_orders"}

// stateCookie carries the state of an install under way.
const stateCookie = "crmhub_shopify_state"

// DefaultStateTTL is how long an install may take from start to callback.
const DefaultStateTTL = 10 * time.Minute

// InstallSource is a shopify source whose access comes from the shop
// installing a public app.
type InstallSource struct {
	// Name is the configured source name.
	Name string
	// Shop is the shop's *.myshopify.com domain.
	Shop string
	// ClientID and ClientSecret are the public app's.
	ClientID, ClientSecret string
	// Scopes are the access scopes asked for; default DefaultScopes.
	Scopes []string
	// BaseURL replaces https://{shop} (scheme and host only): a proxy or a
	// test server.
	BaseURL string
}

func (s InstallSource) oauthConfig() *oauth2.Config {
	origin := shopOrigin(s.Shop, s.BaseURL)
	return &oauth2.Config{ClientID: s.ClientID, ClientSecret: s.ClientSecret, Endpoint: oauth2.Endpoint{
		AuthURL: origin + "/admin/oauth/authorize", TokenURL: origin + tokenPath, AuthStyle: oauth2.AuthStyleInParams}}
}

// StateStore keeps the states of installs under way; *store.Store is one.
type StateStore interface {
	// SaveOAuthState records the hash of a state issued for shop.
	SaveOAuthState(ctx context.Context, hash, shop string, expires time.Time) error
	// TakeOAuthState deletes a state and returns its shop; an error
	// wrapping crmhub.ErrNotFound when it was never issued, was taken
	// before, or expired by now.
	TakeOAuthState(ctx context.Context, hash string, now time.Time) (string, error)
}

// InstallOptions configure an Installer.
type InstallOptions struct {
	// PublicURL is where Shopify sends the browser back to: the callback
	// is PublicURL + CallbackPath, which must be among the app's allowed
	// redirection URLs.
	PublicURL string
	// States and Tokens keep the installs' states and tokens.
	States StateStore
	Tokens TokenStore
	// Logger receives the flow's logs; nil discards them.
	Logger *slog.Logger
	// HTTPClient exchanges codes for tokens; default one with a 30 s
	// timeout.
	HTTPClient *http.Client
	// StateTTL bounds an install; default DefaultStateTTL.
	StateTTL time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Installer serves the install flow of public apps for the shops of the
// given sources. Its handlers are safe for concurrent use.
type Installer struct {
	opts     InstallOptions
	byShop   map[string]InstallSource
	callback string
	secure   bool
	log      *slog.Logger
}

// NewInstaller returns the install flow of the sources' shops. It does no
// I/O.
func NewInstaller(opts InstallOptions, sources ...InstallSource) (*Installer, error) {
	u, err := url.Parse(opts.PublicURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("shopify install: public URL %q is not an http(s) URL", opts.PublicURL)
	}
	if opts.States == nil || opts.Tokens == nil {
		return nil, errors.New("shopify install: no state or token store")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.StateTTL <= 0 {
		opts.StateTTL = DefaultStateTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	in := &Installer{opts: opts, byShop: map[string]InstallSource{}, secure: u.Scheme == "https",
		callback: strings.TrimSuffix(opts.PublicURL, "/") + CallbackPath,
		log:      opts.Logger.With("connector", SourceType, "component", "install")}
	for _, s := range sources {
		switch {
		case !ValidShop(s.Shop):
			return nil, fmt.Errorf("shopify install: source %s: %q is not a *.myshopify.com domain", s.Name, s.Shop)
		case s.ClientID == "" || s.ClientSecret == "":
			return nil, fmt.Errorf("shopify install: source %s has no client id or secret", s.Name)
		}
		if _, dup := in.byShop[s.Shop]; dup {
			return nil, fmt.Errorf("shopify install: shop %s belongs to two sources", s.Shop)
		}
		if len(s.Scopes) == 0 {
			s.Scopes = DefaultScopes
		}
		in.byShop[s.Shop] = s
	}
	return in, nil
}

var shopDomainRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*\.myshopify\.com$`)

// ValidShop reports whether shop is a shop's permanent domain,
// {name}.myshopify.com: the only hosts the install flow sends a browser
// to or asks for a token.
func ValidShop(shop string) bool { return len(shop) <= 255 && shopDomainRE.MatchString(shop) }

// ServeInstall starts an install: it answers a redirect to the shop's
// authorization page.
func (in *Installer) ServeInstall(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	src, status := in.source(q.Get("shop"))
	if status != 0 {
		in.refuse(w, status, "install", q.Get("shop"))
		return
	}
	// From Shopify's admin the request is signed; by hand it is not, and
	// needs no signature: the merchant still approves on Shopify.
	if q.Has("hmac") && !VerifyQuery(src.ClientSecret, r.URL.RawQuery) {
		in.refuse(w, http.StatusUnauthorized, "install", src.Shop)
		return
	}
	state, err := newState()
	if err == nil {
		err = in.opts.States.SaveOAuthState(r.Context(), hashState(state), src.Shop, in.opts.Now().Add(in.opts.StateTTL))
	}
	if err != nil {
		in.log.Error("shopify install not started", "shop", src.Shop, "err", err)
		http.Error(w, "install not started; try again", http.StatusServiceUnavailable)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: state, Path: CallbackPath,
		MaxAge: int(in.opts.StateTTL / time.Second), HttpOnly: true, Secure: in.secure, SameSite: http.SameSiteLaxMode})
	v := url.Values{"client_id": {src.ClientID}, "scope": {strings.Join(src.Scopes, ",")},
		"redirect_uri": {in.callback}, "state": {state}}
	in.log.Info("shopify install started", "source", src.Name, "shop", src.Shop)
	http.Redirect(w, r, shopOrigin(src.Shop, src.BaseURL)+"/admin/oauth/authorize?"+v.Encode(), http.StatusFound)
}

// ServeCallback ends an install: it verifies Shopify's redirect, exchanges
// its code for the shop's token and stores it.
func (in *Installer) ServeCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	src, status := in.source(q.Get("shop"))
	if status == 0 && !VerifyQuery(src.ClientSecret, r.URL.RawQuery) {
		status = http.StatusUnauthorized
	}
	if status == 0 {
		status = in.checkState(r, src.Shop, q.Get("state"))
	}
	if status == 0 && q.Get("code") == "" {
		status = http.StatusBadRequest
	}
	if status != 0 {
		in.refuse(w, status, "callback", q.Get("shop"))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Path: CallbackPath, MaxAge: -1, HttpOnly: true, Secure: in.secure})
	start := in.opts.Now()
	tok, err := src.oauthConfig().Exchange(oauthContext(r.Context(), in.opts.HTTPClient), q.Get("code"),
		oauth2.SetAuthURLParam("expiring", "1"))
	if err != nil {
		in.log.Warn("shopify install: code not exchanged", "shop", src.Shop, "err", (&tokenError{err: err}).Error())
		http.Error(w, "Shopify did not grant a token; start the install again", http.StatusBadGateway)
		return
	}
	if err := saveTokens(r.Context(), in.opts.Tokens, src, tok, start); err != nil {
		in.log.Error("shopify install: token not stored", "shop", src.Shop, "err", err)
		http.Error(w, "the token was not stored; start the install again", http.StatusServiceUnavailable)
		return
	}
	granted, _ := tok.Extra("scope").(string)
	if missing := missingScopes(src.Scopes, granted); len(missing) > 0 {
		in.log.Warn("shopify install: scopes not granted", "shop", src.Shop, "missing", missing)
	}
	in.log.Info("shopify app installed", "source", src.Name, "shop", src.Shop, "scope", granted)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = fmt.Fprintf(w, "<!doctype html><title>crmhub</title><p>crmhub is connected to %s (source %s). You can close this window.</p>\n",
		html.EscapeString(src.Shop), html.EscapeString(src.Name))
}

// source returns the source of a shop, or the status that refuses it.
func (in *Installer) source(shop string) (InstallSource, int) {
	if !ValidShop(shop) {
		return InstallSource{}, http.StatusBadRequest
	}
	src, ok := in.byShop[shop]
	if !ok {
		return InstallSource{}, http.StatusNotFound
	}
	return src, 0
}

// checkState returns 0 when state is the browser's and was issued for
// shop, and the status that refuses the callback otherwise.
func (in *Installer) checkState(r *http.Request, shop, state string) int {
	c, err := r.Cookie(stateCookie)
	if err != nil || state == "" || !hmac.Equal([]byte(c.Value), []byte(state)) {
		return http.StatusForbidden
	}
	issued, err := in.opts.States.TakeOAuthState(r.Context(), hashState(state), in.opts.Now())
	switch {
	case errors.Is(err, crmhub.ErrNotFound):
		return http.StatusForbidden
	case err != nil:
		in.log.Error("shopify install: state not read", "shop", shop, "err", err)
		return http.StatusServiceUnavailable
	case issued != shop:
		return http.StatusForbidden
	}
	return 0
}

var refusals = map[int]string{
	http.StatusBadRequest:         "shop must be a {name}.myshopify.com domain, and the callback needs a code",
	http.StatusNotFound:           "no shopify source of this crmhub is installed on that shop",
	http.StatusUnauthorized:       "invalid hmac",
	http.StatusForbidden:          "invalid or expired state; start the install again",
	http.StatusServiceUnavailable: "not available; try again",
}

func (in *Installer) refuse(w http.ResponseWriter, status int, step, shop string) {
	if !ValidShop(shop) {
		// Not echoed into the logs: it is whatever the request said.
		shop = ""
	}
	in.log.Warn("shopify install refused", "step", step, "status", status, "shop", shop)
	http.Error(w, refusals[status], status)
}

func newState() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// hashState is what the store keeps of a state.
func hashState(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:])
}

// missingScopes lists the wanted scopes the granted list (comma
// separated) lacks. A write scope grants its read scope.
func missingScopes(want []string, granted string) []string {
	have := map[string]bool{}
	for _, s := range strings.Split(granted, ",") {
		s = strings.TrimSpace(s)
		have[s] = true
		if rest, ok := strings.CutPrefix(s, "write_"); ok {
			have["read_"+rest] = true
		}
	}
	var out []string
	for _, s := range want {
		if !have[s] {
			out = append(out, s)
		}
	}
	return out
}

// VerifyQuery reports whether a request's query string carries Shopify's
// signature: hmac is the hex HMAC-SHA256, under the app's client secret,
// of the other parameters (signature left out too) sorted by name and
// joined with &, each as it was written in the query. The comparison is
// constant-time; a query with no hmac, or two, is refused.
func VerifyQuery(clientSecret, rawQuery string) bool {
	msg, sig, ok := queryMessage(rawQuery)
	if !ok {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, []byte(clientSecret))
	mac.Write([]byte(msg))
	return hmac.Equal(mac.Sum(nil), got)
}

// queryMessage splits a raw query into what Shopify signs and the hmac.
func queryMessage(rawQuery string) (msg, sig string, ok bool) {
	type pair struct{ key, raw string }
	var kept []pair
	seen := false
	for _, p := range strings.Split(rawQuery, "&") {
		if p == "" {
			continue
		}
		rawKey, rawVal, _ := strings.Cut(p, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			return "", "", false
		}
		switch key {
		case "hmac":
			if seen {
				return "", "", false
			}
			seen = true
			if sig, err = url.QueryUnescape(rawVal); err != nil {
				return "", "", false
			}
		case "signature":
		default:
			kept = append(kept, pair{key, p})
		}
	}
	if !seen {
		return "", "", false
	}
	slices.SortStableFunc(kept, func(a, b pair) int { return strings.Compare(a.key, b.key) })
	parts := make([]string, len(kept))
	for i, p := range kept {
		parts[i] = p.raw
	}
	return strings.Join(parts, "&"), sig, true
}
