package shopify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
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
	bucket bucket
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
	if cfg.AccessToken == "" {
		return nil, errors.New("shopify client: no access token")
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
	// Retries stay at zero: go-shopify sleeps without watching the
	// context, and the retries belong in one layer, this one.
	gql, err := goshopify.NewClient(goshopify.App{}, shop, cfg.AccessToken,
		goshopify.WithVersion(cfg.APIVersion), goshopify.WithHTTPClient(httpc))
	if err != nil {
		return nil, fmt.Errorf("shopify client: %w", err)
	}
	return &Client{cfg: cfg, gql: gql, log: log, cost: map[string]float64{}, sleep: sleepCtx}, nil
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

// bucket is the client's view of the shop's cost bucket: the last
// reported status and when it arrived.
type bucket struct {
	status ThrottleStatus
	at     time.Time
}

func (b bucket) known() bool { return !b.at.IsZero() && b.status.RestoreRate > 0 }

// wait is how long until the bucket holds cost points, assuming it only
// refills: other apps of the same shop can only make it longer, which a
// THROTTLED answer then reports.
func (b bucket) wait(cost float64, now time.Time) time.Duration {
	if !b.known() {
		return 0
	}
	avail := math.Min(b.status.MaximumAvailable, b.status.CurrentlyAvailable+b.status.RestoreRate*now.Sub(b.at).Seconds())
	if avail >= cost {
		return 0
	}
	return time.Duration(math.Ceil((cost - avail) / b.status.RestoreRate * float64(time.Second)))
}

// Throttle returns the bucket as the last answer reported it, and false
// before any answer reported one.
func (c *Client) Throttle() (ThrottleStatus, bool) { return c.bucket.status, c.bucket.known() }

// Query sends one GraphQL query with its variables and decodes the
// answer's data into out. It returns when the query succeeded, a
// permanent error (*APIError, wrapped with crmhub.Permanent) arrived,
// ctx ended, or MaxAttempts ran out.
func (c *Client) Query(ctx context.Context, query string, vars, out any) error {
	var last error
	for attempt := 1; attempt <= c.cfg.MaxAttempts; attempt++ {
		if err := c.pace(ctx, query); err != nil {
			return err
		}
		before := c.gql.RateLimits.GraphQLCost
		err := c.gql.GraphQL.Query(ctx, query, vars, out)
		if gc := c.gql.RateLimits.GraphQLCost; gc != nil && gc != before {
			c.bucket = bucket{status: ThrottleStatus(gc.ThrottleStatus), at: time.Now()}
			c.cost[query] = float64(gc.RequestedQueryCost)
		}
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait, retry := c.classify(err, attempt)
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

// pace waits until the bucket can afford query, as far as the client
// knows its cost.
func (c *Client) pace(ctx context.Context, query string) error {
	cost, ok := c.cost[query]
	if !ok || !c.bucket.known() {
		return nil
	}
	if max := c.bucket.status.MaximumAvailable; cost > max {
		return crmhub.Permanent(fmt.Errorf("shopify query costs %.0f points, more than the shop's bucket of %.0f; ask for fewer records a page", cost, max))
	}
	for {
		d := c.bucket.wait(cost, time.Now())
		if d <= 0 {
			return nil
		}
		if err := c.sleep(ctx, d); err != nil {
			return err
		}
	}
}

// classify says whether err is worth another attempt and how long to
// wait first. A THROTTLED answer waits for the bucket in pace.
func (c *Client) classify(err error, attempt int) (time.Duration, bool) {
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

// asAPIError turns go-shopify's permanent errors into an *APIError.
func asAPIError(err error) error {
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
