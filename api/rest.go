package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
)

// RESTPattern is where the REST API is mounted on a Server: every path
// under /api/ is its own, unknown ones included, so that they too are
// answered in its error shape.
const RESTPattern = "/api/"

// OpenAPIPath serves the OpenAPI document of the REST API. It is the one
// path under /api/ that needs no token.
const OpenAPIPath = "/api/openapi.json"

// Tokens authenticates API tokens. Implementations are safe for concurrent
// use.
type Tokens interface {
	// Authenticate returns the live token whose secret was presented, or
	// an error wrapping crmhub.ErrNotFound for an unknown or revoked one.
	Authenticate(ctx context.Context, secret string) (store.Token, error)
	// TouchToken records that the token with id was just used.
	TouchToken(ctx context.Context, id string) error
}

// Customers reads profiles. Implementations are safe for concurrent use;
// a missing profile is an error wrapping crmhub.ErrNotFound.
type Customers interface {
	// CustomerPage returns up to limit live profiles matching f with an id
	// greater than after, in id order.
	CustomerPage(ctx context.Context, f store.CustomerFilter, after string, limit int) ([]crmhub.Customer, error)
	// Customer returns one profile, live or merged away.
	Customer(ctx context.Context, id string) (crmhub.Customer, error)
	// CustomerJSON returns a live profile as json.Marshal writes it, or,
	// for one merged away, the id it was merged into.
	CustomerJSON(ctx context.Context, id string) (doc []byte, mergedInto string, err error)
	// MergesOf returns the merges a profile took part in, oldest first.
	MergesOf(ctx context.Context, customerID string) ([]crmhub.Merge, error)
}

// Activity reads orders and events. Implementations are safe for
// concurrent use.
type Activity interface {
	// OrderPage returns up to limit orders matching f with an id greater
	// than after, in id order.
	OrderPage(ctx context.Context, f store.OrderFilter, after string, limit int) ([]crmhub.Order, error)
	// OrdersOfCustomer returns a profile's orders.
	OrdersOfCustomer(ctx context.Context, customerID string) ([]crmhub.Order, error)
	// EventsOfCustomer returns a profile's events.
	EventsOfCustomer(ctx context.Context, customerID string) ([]crmhub.Event, error)
}

// DeadLetters reads dead letters. Implementations are safe for concurrent
// use; a missing one is an error wrapping crmhub.ErrNotFound.
type DeadLetters interface {
	// DeadLetters returns up to limit dead letters with an id greater than
	// after, in id order.
	DeadLetters(ctx context.Context, after int64, limit int) ([]store.DeadLetter, error)
	// DeadLetter returns one dead letter.
	DeadLetter(ctx context.Context, id int64) (store.DeadLetter, error)
}

// Store is everything the REST API reads; *store.Store satisfies it.
type Store interface {
	Tokens
	Customers
	Activity
	DeadLetters
	Exports
}

var _ Store = (*store.Store)(nil)

// ReplayFunc puts dead letter id back on the topic it failed on and
// removes it, as `crmhub dlq replay` does. An unknown id is an error
// wrapping crmhub.ErrNotFound.
type ReplayFunc func(ctx context.Context, id int64) error

// Defaults of the per-token rate limit.
const (
	DefaultRateLimit = 20 // requests per second
	DefaultRateBurst = 40
)

// RESTOptions configure the REST API.
type RESTOptions struct {
	// Store is what the API reads. Required.
	Store Store
	// Replay replays dead letters. Required.
	Replay ReplayFunc
	// Identity merges and unmerges profiles; without it those routes
	// answer 503.
	Identity Identity
	// Connectors reports on sources and starts syncs; without it those
	// routes answer 503.
	Connectors Connectors
	// MaxPageSize caps the limit parameter of list endpoints; default
	// DefaultMaxPageSize.
	MaxPageSize int
	// RateLimit is how many requests per second one token may make on
	// average, and RateBurst how many at once; defaults DefaultRateLimit
	// and DefaultRateBurst.
	RateLimit rate.Limit
	RateBurst int
	// Logger receives the API's logs; nil discards them.
	Logger *slog.Logger
}

