package shopify

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Webhook subscriptions a source needs, made through the GraphQL Admin
// API (webhookSubscriptions, webhookSubscriptionCreate, Update and Delete)
// for the address crmhub run receives them at. The privacy topics
// (customers/data_request, customers/redact, shop/redact) are not among
// them: Shopify takes those only from the app's configuration (the
// compliance webhooks of the app in the Dev Dashboard, or
// shopify.app.toml), never through the API.

// StreamTopics are the topics that keep each stream current.
var StreamTopics = map[string][]string{
	StreamCustomers: {"customers/create", "customers/update", "customers/delete"},
	StreamOrders:    {"orders/create", "orders/updated", "orders/paid", "orders/cancelled", "orders/delete"},
}

// PrivacyTopics are the mandatory privacy topics, which are set in the
// app's configuration rather than subscribed to.
var PrivacyTopics = []string{"customers/data_request", "customers/redact", "shop/redact"}

// WebhookTopics returns the topics a source with the given streams
// subscribes to, sorted.
func WebhookTopics(streams []string) []string {
	var out []string
	for _, s := range streams {
		out = append(out, StreamTopics[s]...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// WebhookURL is where a source receives its webhooks, under the public
// URL of crmhub run: {public URL}/webhooks/shopify/{source}. Shopify
// delivers to HTTPS addresses only.
func WebhookURL(publicURL, source string) (string, error) {
	u, err := url.Parse(publicURL)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("public URL %q is not a scheme, host and optional path", publicURL)
	}
	if u.Scheme != "https" {
		return "", fmt.Errorf("public URL %q is not https: Shopify delivers webhooks over HTTPS only", publicURL)
	}
	return strings.TrimSuffix(publicURL, "/") + webhookPath(source), nil
}

func webhookPath(source string) string { return "/webhooks/shopify/" + source }

// TopicEnum writes a topic as the GraphQL enum does: orders/create is
// ORDERS_CREATE.
func TopicEnum(topic string) string {
	return strings.ToUpper(strings.ReplaceAll(topic, "/", "_"))
}

// topicName is the reverse of TopicEnum for the topics crmhub knows;
// others are written in lower case with their first _ as /.
func topicName(enum string) string {
	for _, ts := range StreamTopics {
		for _, t := range ts {
			if TopicEnum(t) == enum {
				return t
			}
		}
	}
	return strings.Replace(strings.ToLower(enum), "_", "/", 1)
}

// Actions of a webhook sync.
const (
	SubscriptionKept    = "kept"    // right topic, right address
	SubscriptionCreated = "created" // a topic the source needs had none
	SubscriptionUpdated = "updated" // ours, at another address (OldURI)
	SubscriptionDeleted = "deleted" // ours, for a topic no longer needed, or a second one
	SubscriptionForeign = "foreign" // not to this source's address: left alone
)

// SubscriptionChange is what a webhook sync did, or in a dry run would
// do, to one subscription.
type SubscriptionChange struct {
	Action string `json:"action"`
	// Topic is in the webhook form, orders/create.
	Topic  string `json:"topic"`
	URI    string `json:"uri"`
	OldURI string `json:"old_uri,omitempty"`
	ID     string `json:"id,omitempty"`
}

// SyncWebhooks makes the shop's subscriptions of the app match what a
// source needs: one subscription to target for each of topics. Ours are
// the subscriptions whose address ends in the source's webhook path,
// whatever the host: one of a needed topic at another address is moved to
// target, ours that are not needed (another topic, or a second one of a
// topic) are deleted, and missing topics are created. Subscriptions to
// other addresses are left alone. Running it again changes nothing. With
// dryRun it changes nothing and says what it would do. It stops at the
// first failure, with what it did until then.
func SyncWebhooks(ctx context.Context, q Querier, source, target string, topics []string, dryRun bool) ([]SubscriptionChange, error) {
	subs, err := listSubscriptions(ctx, q)
	if err != nil {
		return nil, err
	}
	plan := planWebhooks(subs, source, target, topics)
	if dryRun {
		return plan, nil
	}
	done := make([]SubscriptionChange, 0, len(plan))
	for _, c := range plan {
		if err := applyChange(ctx, q, &c); err != nil {
			return done, fmt.Errorf("%s subscription to %s: %w", c.Action, c.Topic, err)
		}
		done = append(done, c)
	}
	return done, nil
}

type subscription struct {
	ID    string `json:"id"`
	Topic string `json:"topic"`
	URI   string `json:"uri"`
}

// planWebhooks says what to do with each subscription, and what to create.
func planWebhooks(subs []subscription, source, target string, topics []string) []SubscriptionChange {
	var out []SubscriptionChange
	used := map[string]bool{}
	ours := func(s subscription) bool {
		u, err := url.Parse(s.URI)
		return err == nil && strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), webhookPath(source))
	}
	for _, topic := range topics {
		enum := TopicEnum(topic)
		exact := slices.IndexFunc(subs, func(s subscription) bool { return ours(s) && s.Topic == enum && s.URI == target })
		if exact >= 0 {
			used[subs[exact].ID] = true
			out = append(out, SubscriptionChange{Action: SubscriptionKept, Topic: topic, URI: target, ID: subs[exact].ID})
			continue
		}
		stale := slices.IndexFunc(subs, func(s subscription) bool { return ours(s) && s.Topic == enum && !used[s.ID] })
		if stale >= 0 {
			used[subs[stale].ID] = true
			out = append(out, SubscriptionChange{Action: SubscriptionUpdated, Topic: topic, URI: target,
				OldURI: subs[stale].URI, ID: subs[stale].ID})
			continue
		}
		out = append(out, SubscriptionChange{Action: SubscriptionCreated, Topic: topic, URI: target})
	}
	for _, s := range subs {
		switch {
		case used[s.ID]:
		case ours(s):
			out = append(out, SubscriptionChange{Action: SubscriptionDeleted, Topic: topicName(s.Topic), URI: s.URI, ID: s.ID})
		default:
			out = append(out, SubscriptionChange{Action: SubscriptionForeign, Topic: topicName(s.Topic), URI: s.URI, ID: s.ID})
		}
	}
	return out
}

