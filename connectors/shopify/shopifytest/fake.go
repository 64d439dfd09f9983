// Package shopifytest is a fake Shopify Admin API for tests: an httptest
// server that answers the GraphQL customers and orders queries (and an
// order's further line items) with cursor pagination, charges every query
// against a leaky cost bucket it really enforces, refuses a query that
// costs more than Shopify's single-query limit, and misbehaves on demand
// (429 with Retry-After, 5xx, slow answers, 401 and 403). It runs bulk
// query operations too (see bulk.go), and the tags and metafields
// mutations of customers with the customers/update webhooks they cause
// (see push.go), issues OAuth tokens that expire (see oauth.go) and keeps
// webhook subscriptions (see subscriptions.go). Its payloads have the
// shapes of the GraphQL Admin API 2026-01.
package shopifytest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options configure a Server. Zero values take the defaults.
type Options struct {
	// Token is the Admin API access token the fake accepts in
	// X-Shopify-Access-Token. Default "shpat_test".
	Token string
	// APIVersion is the version the fake serves under
	// /admin/api/{version}/graphql.json. Default "2026-01".
	APIVersion string
	// Scopes are the access scopes granted to the token. Default
	// read_customers and read_orders.
	Scopes []string
	// MaximumAvailable is the size of the cost bucket. Default 2000.
	MaximumAvailable float64
	// RestoreRate is how many points the bucket regains a second.
	// Default 100, Shopify's standard plan.
	RestoreRate float64
	// Drained is how many points are missing from the bucket when the
	// first query arrives, as if another app of the shop had just spent
	// them.
	Drained float64
	// NodeCost is what one customer costs a query. Default 1: a
	// connection costs 2 plus first × NodeCost. An order costs what its
	// fields cost, line items included, as Shopify counts them.
	NodeCost float64
	// ClientID, ClientSecret and Shop are the app and shop of the OAuth
	// endpoints (see oauth.go). Defaults DefaultClientID,
	// DefaultClientSecret and DefaultShop.
	ClientID, ClientSecret, Shop string
	// TokenTTL is the life of a client credentials token, default
	// DefaultTokenTTL; OfflineTokenTTL that of an expiring offline token,
	// default DefaultOfflineTokenTTL.
	TokenTTL, OfflineTokenTTL time.Duration
	// TokenClock is the time issued tokens expire by. Default time.Now.
	TokenClock func() time.Time
}

// MaxQueryCost is the most one query may cost, as on Shopify: a query
// that asks for more is refused with MAX_COST_EXCEEDED.
const MaxQueryCost = 1000

// Customer is one customer of the fake shop.
type Customer struct {
	ID                    int64
	FirstName, LastName   string
	Email, Phone          string
	EmailMarketing        string // SUBSCRIBED, NOT_SUBSCRIBED, ...
	SMSMarketing          string
	Locale                string
	State                 string // ENABLED, DISABLED, INVITED, DECLINED
	Tags                  []string
	NumberOfOrders        int
	AmountSpent, Currency string
	Address               *Address
	CreatedAt, UpdatedAt  time.Time
}

// Address is a customer's default address.
type Address struct {
	FirstName, LastName string
	Address1, Address2  string
	City, ProvinceCode  string
	Zip, CountryCode    string
	Phone               string
}

// Order is one order of the fake shop. Amounts are decimal text in the
// shop's currency, as Shopify writes them.
type Order struct {
	ID   int64
	Name string // #1001
	// CustomerID is the id of the customer who placed it; 0 for a guest
	// checkout.
	CustomerID   int64
	Email, Phone string
	Currency     string
	// FinancialStatus and FulfillmentStatus are the display statuses:
	// PAID, PARTIALLY_REFUNDED, ...; FULFILLED, UNFULFILLED, ...
	FinancialStatus, FulfillmentStatus                  string
	Subtotal, Discounts, Tax, Shipping, Total, Refunded string
	LineItems                                           []LineItem
	CreatedAt, ProcessedAt, UpdatedAt                   time.Time
	CancelledAt                                         *time.Time
}

// LineItem is one line of an order.
type LineItem struct {
	SKU, Title string
	Quantity   int
	Price      string
}

func (o Order) key() pageKey { return pageKey{at: o.UpdatedAt, id: o.ID} }