// REST is the REST API under /api/v1. Mount it at RESTPattern:
//
//	srv.Handle(api.RESTPattern, rest)
//
// Every route needs a bearer token with its scope; see Routes.
type REST struct {
	store      Store
	replay     ReplayFunc
	identity   Identity
	connectors Connectors
	maxPage    int
	limits     *limiters
	log        *slog.Logger
	now        func() time.Time
	routes     []Route
	mux        *http.ServeMux
}

// Route is one endpoint of the REST API.
type Route struct {
	// Method and Pattern say what the route answers, Pattern in
	// http.ServeMux syntax without the method (/api/v1/customers/{id}),
	// which is also how the OpenAPI document writes paths.
	Method, Pattern string
	// Scope is the token scope the route needs: store.ScopeRead,
	// ScopeWrite or ScopeAdmin.
	Scope string
	// Query lists the query parameters the route takes; any other is
	// refused with 400, so that a misspelt filter is not silently ignored.
	Query []string

	handle func(w http.ResponseWriter, r *http.Request) error
}

// NewREST returns the REST API. It does no I/O.
func NewREST(opts RESTOptions) (*REST, error) {
	if opts.Store == nil || opts.Replay == nil {
		return nil, errors.New("rest api: a store and a replay function are required")
	}
	if opts.MaxPageSize <= 0 {
		opts.MaxPageSize = DefaultMaxPageSize
	}
	if opts.RateLimit <= 0 {
		opts.RateLimit = DefaultRateLimit
	}
	if opts.RateBurst <= 0 {
		opts.RateBurst = DefaultRateBurst
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	a := &REST{store: opts.Store, replay: opts.Replay, identity: opts.Identity, connectors: opts.Connectors,
		maxPage: opts.MaxPageSize, limits: newLimiters(opts.RateLimit, opts.RateBurst),
		log: opts.Logger.With("component", "api"), now: time.Now, mux: http.NewServeMux()}
	a.routes = a.routeTable()
	for _, rt := range a.routes {
		if !slices.Contains(store.Scopes, rt.Scope) {
			return nil, errors.New("rest api: route " + rt.Method + " " + rt.Pattern + " has no valid scope")
		}
		a.mux.Handle(rt.Method+" "+rt.Pattern, a.guard(rt))
	}
	a.mux.HandleFunc("GET "+OpenAPIPath, serveOpenAPI)
	return a, nil
}

// routeTable is every route of the API. Each is served only through
// guard, which checks its token and scope first.
func (a *REST) routeTable() []Route {
	list := []string{"cursor", "limit"}
	return []Route{
		{Method: http.MethodGet, Pattern: "/api/v1/customers", Scope: store.ScopeRead,
			Query: append([]string{"q", "email", "phone", "segment", "updated_since"}, list...), handle: a.listCustomers},
		{Method: http.MethodGet, Pattern: "/api/v1/customers/{id}", Scope: store.ScopeRead, handle: a.getCustomer},
		{Method: http.MethodGet, Pattern: "/api/v1/customers/{id}/timeline", Scope: store.ScopeRead,
			Query: list, handle: a.customerTimeline},
		{Method: http.MethodPost, Pattern: "/api/v1/customers/{id}/unmerge", Scope: store.ScopeWrite, handle: a.unmergeCustomer},
		{Method: http.MethodPost, Pattern: "/api/v1/merges", Scope: store.ScopeWrite, handle: a.createMerge},
		{Method: http.MethodGet, Pattern: "/api/v1/export/customers", Scope: store.ScopeRead,
			Query: []string{"format", "segment", "updated_since"}, handle: a.exportCustomers},
		{Method: http.MethodGet, Pattern: "/api/v1/orders", Scope: store.ScopeRead,
			Query: append([]string{"customer_id", "updated_since"}, list...), handle: a.listOrders},
		{Method: http.MethodGet, Pattern: "/api/v1/dead-letters", Scope: store.ScopeRead, Query: list, handle: a.listDeadLetters},
		{Method: http.MethodGet, Pattern: "/api/v1/dead-letters/{id}", Scope: store.ScopeRead, handle: a.getDeadLetter},
		{Method: http.MethodPost, Pattern: "/api/v1/dead-letters/{id}/replay", Scope: store.ScopeWrite, handle: a.replayDeadLetter},
		{Method: http.MethodGet, Pattern: "/api/v1/connectors", Scope: store.ScopeRead, handle: a.listConnectors},
		{Method: http.MethodPost, Pattern: "/api/v1/connectors/{name}/sync", Scope: store.ScopeWrite, handle: a.syncConnector},
	}
}

// Routes lists the routes of the API with the scope each needs.
func (a *REST) Routes() []Route { return slices.Clone(a.routes) }

// ServeHTTP answers a request under /api/. A path or method no route
// takes is answered in the error shape: 404, or 405 with Allow.
func (a *REST) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h, pattern := a.mux.Handler(r); pattern == "" {
		noRoute(w, r, h)
		return
	}
	a.mux.ServeHTTP(w, r)
}

