package shopifytest

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The fake's webhook subscriptions, as the GraphQL Admin API 2026-01
// keeps those an app makes through the API: the webhookSubscriptions
// query (first, after) and the webhookSubscriptionCreate, Update and
// Delete mutations, with the userErrors Shopify gives for an address that
// is not HTTPS, a topic and address subscribed already, an unknown id and
// a topic the app has no scope for. Each operation costs 10 points, a
// page of the list 1 a node.

// Subscription is one webhook subscription of the fake shop. Topic is the
// GraphQL enum value (ORDERS_CREATE).
type Subscription struct {
	ID, Topic, URI string
}

type subscriptions struct {
	list []Subscription
	next int
}

// topicScopes are the topics the fake knows, with the scope each needs.
var topicScopes = map[string]string{
	"CUSTOMERS_CREATE": "read_customers", "CUSTOMERS_UPDATE": "read_customers", "CUSTOMERS_DELETE": "read_customers",
	"ORDERS_CREATE": "read_orders", "ORDERS_UPDATED": "read_orders", "ORDERS_PAID": "read_orders",
	"ORDERS_CANCELLED": "read_orders", "ORDERS_DELETE": "read_orders", "ORDERS_FULFILLED": "read_orders",
	"PRODUCTS_UPDATE": "read_products", "APP_UNINSTALLED": "",
}

var (
	subsListRE   = regexp.MustCompile(`webhookSubscriptions\s*\(`)
	subsCreateRE = regexp.MustCompile(`webhookSubscriptionCreate\s*\(`)
	subsUpdateRE = regexp.MustCompile(`webhookSubscriptionUpdate\s*\(`)
	subsDeleteRE = regexp.MustCompile(`webhookSubscriptionDelete\s*\(`)
)

// Subscriptions returns the shop's webhook subscriptions, oldest first.
func (s *Server) Subscriptions() []Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.subs.list)
}

// PutSubscription adds a subscription as if made earlier, and returns its
// id.
func (s *Server) PutSubscription(topic, uri string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addSubscription(topic, uri).ID
}

func (s *Server) addSubscription(topic, uri string) Subscription {
	s.subs.next++
	sub := Subscription{ID: fmt.Sprintf("gid://shopify/WebhookSubscription/%d", 1000+s.subs.next), Topic: topic, URI: uri}
	s.subs.list = append(s.subs.list, sub)
	return sub
}