// Fault is a misbehaviour applied to one request instead of (or before)
// the normal answer.
type Fault struct {
	// Status answers the request with this HTTP status, when not zero.
	Status int
	// RetryAfter is sent as the Retry-After header, in seconds.
	RetryAfter string
	// Body is the answer's body for Status.
	Body string
	// Delay holds the answer back this long; with Status zero the normal
	// answer follows.
	Delay time.Duration
}

// TooManyRequests is a 429 answer asking the client to wait d.
func TooManyRequests(d time.Duration) Fault {
	return Fault{Status: http.StatusTooManyRequests, RetryAfter: strconv.FormatFloat(d.Seconds(), 'f', -1, 64),
		Body: `{"errors":"Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."}`}
}

// ServerError is a 5xx answer, as Shopify gives during an incident.
func ServerError(status int) Fault {
	return Fault{Status: status, Body: `{"errors":"Internal Server Error"}`}
}

// Slow holds the normal answer back by d.
func Slow(d time.Duration) Fault { return Fault{Delay: d} }

// Unauthorized is Shopify's answer to an unknown or revoked token.
func Unauthorized() Fault {
	return Fault{Status: http.StatusUnauthorized,
		Body: `{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}`}
}

// Forbidden is Shopify's answer when the app lacks scope.
func Forbidden(scope string) Fault {
	return Fault{Status: http.StatusForbidden,
		Body: fmt.Sprintf(`{"errors":"[API] This action requires merchant approval for %s scope."}`, scope)}
}

// Stats count what the fake has seen.
type Stats struct {
	// Requests is every request that reached the GraphQL endpoint.
	Requests int
	// Pages is how many customers queries were answered with data.
	Pages int
	// Throttled is how many queries were refused with THROTTLED.
	Throttled int
	// Violations is how many queries arrived, after the first THROTTLED
	// answer, costing more than the bucket held.
	Violations int
	// TokensIssued is how many access tokens the OAuth endpoint issued.
	TokensIssued int
	// Unauthorized is how many requests were refused for their token.
	Unauthorized int
}

// Server is the fake shop. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	srv  *httptest.Server

	mu        sync.Mutex
	customers []Customer // sorted by (UpdatedAt, ID)
	orders    []Order    // sorted by (UpdatedAt, ID)
	faults    []Fault
	level     float64
	levelAt   time.Time
	stats     Stats
	now       func() time.Time
	bulk      bulkOps
	push      pushFake
	oauth     oauthFake
	subs      subscriptions
}

// New starts a fake shop; it is closed when the test ends.
func New(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Token == "" {
		o.Token = "shpat_test"
	}
	if o.APIVersion == "" {
		o.APIVersion = "2026-01"
	}
	if o.Scopes == nil {
		o.Scopes = []string{"read_customers", "read_orders"}
	}
	if o.MaximumAvailable == 0 {
		o.MaximumAvailable = 2000
	}
	if o.RestoreRate == 0 {
		o.RestoreRate = 100
	}
	if o.NodeCost == 0 {
		o.NodeCost = 1
	}
	s := &Server{opts: o, now: time.Now}
	s.bulk.dir = t.TempDir()
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the fake's base URL, scheme and host: what a source's base_url
// takes.
func (s *Server) URL() string { return s.srv.URL }

// Token is the access token the fake accepts.
func (s *Server) Token() string { return s.opts.Token }

// Put adds customers or replaces those with the same ID.
func (s *Server) Put(cs ...Customer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.customers = putAll(s.customers, cs, func(c Customer) int64 { return c.ID })
	slices.SortFunc(s.customers, compareCustomers)
}

// PutOrders adds orders or replaces those with the same ID.
func (s *Server) PutOrders(os ...Order) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.orders = putAll(s.orders, os, func(o Order) int64 { return o.ID })
	slices.SortFunc(s.orders, func(a, b Order) int { return a.key().compare(b.key()) })
}

// putAll adds xs to have, replacing those with the same id (the last of
// xs wins), in one pass: shops of a hundred thousand records are put at
// once.
func putAll[T any](have, xs []T, id func(T) int64) []T {
	last := make(map[int64]int, len(xs))
	for i, x := range xs {
		last[id(x)] = i
	}
	have = slices.DeleteFunc(have, func(x T) bool { _, ok := last[id(x)]; return ok })
	for i, x := range xs {
		if last[id(x)] == i {
			have = append(have, x)
		}
	}
	return have
}

