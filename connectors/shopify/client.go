package shopify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	goshopify "github.com/bold-commerce/go-shopify/v4"

	"github.com/crmhub/crmhub"
)

// DefaultAPIVersion is the Admin API version a client speaks when its
// config names none.
const DefaultAPIVersion = "2026-01"

// ClientConfig configures a Client.
type ClientConfig struct {
	// Shop is the shop's *.myshopify.com domain.
	Shop string
	// AccessToken is an Admin API access token (a custom app's token).
	AccessToken string
	// ClientID and ClientSecret get tokens with the client credentials
	// grant of a Dev Dashboard app, instead of AccessToken; they are
	// renewed before they expire.
	ClientID, ClientSecret string
	// Tokens gives the token of each request, instead of AccessToken: the
	// tokens of a shop that installed a public app (InstalledTokens).
	Tokens *TokenSource
	// TokenOptions tune the TokenSource of ClientID and ClientSecret.
	TokenOptions TokenOptions
	// APIVersion pins the Admin API version; it is part of every URL.
	APIVersion string
	// BaseURL replaces https://{shop} (scheme and host only): a proxy or
	// a test server.
	BaseURL string
	// Timeout bounds one HTTP request. Default 30 s.
	Timeout time.Duration
	// MaxAttempts bounds the attempts of one query through throttling,
	// 429, 5xx and network errors. Default 8.
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the wait between attempts after
	// 5xx and network errors. Defaults 500 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration
	// Budget is the shop's cost bucket the client paces by. Clients of
	// one shop in one process, pulls and pushes alike, share one: give
	// them SharedBudget(shop, base URL). Default a budget of the client's
	// own.
	Budget *Budget
}

// Client carries GraphQL Admin API queries to one shop through
// go-shopify's client. Before each query it waits until the shop's cost
// bucket, as the last answer's throttleStatus reported it, can afford the
// query; it retries THROTTLED answers, 429 (after Retry-After), 5xx and
// network errors with backoff, and reports anything else as an *APIError.
// A Client carries one query at a time: it is not safe for concurrent use.
type Client struct {
	cfg    ClientConfig
	gql    *goshopify.Client
	log    *slog.Logger
	budget *Budget
	// tokens, when set, gives each request its token.
	tokens *TokenSource
	// cost remembers each query's requestedQueryCost, by query text.
	cost map[string]float64
	// sleep waits d or until ctx ends.
	sleep func(ctx context.Context, d time.Duration) error
}

// NewClient returns a client of the shop in cfg. It does no I/O.
func NewClient(cfg ClientConfig, log *slog.Logger) (*Client, error) {
	if cfg.Shop == "" && cfg.BaseURL == "" {
		return nil, errors.New("shopify client: no shop")
	}
	if n := countSet(cfg.AccessToken != "", cfg.ClientID != "" || cfg.ClientSecret != "", cfg.Tokens != nil); n != 1 {
		return nil, errors.New("shopify client: give exactly one of an access token, a client id and secret, or a token source")
	}
	if (cfg.ClientID == "") != (cfg.ClientSecret == "") {
		return nil, errors.New("shopify client: the client credentials grant needs both a client id and a client secret")
	}
	if cfg.APIVersion == "" {
		cfg.APIVersion = DefaultAPIVersion
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(30*time.Second, cfg.MinBackoff)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Budget == nil {
		cfg.Budget = &Budget{}
	}
	httpc := &http.Client{Timeout: cfg.Timeout}
	shop := cfg.Shop
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("shopify client: base_url %q is not a scheme and host", cfg.BaseURL)
		}
		// go-shopify builds https://{shop}/admin/api/...; a base URL is
		// put in place of its scheme and host on the way out.
		httpc.Transport = rewriteHost{scheme: u.Scheme, host: u.Host, next: http.DefaultTransport}
		if shop == "" {
			shop = "shop.myshopify.com"
		}
	}
	tokens := cfg.Tokens
	if cfg.ClientID != "" {
		tokens = clientCredentials(shopOrigin(shop, cfg.BaseURL), cfg.ClientID, cfg.ClientSecret,
			&http.Client{Timeout: cfg.Timeout}, cfg.TokenOptions)
	}
	if tokens != nil {
		next := httpc.Transport
		if next == nil {
			next = http.DefaultTransport
		}
		httpc.Transport = tokenTransport{src: tokens, next: next}
	}
	// Retries stay at zero: go-shopify sleeps without watching the
	// context, and the retries belong in one layer, this one.
	gql, err := goshopify.NewClient(goshopify.App{}, shop, cfg.AccessToken,
		goshopify.WithVersion(cfg.APIVersion), goshopify.WithHTTPClient(httpc))
	if err != nil {
		return nil, fmt.Errorf("shopify client: %w", err)
	}
	return &Client{cfg: cfg, gql: gql, log: log, budget: cfg.Budget, tokens: tokens, cost: map[string]float64{},
		sleep: sleepCtx}, nil
}

func countSet(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// rewriteHost sends requests to another scheme and host.
type rewriteHost struct {
	scheme, host string
	next         http.RoundTripper
}

func (t rewriteHost) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = t.scheme, t.host, t.host
	return t.next.RoundTrip(r)
}

// APIError is a query the Admin API refused for a reason that retrying
// does not cure: a rejected token (401), missing access (403 or
// ACCESS_DENIED), a malformed query. It is permanent.
type APIError struct {
	// Status is the HTTP status; GraphQL errors come with 200.
	Status int
	// Message is what Shopify said; it names the missing scope when
	// access is denied.
	Message string
}