// noRoute lets the mux's own handler decide between 404, 405 (with the
// Allow header) and a redirect to the clean path, and answers the errors
// in the API's shape.
func noRoute(w http.ResponseWriter, r *http.Request, h http.Handler) {
	rec := &headerRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch {
	case rec.status == http.StatusMethodNotAllowed:
		w.Header().Set("Allow", rec.header.Get("Allow"))
		writeError(w, errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed,
			"%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, rec.header.Get("Allow")))
	case rec.status >= 300 && rec.status < 400:
		w.Header().Set("Location", rec.header.Get("Location"))
		w.WriteHeader(rec.status)
	default:
		writeError(w, errorf(http.StatusNotFound, CodeNotFound, "no route %s; see %s", r.URL.Path, OpenAPIPath))
	}
}

// headerRecorder keeps the status and headers a handler answers with and
// drops its body.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header { return h.header }
func (h *headerRecorder) Write(b []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return len(b), nil
}
func (h *headerRecorder) WriteHeader(code int) {
	if h.status == 0 {
		h.status = code
	}
}

// guard serves a route: token, scope, rate limit and query parameters
// are checked, in that order, before its handler runs.
func (a *REST) guard(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := a.authenticate(r)
		if err != nil {
			if e, ok := asAPIError(err); ok && e.status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="crmhub"`)
			}
			a.fail(w, r, err)
			return
		}
		if !tok.Allows(rt.Scope) {
			writeError(w, errorf(http.StatusForbidden, CodeForbidden,
				"this route needs a token with scope %s or above; this one has %s", rt.Scope, tok.Scope))
			return
		}
		if wait := a.limits.wait(tok.ID, a.now()); wait > 0 {
			w.Header().Set("Retry-After", retryAfter(wait))
			writeError(w, errorf(http.StatusTooManyRequests, CodeRateLimited,
				"too many requests with this token; retry after %s seconds", retryAfter(wait)))
			return
		}
		a.touch(r.Context(), tok)
		r = r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok))
		if err := checkQuery(r, rt.Query); err != nil {
			a.fail(w, r, err)
			return
		}
		if err := rt.handle(w, r); err != nil {
			a.fail(w, r, err)
		}
	})
}

// checkQuery refuses a query parameter the route does not take, or one
// given twice.
func checkQuery(r *http.Request, allowed []string) error {
	for name, vs := range r.URL.Query() {
		if !slices.Contains(allowed, name) {
			if len(allowed) == 0 {
				return invalidParam(name, "unknown parameter; this route takes none")
			}
			return invalidParam(name, "unknown parameter; this route takes %s", strings.Join(allowed, ", "))
		}
		if len(vs) > 1 {
			return invalidParam(name, "given %d times; give it once", len(vs))
		}
	}
	return nil
}

// fail answers with what err tells the client. An error that is not the
// client's to see is logged with the route, never with the request's
// query or headers, which carry personal data and tokens.
func (a *REST) fail(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := asAPIError(err)
	if !ok {
		a.log.ErrorContext(r.Context(), "api request failed", "route", r.Pattern, "err", err)
	}
	writeError(w, e)
}