// answerSubscriptions answers the subscription operations; it reports
// false for other queries.
func (s *Server) answerSubscriptions(req request) (any, bool) {
	var op func(req request) (map[string]any, float64)
	requested := 10.0
	switch {
	case subsCreateRE.MatchString(req.Query):
		op = s.createSubscription
	case subsUpdateRE.MatchString(req.Query):
		op = s.updateSubscription
	case subsDeleteRE.MatchString(req.Query):
		op = s.deleteSubscription
	case subsListRE.MatchString(req.Query):
		if first := req.Variables.First; first < 1 || first > 250 {
			return gqlErrors(nil, "The first argument must be between 1 and 250.", "BAD_REQUEST"), true
		}
		op, requested = s.listSubscriptions, 2+float64(req.Variables.First)
	default:
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if refused := s.charge(requested, "", "webhookSubscriptions"); refused != nil {
		return refused, true
	}
	data, actual := op(req)
	if errs, ok := data["errors"]; ok {
		actual = 1
		s.level -= actual
		return map[string]any{"errors": errs, "extensions": s.cost(requested, &actual)}, true
	}
	s.level -= actual
	return map[string]any{"data": data, "extensions": s.cost(requested, &actual)}, true
}

// subscriptionInput is a WebhookSubscriptionInput.
type subscriptionInput struct {
	URI    string `json:"uri"`
	Format string `json:"format"`
}

func rawVar(req request, name string, out any) error {
	raw, ok := req.raw.Variables[name]
	if !ok {
		return fmt.Errorf("Variable $%s is used by the operation but not given.", name)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("Variable $%s was provided invalid value", name)
	}
	return nil
}

func varError(err error) map[string]any {
	return map[string]any{"errors": []any{map[string]any{"message": err.Error(),
		"extensions": map[string]any{"code": "INVALID_VARIABLE"}}}}
}

func subscriptionError(field []string, msg string) []any {
	return []any{map[string]any{"field": field, "message": msg}}
}

func subscriptionNode(sub Subscription) map[string]any {
	return map[string]any{"id": sub.ID, "topic": sub.Topic, "uri": sub.URI, "format": "JSON"}
}

// checkURI returns Shopify's complaint about an address, or "".
func (s *Server) checkURI(topic, uri string, except string) string {
	u, err := url.Parse(uri)
	switch {
	case err != nil || u.Host == "":
		return "Address is invalid"
	case u.Scheme != "https":
		return fmt.Sprintf("Address protocol %s:// is not supported", u.Scheme)
	}
	for _, sub := range s.subs.list {
		if sub.Topic == topic && sub.URI == uri && sub.ID != except {
			return "Address for this topic has already been taken"
		}
	}
	return ""
}

func (s *Server) createSubscription(req request) (map[string]any, float64) {
	var topic string
	var in subscriptionInput
	if err := rawVar(req, "topic", &topic); err != nil {
		return varError(err), 0
	}
	if err := rawVar(req, "webhookSubscription", &in); err != nil {
		return varError(err), 0
	}
	scope, known := topicScopes[topic]
	if !known {
		return varError(fmt.Errorf("Variable $topic of type WebhookSubscriptionTopic! was provided invalid value")), 0
	}
	payload := map[string]any{"webhookSubscription": nil, "userErrors": []any{}}
	switch {
	case scope != "" && !slices.Contains(s.opts.Scopes, scope):
		payload["userErrors"] = subscriptionError([]string{"topic"},
			fmt.Sprintf("You do not have permission to create or update webhooks with %s topic.", topic))
	case s.checkURI(topic, in.URI, "") != "":
		payload["userErrors"] = subscriptionError([]string{"webhookSubscription", "uri"}, s.checkURI(topic, in.URI, ""))
	default:
		payload["webhookSubscription"] = subscriptionNode(s.addSubscription(topic, in.URI))
	}
	return map[string]any{"webhookSubscriptionCreate": payload}, 10
}

func (s *Server) updateSubscription(req request) (map[string]any, float64) {
	var in subscriptionInput
	if err := rawVar(req, "webhookSubscription", &in); err != nil {
		return varError(err), 0
	}
	id := deref(req.Variables.ID)
	payload := map[string]any{"webhookSubscription": nil, "userErrors": []any{}}
	i := slices.IndexFunc(s.subs.list, func(sub Subscription) bool { return sub.ID == id })
	switch {
	case i < 0:
		payload["userErrors"] = subscriptionError([]string{"id"}, "Webhook subscription does not exist")
	case s.checkURI(s.subs.list[i].Topic, in.URI, id) != "":
		payload["userErrors"] = subscriptionError([]string{"webhookSubscription", "uri"}, s.checkURI(s.subs.list[i].Topic, in.URI, id))
	default:
		s.subs.list[i].URI = in.URI
		payload["webhookSubscription"] = subscriptionNode(s.subs.list[i])
	}
	return map[string]any{"webhookSubscriptionUpdate": payload}, 10
}

func (s *Server) deleteSubscription(req request) (map[string]any, float64) {
	id := deref(req.Variables.ID)
	payload := map[string]any{"deletedWebhookSubscriptionId": nil, "userErrors": []any{}}
	i := slices.IndexFunc(s.subs.list, func(sub Subscription) bool { return sub.ID == id })
	if i < 0 {
		payload["userErrors"] = subscriptionError([]string{"id"}, "Webhook subscription does not exist")
	} else {
		s.subs.list = slices.Delete(s.subs.list, i, i+1)
		payload["deletedWebhookSubscriptionId"] = id
	}
	return map[string]any{"webhookSubscriptionDelete": payload}, 10
}

func (s *Server) listSubscriptions(req request) (map[string]any, float64) {
	from := 0
	if after := deref(req.Variables.After); after != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(after, "sub:"))
		if err != nil {
			return varError(fmt.Errorf("Invalid cursor for current pagination sort.")), 0
		}
		from = n
	}
	from = min(from, len(s.subs.list))
	to := min(from+req.Variables.First, len(s.subs.list))
	edges := make([]any, 0, to-from)
	for i, sub := range s.subs.list[from:to] {
		edges = append(edges, map[string]any{"cursor": fmt.Sprintf("sub:%d", from+i+1), "node": subscriptionNode(sub)})
	}
	return map[string]any{"webhookSubscriptions": connection(edges, to < len(s.subs.list))}, 2 + float64(len(edges))
}