func (e *APIError) Error() string {
	switch {
	case e.Status == http.StatusUnauthorized:
		return fmt.Sprintf("shopify rejected the access token (401: %s); check the source's access_token", e.Message)
	case e.Status == http.StatusForbidden || strings.Contains(e.Message, "Access denied"):
		return fmt.Sprintf("shopify denied access (%d: %s); grant the app the scope it names and reinstall it", e.Status, e.Message)
	case e.Status == http.StatusOK:
		return "shopify graphql error: " + e.Message
	}
	return fmt.Sprintf("shopify answered %d: %s", e.Status, e.Message)
}

// ThrottleStatus is the state of the shop's cost bucket, as Shopify
// reports it with every GraphQL answer.
type ThrottleStatus struct {
	MaximumAvailable, CurrentlyAvailable, RestoreRate float64
}

// Throttle returns the shop's bucket as the last answer to any of its
// clients reported it, and false before any answer reported one.
func (c *Client) Throttle() (ThrottleStatus, bool) { return c.budget.Status() }

// Query sends one GraphQL query with its variables and decodes the
// answer's data into out. It returns when the query succeeded, a
// permanent error (*APIError, wrapped with crmhub.Permanent) arrived,
// ctx ended, or MaxAttempts ran out.
func (c *Client) Query(ctx context.Context, query string, vars, out any) error {
	var last error
	renewed := false
	for attempt := 1; attempt <= c.cfg.MaxAttempts; attempt++ {
		t, err := c.pace(ctx, query)
		if err != nil {
			return err
		}
		before := c.gql.RateLimits.GraphQLCost
		err = c.gql.GraphQL.Query(ctx, query, vars, out)
		var status *ThrottleStatus
		if gc := c.gql.RateLimits.GraphQLCost; gc != nil && gc != before {
			s := ThrottleStatus(gc.ThrottleStatus)
			status = &s
			c.cost[query] = float64(gc.RequestedQueryCost)
		}
		c.budget.answered(t, status, time.Now())
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait, retry := c.classify(err, attempt)
		if !retry && !renewed && c.tokens != nil && unauthorized(err) {
			// A token refused before its time (revoked, replaced by
			// another process): one more attempt with a fresh one.
			c.tokens.Invalidate()
			wait, retry, renewed = 0, true, true
		}
		if !retry {
			return crmhub.Permanent(asAPIError(err))
		}
		last = err
		c.log.Debug("shopify query retried", "attempt", attempt, "wait", wait, "err", err)
		if err := c.sleep(ctx, wait); err != nil {
			return err
		}
	}
	return fmt.Errorf("shopify query: gave up after %d attempts: %w", c.cfg.MaxAttempts, last)
}

// pace waits until the shop's bucket can afford query, as far as the
// client knows its cost, and returns the request's ticket in the budget.
func (c *Client) pace(ctx context.Context, query string) (ticket, error) {
	cost := c.cost[query]
	if status, known := c.budget.Status(); known && cost > status.MaximumAvailable {
		return ticket{}, crmhub.Permanent(fmt.Errorf("shopify query costs %.0f points, more than the shop's bucket of %.0f; ask for fewer records a page",
			cost, status.MaximumAvailable))
	}
	for {
		d, t := c.budget.reserve(cost, time.Now())
		if d <= 0 {
			return t, nil
		}
		if err := c.sleep(ctx, d); err != nil {
			return ticket{}, err
		}
	}
}

// classify says whether err is worth another attempt and how long to
// wait first. A THROTTLED answer waits for the bucket in pace.
func (c *Client) classify(err error, attempt int) (time.Duration, bool) {
	if te := (*tokenError)(nil); errors.As(err, &te) {
		return c.backoff(attempt), te.temporary()
	}
	var rl goshopify.RateLimitError
	if errors.As(err, &rl) {
		if rl.Status == http.StatusOK {
			return 0, true
		}
		return max(time.Duration(rl.RetryAfter)*time.Second, c.backoff(attempt)), true
	}
	var re goshopify.ResponseError
	if errors.As(err, &re) {
		if re.Status >= 500 {
			return c.backoff(attempt), true
		}
		return 0, false
	}
	var de goshopify.ResponseDecodingError
	if errors.As(err, &de) && de.Status < 500 {
		return 0, false
	}
	// 5xx with a body that is not JSON, timeouts, refused connections,
	// truncated answers: transient.
	return c.backoff(attempt), true
}

// backoff is exponential with full jitter, between MinBackoff and
// MaxBackoff.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.MinBackoff << min(attempt-1, 20)
	if d > c.cfg.MaxBackoff || d <= 0 {
		d = c.cfg.MaxBackoff
	}
	return c.cfg.MinBackoff/2 + rand.N(d-c.cfg.MinBackoff/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// unauthorized says whether err is Shopify refusing the token (401).
func unauthorized(err error) bool {
	var re goshopify.ResponseError
	return errors.As(err, &re) && re.Status == http.StatusUnauthorized
}

// asAPIError turns go-shopify's permanent errors into an *APIError.
func asAPIError(err error) error {
	if te := (*tokenError)(nil); errors.As(err, &te) {
		return te
	}
	var re goshopify.ResponseError
	if errors.As(err, &re) {
		return &APIError{Status: re.Status, Message: re.Error()}
	}
	var de goshopify.ResponseDecodingError
	if errors.As(err, &de) {
		return &APIError{Status: de.Status, Message: de.Message}
	}
	return err
}