// Fail queues faults: each applies to one of the next requests, in order.
func (s *Server) Fail(fs ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fs...)
}

// Stats returns the counts so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

func (c Customer) key() pageKey { return pageKey{at: c.UpdatedAt, id: c.ID} }

func compareCustomers(a, b Customer) int { return a.key().compare(b.key()) }

var firstNames = []string{"Sara", "John", "سارة", "Bob", "مریم", "Jenny", "Omar", "Léon", "Noël", "Aisha"}
var lastNames = []string{"Al Amiri", "Smith", "العامري", "Bobsen", "رضایی", "Doe", "Haddad", "Dupont", "Ng", "Khan"}

// Generate returns n customers with ids from 7039114952811000001 up (ids
// beyond 2^53, as Shopify's are), updated from start on, several to a
// second: Shopify timestamps have whole seconds and many records share
// one.
func Generate(n int, start time.Time) []Customer {
	out := make([]Customer, n)
	for i := range out {
		id := int64(7039114952811000001) + int64(i)
		fn, ln := firstNames[i%len(firstNames)], lastNames[(i/len(firstNames))%len(lastNames)]
		at := start.Add(time.Duration(i/7) * time.Second).UTC().Truncate(time.Second)
		c := Customer{ID: id, FirstName: fn, LastName: ln, State: "ENABLED", Locale: "en",
			Email: fmt.Sprintf("customer%d@example.com", i), EmailMarketing: "SUBSCRIBED",
			NumberOfOrders: i % 5, AmountSpent: fmt.Sprintf("%d.%02d", i%500, i%100), Currency: "AED",
			Tags: []string{"vip"}, CreatedAt: start.Add(-24 * time.Hour).UTC().Truncate(time.Second), UpdatedAt: at}
		if i%3 != 0 {
			c.Phone, c.SMSMarketing = fmt.Sprintf("+9715%08d", i), "NOT_SUBSCRIBED"
		}
		if i%4 == 0 {
			c.Tags, c.EmailMarketing, c.State = nil, "NOT_SUBSCRIBED", "DISABLED"
		}
		if i%2 == 0 {
			c.Address = &Address{FirstName: fn, LastName: ln, Address1: fmt.Sprintf("%d Marina Walk", i%90+1),
				City: "Dubai", ProvinceCode: "DU", CountryCode: "AE", Phone: c.Phone}
		}
		out[i] = c
	}
	return out
}

