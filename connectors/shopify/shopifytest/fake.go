// Package shopifytest is a fake Shopify Admin API for tests: an httptest
// server that answers the GraphQL customers query with cursor pagination,
// charges every query against a leaky cost bucket it really enforces, and
// misbehaves on demand (429 with Retry-After, 5xx, slow answers, 401 and
// 403). Its payloads have the shapes of the GraphQL Admin API 2026-01.
package shopifytest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
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
	// read_customers.
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
	// connection costs 2 plus first × NodeCost.
	NodeCost float64
}

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
}

// Server is the fake shop. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	srv  *httptest.Server

	mu        sync.Mutex
	customers []Customer // sorted by (UpdatedAt, ID)
	faults    []Fault
	level     float64
	levelAt   time.Time
	stats     Stats
	now       func() time.Time
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
		o.Scopes = []string{"read_customers"}
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
	for _, c := range cs {
		s.customers = slices.DeleteFunc(s.customers, func(o Customer) bool { return o.ID == c.ID })
		s.customers = append(s.customers, c)
	}
	slices.SortFunc(s.customers, compareCustomers)
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

func compareCustomers(a, b Customer) int {
	if c := a.UpdatedAt.Compare(b.UpdatedAt); c != 0 {
		return c
	}
	switch {
	case a.ID < b.ID:
		return -1
	case a.ID > b.ID:
		return 1
	}
	return 0
}

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

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
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
	if r.Header.Get("X-Shopify-Access-Token") != s.opts.Token {
		f := Unauthorized()
		w.WriteHeader(f.Status)
		_, _ = w.Write([]byte(f.Body))
		return
	}
	var req struct {
		Query     string `json:"query"`
		Variables struct {
			First int     `json:"first"`
			After *string `json:"after"`
			Query *string `json:"query"`
		} `json:"variables"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, gqlErrors(nil, "Parse error: "+err.Error(), ""))
		return
	}
	writeJSON(w, s.answer(req.Query, req.Variables.First, deref(req.Variables.After), deref(req.Variables.Query)))
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

var customersRE = regexp.MustCompile(`customers\s*\(`)

// answer charges the bucket and answers one query. Like Shopify it takes
// the requested cost up front and refunds what the answer did not use.
func (s *Server) answer(query string, first int, after, search string) any {
	if !customersRE.MatchString(query) {
		return gqlErrors(nil, "the fake Shopify only answers the customers query", "")
	}
	if first < 1 || first > 250 {
		return gqlErrors(nil, "The first argument must be between 1 and 250.", "BAD_REQUEST")
	}
	if !strings.Contains(query, "sortKey: UPDATED_AT") {
		return gqlErrors(nil, "the fake Shopify expects sortKey: UPDATED_AT", "")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.levelAt.IsZero() {
		s.level, s.levelAt = math.Max(0, s.opts.MaximumAvailable-s.opts.Drained), now
	}
	s.level = math.Min(s.opts.MaximumAvailable, s.level+s.opts.RestoreRate*now.Sub(s.levelAt).Seconds())
	s.levelAt = now
	requested := 2 + float64(first)*s.opts.NodeCost
	if requested > s.level {
		if s.stats.Throttled > 0 {
			s.stats.Violations++
		}
		s.stats.Throttled++
		return gqlErrors(s.cost(requested, nil), "Throttled", "THROTTLED")
	}
	if !slices.Contains(s.opts.Scopes, "read_customers") {
		actual := 1.0
		s.level -= actual
		return gqlErrors(s.cost(requested, &actual),
			"Access denied for customers field. Required access: `read_customers` access scope.", "ACCESS_DENIED")
	}
	since, err := parseSince(search)
	if err != nil {
		return gqlErrors(nil, err.Error(), "")
	}
	start := 0
	if after != "" {
		at, id, err := decodeCursor(after)
		if err != nil {
			return gqlErrors(nil, "Invalid cursor for current pagination sort.", "")
		}
		start, _ = slices.BinarySearchFunc(s.customers, Customer{UpdatedAt: at, ID: id + 1}, compareCustomers)
	}
	var edges []any
	i := start
	for ; i < len(s.customers) && len(edges) < first; i++ {
		c := s.customers[i]
		if c.UpdatedAt.Before(since) {
			continue
		}
		edges = append(edges, map[string]any{"cursor": encodeCursor(c), "node": node(c)})
	}
	hasNext := false
	for ; i < len(s.customers); i++ {
		if !s.customers[i].UpdatedAt.Before(since) {
			hasNext = true
			break
		}
	}
	var end any
	if len(edges) > 0 {
		end = edges[len(edges)-1].(map[string]any)["cursor"]
	}
	actual := 2 + float64(len(edges))*s.opts.NodeCost
	s.level -= actual
	s.stats.Pages++
	return map[string]any{
		"data": map[string]any{"customers": map[string]any{
			"edges":    edges,
			"pageInfo": map[string]any{"hasNextPage": hasNext, "endCursor": end},
		}},
		"extensions": s.cost(requested, &actual),
	}
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
func encodeCursor(c Customer) string {
	b, _ := json.Marshal(map[string]any{"last_id": c.ID, "last_value": c.UpdatedAt.Format(time.RFC3339)})
	return base64.StdEncoding.EncodeToString(b)
}

func decodeCursor(s string) (time.Time, int64, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, 0, err
	}
	var v struct {
		ID    int64  `json:"last_id"`
		Value string `json:"last_value"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return time.Time{}, 0, err
	}
	at, err := time.Parse(time.RFC3339, v.Value)
	return at, v.ID, err
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
