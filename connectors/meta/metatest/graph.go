// Package metatest fakes the part of Meta's Graph API that crmhub reads:
// leads by id, with Meta's error answers (an unknown lead, a refused
// token, a wrong appsecret_proof, rate limits and outages on demand).
// Tests use it, and so does `crmhub demo`, which has no network.
package metatest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// Answer is a canned answer to the next request for a lead.
type Answer struct {
	Status     int
	Body       string
	RetryAfter string // Retry-After header, if any
}

// Throttled is the Graph API's answer when the app's rate limit is
// reached (code 4).
var Throttled = Answer{Status: http.StatusForbidden,
	Body: `{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","is_transient":true,"code":4,"fbtrace_id":"AbCdEfGh123"}}`}

// Down is an outage answer.
var Down = Answer{Status: http.StatusInternalServerError,
	Body: `{"error":{"message":"An unexpected error has occurred. Please retry your request later.","type":"OAuthException","is_transient":true,"code":2,"fbtrace_id":"AbCdEfGh124"}}`}

// Graph serves GET /{version}/{lead-id} as the Graph API does. It is an
// http.Handler, safe for concurrent use.
type Graph struct {
	token, proof string

	mu       sync.Mutex
	leads    map[string]json.RawMessage
	next     map[string][]Answer
	requests map[string]int
}

// NewGraph returns a Graph that accepts token, sent as a bearer token,
// with appsecret_proof under appSecret when appSecret is not empty.
func NewGraph(token, appSecret string) *Graph {
	g := &Graph{token: token, leads: map[string]json.RawMessage{}, next: map[string][]Answer{}, requests: map[string]int{}}
	if appSecret != "" {
		mac := hmac.New(sha256.New, []byte(appSecret))
		mac.Write([]byte(token))
		g.proof = hex.EncodeToString(mac.Sum(nil))
	}
	return g
}

// Token returns the access token g accepts.
func (g *Graph) Token() string { return g.token }

// AddLead makes a lead readable under id; lead is its JSON as the Graph
// API writes it.
func (g *Graph) AddLead(id string, lead json.RawMessage) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.leads[id] = lead
}

// Then queues answers to the next requests for the lead id, before it is
// served normally.
func (g *Graph) Then(id string, answers ...Answer) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.next[id] = append(g.next[id], answers...)
}

// Requests returns how many requests for the lead id came.
func (g *Graph) Requests(id string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.requests[id]
}

func (g *Graph) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if r.Method != http.MethodGet || len(parts) != 2 || !strings.HasPrefix(parts[0], "v") {
		graphError(w, http.StatusBadRequest, 100, 0, "Unknown path components: "+r.URL.Path)
		return
	}
	id := parts[1]
	g.mu.Lock()
	g.requests[id]++
	var canned *Answer
	if q := g.next[id]; len(q) > 0 {
		canned, g.next[id] = &q[0], q[1:]
	}
	lead, ok := g.leads[id]
	g.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+g.token || r.URL.Query().Has("access_token") {
		graphError(w, http.StatusBadRequest, 190, 0, "Invalid OAuth access token - Cannot parse access token")
		return
	}
	if g.proof != "" && !hmac.Equal([]byte(r.URL.Query().Get("appsecret_proof")), []byte(g.proof)) {
		graphError(w, http.StatusBadRequest, 100, 0, "Invalid appsecret_proof provided in the API argument")
		return
	}
	if canned != nil {
		if canned.RetryAfter != "" {
			w.Header().Set("Retry-After", canned.RetryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(canned.Status)
		_, _ = w.Write([]byte(canned.Body))
		return
	}
	if !ok {
		graphError(w, http.StatusBadRequest, 100, 33, fmt.Sprintf("Unsupported get request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", id))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(lead)
}

func graphError(w http.ResponseWriter, status, code, subcode int, msg string) {
	body := map[string]any{"message": msg, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEfGh125"}
	if subcode != 0 {
		body["type"] = "GraphMethodException"
		body["error_subcode"] = subcode
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": body})
}