// GenerateOrders returns n orders with ids from 5123456789012345001 up,
// updated from start on, several to a second, placed by the given
// customers in turn; every seventh is a guest checkout. Most have one to
// three line items, every tenth has 40 (more than one page of them); some
// are partly refunded, some cancelled.
func GenerateOrders(n int, start time.Time, customers []Customer) []Order {
	out := make([]Order, n)
	for i := range out {
		at := start.Add(time.Duration(i/5) * time.Second).UTC().Truncate(time.Second)
		o := Order{ID: int64(5123456789012345001) + int64(i), Name: fmt.Sprintf("#%d", 1001+i), Currency: "AED",
			FinancialStatus: "PAID", FulfillmentStatus: "UNFULFILLED", Discounts: "0.00", Tax: "0.00", Refunded: "0.00",
			CreatedAt: at.Add(-time.Hour), ProcessedAt: at.Add(-time.Hour), UpdatedAt: at}
		if len(customers) > 0 && i%7 != 6 {
			c := customers[i%len(customers)]
			o.CustomerID, o.Email, o.Phone = c.ID, c.Email, c.Phone
		}
		lines := 1 + i%3
		if i%10 == 9 {
			lines = 40
		}
		subtotal := 0
		for j := range lines {
			price := 10 + (i+j)%90
			o.LineItems = append(o.LineItems, LineItem{SKU: fmt.Sprintf("SKU-%03d", (i+j)%500),
				Title: fmt.Sprintf("Product %d", (i+j)%500), Quantity: 1 + j%2, Price: fmt.Sprintf("%d.00", price)})
			subtotal += price * (1 + j%2)
		}
		shipping := 15
		o.Subtotal, o.Shipping = fmt.Sprintf("%d.00", subtotal), fmt.Sprintf("%d.00", shipping)
		o.Total = fmt.Sprintf("%d.00", subtotal+shipping)
		switch i % 11 {
		case 4:
			o.FulfillmentStatus = "FULFILLED"
		case 5:
			o.FinancialStatus, o.Refunded = "PARTIALLY_REFUNDED", "5.50"
		case 8:
			cancelled := at
			o.FinancialStatus, o.CancelledAt = "VOIDED", &cancelled
		}
		out[i] = o
	}
	return out
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/bulk/") {
		s.serveBulkFile(w, r)
		return
	}
	if s.serveOAuth(w, r) {
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/admin/api/"+s.opts.APIVersion+"/graphql.json" {
		http.Error(w, `{"errors":"Not Found"}`, http.StatusNotFound)
		return
	}
	s.mu.Lock()
	s.stats.Requests++
	var f Fault
	if len(s.faults) > 0 {
		f, s.faults = s.faults[0], s.faults[1:]
	}
	s.mu.Unlock()
	if f.Delay > 0 {
		select {
		case <-time.After(f.Delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if f.Status != 0 {
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		w.WriteHeader(f.Status)
		_, _ = w.Write([]byte(f.Body))
		return
	}
	if !s.authorized(r.Header.Get("X-Shopify-Access-Token")) {
		f := Unauthorized()
		w.WriteHeader(f.Status)
		_, _ = w.Write([]byte(f.Body))
		return
	}
	var req request
	body, err := io.ReadAll(r.Body)
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err == nil {
		// Mutations bind variables by the names their query gives.
		err = json.Unmarshal(body, &req.raw)
	}
	if err != nil {
		writeJSON(w, gqlErrors(nil, "Parse error: "+err.Error(), ""))
		return
	}
	writeJSON(w, s.answer(req))
}

// request is a GraphQL request as the fake reads it.
type request struct {
	Query     string `json:"query"`
	Variables struct {
		First int     `json:"first"`
		After *string `json:"after"`
		Query *string `json:"query"`
		ID    *string `json:"id"`
		// GroupObjects is bulkOperationRunQuery's; Query is then the
		// bulk query.
		GroupObjects *bool `json:"groupObjects"`
	} `json:"variables"`
	raw rawRequest
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func writeJSON(w http.ResponseWriter, v any) {
	_ = json.NewEncoder(w).Encode(v)
}

func gqlErrors(ext any, msg, code string) map[string]any {
	e := map[string]any{"message": msg}
	if code != "" {
		e["extensions"] = map[string]any{"code": code}
	}
	out := map[string]any{"errors": []any{e}}
	if ext != nil {
		out["extensions"] = ext
	}
	return out
}

var (
	customersRE = regexp.MustCompile(`customers\s*\(`)
	ordersRE    = regexp.MustCompile(`orders\s*\(`)
	orderRE     = regexp.MustCompile(`order\s*\(\s*id:`)
	lineFirstRE = regexp.MustCompile(`lineItems\s*\(\s*first:\s*(\d+)`)
)

// answer dispatches one query by what it asks for.
func (s *Server) answer(req request) any {
	if a, ok := s.answerBulk(req); ok {
		return a
	}
	if a, ok := s.answerSubscriptions(req); ok {
		return a
	}
	if a, ok := s.answerPush(req); ok {
		return a
	}
	first, after, search := req.Variables.First, deref(req.Variables.After), deref(req.Variables.Query)
	switch {
	case customersRE.MatchString(req.Query):
		return s.answerCustomers(req.Query, first, after, search)
	case ordersRE.MatchString(req.Query):
		return s.answerOrders(req.Query, first, after, search)
	case orderRE.MatchString(req.Query):
		return s.answerLineItems(req.Query, deref(req.Variables.ID), after)
	}
	return gqlErrors(nil, "the fake Shopify answers the customers and orders queries and an order's line items", "")
}

// charge takes a query's requested cost from the bucket up front, as
// Shopify does; it returns the error answer when the query is refused
// (over the single-query limit, throttled, or without scope). The caller
// holds s.mu and refunds what the answer does not use with settle.
func (s *Server) charge(requested float64, scope, field string) any {
	if requested > MaxQueryCost {
		return gqlErrors(nil, fmt.Sprintf("Query cost is %.0f, which exceeds the single query max cost limit (%d).",
			requested, MaxQueryCost), "MAX_COST_EXCEEDED")
	}
	now := s.now()
	if s.levelAt.IsZero() {
		s.level, s.levelAt = math.Max(0, s.opts.MaximumAvailable-s.opts.Drained), now
	}
	s.level = math.Min(s.opts.MaximumAvailable, s.level+s.opts.RestoreRate*now.Sub(s.levelAt).Seconds())
	s.levelAt = now
	if requested > s.level {
		if s.stats.Throttled > 0 {
			s.stats.Violations++
		}
		s.stats.Throttled++
		return gqlErrors(s.cost(requested, nil), "Throttled", "THROTTLED")
	}
	if scope != "" && !slices.Contains(s.opts.Scopes, scope) {
		actual := 1.0
		s.level -= actual
		return gqlErrors(s.cost(requested, &actual),
			fmt.Sprintf("Access denied for %s field. Required access: `%s` access scope.", field, scope), "ACCESS_DENIED")
	}
	return nil
}

// answerData spends a query's actual cost and wraps its data.
func (s *Server) answerData(requested, actual float64, data map[string]any) any {
	s.level -= actual
	s.stats.Pages++
	return map[string]any{"data": data, "extensions": s.cost(requested, &actual)}
}

// answerCustomers answers one page of customers.
func (s *Server) answerCustomers(query string, first int, after, search string) any {
	if bad := checkPage(query, first); bad != nil {
		return bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	requested := 2 + float64(first)*s.opts.NodeCost
	if refused := s.charge(requested, "read_customers", "customers"); refused != nil {
		return refused
	}
	sel, hasNext, err := page(s.customers, Customer.key, first, after, search)
	if err != nil {
		return gqlErrors(nil, err.Error(), "")
	}
	edges := make([]any, len(sel))
	for i, c := range sel {
		edges[i] = map[string]any{"cursor": encodeCursor(c.key()), "node": node(c)}
	}
	actual := 2 + float64(len(sel))*s.opts.NodeCost
	return s.answerData(requested, actual, map[string]any{"customers": connection(edges, hasNext)})
}

// orderCost is what one order costs as the orders query selects it, with
// lines line items: the order, its customer and six amounts (objects of
// objects) and its line items connection, each item with its price.
func orderCost(lines int) float64 { return 1 + 1 + 6*2 + 2 + float64(lines)*3 }

// answerOrders answers one page of orders with their first line items.
func (s *Server) answerOrders(query string, first int, after, search string) any {
	if bad := checkPage(query, first); bad != nil {
		return bad
	}
	lines := 0
	if m := lineFirstRE.FindStringSubmatch(query); m != nil {
		lines, _ = strconv.Atoi(m[1])
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	requested := 2 + float64(first)*orderCost(lines)
	if refused := s.charge(requested, "read_orders", "orders"); refused != nil {
		return refused
	}
	sel, hasNext, err := page(s.orders, Order.key, first, after, search)
	if err != nil {
		return gqlErrors(nil, err.Error(), "")
	}
	edges := make([]any, len(sel))
	actual := 2.0
	for i, o := range sel {
		n := min(lines, len(o.LineItems))
		edges[i] = map[string]any{"cursor": encodeCursor(o.key()), "node": orderNode(o, n)}
		actual += orderCost(n)
	}
	return s.answerData(requested, actual, map[string]any{"orders": connection(edges, hasNext)})
}

// answerLineItems answers the line items of one order after a cursor.
func (s *Server) answerLineItems(query, gid, after string) any {
	lines := 0
	if m := lineFirstRE.FindStringSubmatch(query); m != nil {
		lines, _ = strconv.Atoi(m[1])
	}
	if lines < 1 || lines > 250 {
		return gqlErrors(nil, "The first argument must be between 1 and 250.", "BAD_REQUEST")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	requested := 1 + 2 + float64(lines)*3
	if refused := s.charge(requested, "read_orders", "order"); refused != nil {
		return refused
	}
	i := slices.IndexFunc(s.orders, func(o Order) bool { return fmt.Sprintf("gid://shopify/Order/%d", o.ID) == gid })
	if i < 0 {
		return s.answerData(requested, 1, map[string]any{"order": nil})
	}
	from := 0
	if after != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(after, "li:"))
		if err != nil {
			return gqlErrors(nil, "Invalid cursor for current pagination sort.", "")
		}
		from = n
	}
	o := s.orders[i]
	to := min(from+lines, len(o.LineItems))
	from = min(from, to)
	conn := lineItemConnection(o.LineItems[from:to], to, to < len(o.LineItems))
	return s.answerData(requested, 1+2+float64(to-from)*3, map[string]any{"order": map[string]any{"lineItems": conn}})
}

// checkPage refuses what Shopify refuses of a page query.
func checkPage(query string, first int) any {
	if first < 1 || first > 250 {
		return gqlErrors(nil, "The first argument must be between 1 and 250.", "BAD_REQUEST")
	}
	if !strings.Contains(query, "sortKey: UPDATED_AT") {
		return gqlErrors(nil, "the fake Shopify expects sortKey: UPDATED_AT", "")
	}
	return nil
}

func connection(edges []any, hasNext bool) map[string]any {
	var end any
	if len(edges) > 0 {
		end = edges[len(edges)-1].(map[string]any)["cursor"]
	}
	return map[string]any{"edges": edges, "pageInfo": map[string]any{"hasNextPage": hasNext, "endCursor": end}}
}

// pageKey is what records are sorted and paged by: (updatedAt, id).
type pageKey struct {
	at time.Time
	id int64
}

func (a pageKey) compare(b pageKey) int {
	if c := a.at.Compare(b.at); c != 0 {
		return c
	}
	switch {
	case a.id < b.id:
		return -1
	case a.id > b.id:
		return 1
	}
	return 0
}

// page selects up to first records of sorted after the cursor after and
// updated at or after what search asks for.
func page[T any](sorted []T, key func(T) pageKey, first int, after, search string) ([]T, bool, error) {
	since, err := parseSince(search)
	if err != nil {
		return nil, false, err
	}
	start := 0
	if after != "" {
		k, err := decodeCursor(after)
		if err != nil {
			return nil, false, errors.New("Invalid cursor for current pagination sort.")
		}
		start = sort.Search(len(sorted), func(i int) bool { return key(sorted[i]).compare(k) > 0 })
	}
	var sel []T
	i := start
	for ; i < len(sorted) && len(sel) < first; i++ {
		if !key(sorted[i]).at.Before(since) {
			sel = append(sel, sorted[i])
		}
	}
	for ; i < len(sorted); i++ {
		if !key(sorted[i]).at.Before(since) {
			return sel, true, nil
		}
	}
	return sel, false, nil
}

// cost is the extensions.cost of an answer.
func (s *Server) cost(requested float64, actual *float64) map[string]any {
	c := map[string]any{
		"requestedQueryCost": requested,
		"throttleStatus": map[string]any{
			"maximumAvailable":   s.opts.MaximumAvailable,
			"currentlyAvailable": math.Floor(s.level),
			"restoreRate":        s.opts.RestoreRate,
		},
	}
	if actual != nil {
		c["actualQueryCost"] = *actual
	} else {
		c["actualQueryCost"] = nil
	}
	return map[string]any{"cost": c}
}

var sinceRE = regexp.MustCompile(`^updated_at:>=?'?([^' ]+)'?$`)

// parseSince reads the search syntax the fake supports: empty, or
// updated_at:>=TIME (Shopify treats > like >=, and so does the fake).
func parseSince(q string) (time.Time, error) {
	q = strings.TrimSpace(q)
	if q == "" {
		return time.Time{}, nil
	}
	m := sinceRE.FindStringSubmatch(q)
	if m == nil {
		return time.Time{}, fmt.Errorf("the fake Shopify does not understand the search %q", q)
	}
	t, err := time.Parse(time.RFC3339, m[1])
	if err != nil {
		return time.Time{}, fmt.Errorf("search %q: %w", q, err)
	}
	return t, nil
}

// Cursors look like Shopify's: base64 of the sort key's last value and id.
func encodeCursor(k pageKey) string {
	b, _ := json.Marshal(map[string]any{"last_id": k.id, "last_value": k.at.Format(time.RFC3339)})
	return base64.StdEncoding.EncodeToString(b)
}

func decodeCursor(s string) (pageKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return pageKey{}, err
	}
	var v struct {
		ID    int64  `json:"last_id"`
		Value string `json:"last_value"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return pageKey{}, err
	}
	at, err := time.Parse(time.RFC3339, v.Value)
	return pageKey{at: at, id: v.ID}, err
}

// node is a customer as the GraphQL Admin API writes it.
func node(c Customer) map[string]any {
	n := map[string]any{
		"id":                  fmt.Sprintf("gid://shopify/Customer/%d", c.ID),
		"firstName":           nullable(c.FirstName),
		"lastName":            nullable(c.LastName),
		"locale":              c.Locale,
		"state":               c.State,
		"tags":                append([]string{}, c.Tags...),
		"numberOfOrders":      strconv.Itoa(c.NumberOfOrders),
		"amountSpent":         map[string]any{"amount": c.AmountSpent, "currencyCode": c.Currency},
		"createdAt":           c.CreatedAt.UTC().Format(time.RFC3339),
		"updatedAt":           c.UpdatedAt.UTC().Format(time.RFC3339),
		"defaultEmailAddress": nil,
		"defaultPhoneNumber":  nil,
		"defaultAddress":      nil,
	}
	if c.Email != "" {
		n["defaultEmailAddress"] = map[string]any{"emailAddress": c.Email, "marketingState": c.EmailMarketing}
	}
	if c.Phone != "" {
		n["defaultPhoneNumber"] = map[string]any{"phoneNumber": c.Phone, "marketingState": c.SMSMarketing}
	}
	if a := c.Address; a != nil {
		n["defaultAddress"] = map[string]any{"firstName": nullable(a.FirstName), "lastName": nullable(a.LastName),
			"address1": nullable(a.Address1), "address2": nullable(a.Address2), "city": nullable(a.City),
			"provinceCode": nullable(a.ProvinceCode), "zip": nullable(a.Zip), "countryCodeV2": nullable(a.CountryCode),
			"phone": nullable(a.Phone)}
	}
	return n
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// orderNode is an order as the GraphQL Admin API writes it, with its
// first lines line items.
func orderNode(o Order, lines int) map[string]any {
	money := func(amount string) any {
		if amount == "" {
			return nil
		}
		return map[string]any{"shopMoney": map[string]any{"amount": amount, "currencyCode": o.Currency}}
	}
	n := map[string]any{
		"id":                       fmt.Sprintf("gid://shopify/Order/%d", o.ID),
		"name":                     o.Name,
		"email":                    nullable(o.Email),
		"phone":                    nullable(o.Phone),
		"currencyCode":             o.Currency,
		"displayFinancialStatus":   nullable(o.FinancialStatus),
		"displayFulfillmentStatus": o.FulfillmentStatus,
		"createdAt":                o.CreatedAt.UTC().Format(time.RFC3339),
		"processedAt":              o.ProcessedAt.UTC().Format(time.RFC3339),
		"updatedAt":                o.UpdatedAt.UTC().Format(time.RFC3339),
		"cancelledAt":              nil,
		"customer":                 nil,
		"subtotalPriceSet":         money(o.Subtotal),
		"totalDiscountsSet":        money(o.Discounts),
		"totalTaxSet":              money(o.Tax),
		"totalShippingPriceSet":    money(o.Shipping),
		"totalPriceSet":            money(o.Total),
		"totalRefundedSet":         money(o.Refunded),
		"lineItems":                lineItemConnection(o.LineItems[:lines], lines, lines < len(o.LineItems)),
	}
	if o.CancelledAt != nil {
		n["cancelledAt"] = o.CancelledAt.UTC().Format(time.RFC3339)
	}
	if o.CustomerID != 0 {
		n["customer"] = map[string]any{"id": fmt.Sprintf("gid://shopify/Customer/%d", o.CustomerID)}
	}
	return n
}

// lineItemConnection is a page of line items ending at position end of
// the order's list.
func lineItemConnection(items []LineItem, end int, hasNext bool) map[string]any {
	edges := make([]any, len(items))
	for i, li := range items {
		edges[i] = map[string]any{"cursor": fmt.Sprintf("li:%d", end-len(items)+i+1), "node": map[string]any{
			"sku": nullable(li.SKU), "title": li.Title, "quantity": li.Quantity,
			"originalUnitPriceSet": map[string]any{"shopMoney": map[string]any{"amount": li.Price}}}}
	}
	var cursor any
	if len(items) > 0 {
		cursor = fmt.Sprintf("li:%d", end)
	}
	return map[string]any{"edges": edges, "pageInfo": map[string]any{"hasNextPage": hasNext, "endCursor": cursor}}
}