const subscriptionsQuery = `query CrmhubWebhookSubscriptions($first: Int!, $after: String) {
  webhookSubscriptions(first: $first, after: $after) {
    edges { node { id topic uri } }
    pageInfo { hasNextPage endCursor }
  }
}`

func listSubscriptions(ctx context.Context, q Querier) ([]subscription, error) {
	var out []subscription
	vars := map[string]any{"first": 100}
	for {
		var page struct {
			WebhookSubscriptions struct {
				Edges []struct {
					Node subscription `json:"node"`
				} `json:"edges"`
				PageInfo pageInfo `json:"pageInfo"`
			} `json:"webhookSubscriptions"`
		}
		if err := q.Query(ctx, subscriptionsQuery, vars, &page); err != nil {
			return nil, fmt.Errorf("list webhook subscriptions: %w", err)
		}
		for _, e := range page.WebhookSubscriptions.Edges {
			out = append(out, e.Node)
		}
		pi := page.WebhookSubscriptions.PageInfo
		if !pi.HasNextPage || pi.EndCursor == nil {
			return out, nil
		}
		vars["after"] = *pi.EndCursor
	}
}

const (
	createSubscription = `mutation CrmhubWebhookCreate($topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}`
	updateSubscription = `mutation CrmhubWebhookUpdate($id: ID!, $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionUpdate(id: $id, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}`
	deleteSubscription = `mutation CrmhubWebhookDelete($id: ID!) {
  webhookSubscriptionDelete(id: $id) {
    deletedWebhookSubscriptionId
    userErrors { field message }
  }
}`
)

// userErrors are a mutation's refusals.
type userErrors []struct {
	Field   []string `json:"field"`
	Message string   `json:"message"`
}

func (ue userErrors) err() error {
	if len(ue) == 0 {
		return nil
	}
	msgs := make([]string, len(ue))
	for i, e := range ue {
		msgs[i] = e.Message
	}
	return errors.New("shopify refused: " + strings.Join(msgs, "; "))
}

type subscriptionPayload struct {
	WebhookSubscription *subscription `json:"webhookSubscription"`
	UserErrors          userErrors    `json:"userErrors"`
}

// applyChange carries out one planned change, filling in the id of what
// it created.
func applyChange(ctx context.Context, q Querier, c *SubscriptionChange) error {
	input := map[string]any{"uri": c.URI, "format": "JSON"}
	switch c.Action {
	case SubscriptionCreated:
		var out struct {
			P subscriptionPayload `json:"webhookSubscriptionCreate"`
		}
		if err := q.Query(ctx, createSubscription, map[string]any{"topic": TopicEnum(c.Topic), "webhookSubscription": input}, &out); err != nil {
			return err
		}
		if err := out.P.UserErrors.err(); err != nil {
			return err
		}
		if out.P.WebhookSubscription != nil {
			c.ID = out.P.WebhookSubscription.ID
		}
	case SubscriptionUpdated:
		var out struct {
			P subscriptionPayload `json:"webhookSubscriptionUpdate"`
		}
		if err := q.Query(ctx, updateSubscription, map[string]any{"id": c.ID, "webhookSubscription": input}, &out); err != nil {
			return err
		}
		return out.P.UserErrors.err()
	case SubscriptionDeleted:
		var out struct {
			P struct {
				UserErrors userErrors `json:"userErrors"`
			} `json:"webhookSubscriptionDelete"`
		}
		if err := q.Query(ctx, deleteSubscription, map[string]any{"id": c.ID}, &out); err != nil {
			return err
		}
		return out.P.UserErrors.err()
	}
	return nil
}
