package shopify_test

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/connectors/shopify"
	"github.com/crmhub/crmhub/connectors/shopify/shopifytest"
)

const target = "https://crm.example.com/webhooks/shopify/main-store"

func subscriptionClient(t *testing.T, shop *shopifytest.Server) *shopify.Client {
	t.Helper()
	c, err := shopify.NewClient(fastClient(shopify.ClientConfig{Shop: shop.Shop(), BaseURL: shop.URL(), AccessToken: shop.Token()}), nil)
	require.NoError(t, err)
	return c
}

// subscribed maps each of the fake's subscriptions to its topic and
// address.
func subscribed(shop *shopifytest.Server) []string {
	var out []string
	for _, s := range shop.Subscriptions() {
		out = append(out, s.Topic+" "+s.URI)
	}
	slices.Sort(out)
	return out
}

func actions(changes []shopify.SubscriptionChange) map[string][]string {
	out := map[string][]string{}
	for _, c := range changes {
		out[c.Action] = append(out[c.Action], c.Topic)
	}
	for _, v := range out {
		slices.Sort(v)
	}
	return out
}

// TestSyncWebhooksMakesTheSubscriptionsMatch: from a shop with a stale,
// a duplicate, an unneeded and a foreign subscription, a sync leaves one
// subscription of each needed topic at the source's address and the
// foreign one alone; a second sync changes nothing.
func TestSyncWebhooksMakesTheSubscriptionsMatch(t *testing.T) {
	ctx := context.Background()
	shop := shopifytest.New(t, shopifytest.Options{})
	shop.PutSubscription("ORDERS_CREATE", "https://old-host.example.com/webhooks/shopify/main-store")
	shop.PutSubscription("CUSTOMERS_UPDATE", target)
	shop.PutSubscription("CUSTOMERS_UPDATE", "https://old-host.example.com/webhooks/shopify/main-store/")
	shop.PutSubscription("ORDERS_FULFILLED", target)
	shop.PutSubscription("ORDERS_PAID", "https://elsewhere.example.com/hooks/orders")
	shop.PutSubscription("ORDERS_PAID", "https://crm.example.com/webhooks/shopify/other-store")
	c := subscriptionClient(t, shop)
	topics := shopify.WebhookTopics([]string{shopify.StreamCustomers, shopify.StreamOrders})
	require.Len(t, topics, 8)

	changes, err := shopify.SyncWebhooks(ctx, c, "main-store", target, topics, false)
	require.NoError(t, err)
	require.Equal(t, map[string][]string{
		shopify.SubscriptionKept:    {"customers/update"},
		shopify.SubscriptionUpdated: {"orders/create"},
		shopify.SubscriptionCreated: {"customers/create", "customers/delete", "orders/cancelled", "orders/delete", "orders/paid", "orders/updated"},
		shopify.SubscriptionDeleted: {"customers/update", "orders/fulfilled"},
		shopify.SubscriptionForeign: {"orders/paid", "orders/paid"},
	}, actions(changes))
	var want []string
	for _, topic := range topics {
		want = append(want, shopify.TopicEnum(topic)+" "+target)
	}
	want = append(want, "ORDERS_PAID https://elsewhere.example.com/hooks/orders",
		"ORDERS_PAID https://crm.example.com/webhooks/shopify/other-store")
	slices.Sort(want)
	require.Equal(t, want, subscribed(shop))
	for _, ch := range changes {
		require.NotEmpty(t, ch.ID, "every change names its subscription, created ones too")
	}

	before := shop.Stats().Requests
	again, err := shopify.SyncWebhooks(ctx, c, "main-store", target, topics, false)
	require.NoError(t, err)
	require.Equal(t, map[string][]string{shopify.SubscriptionKept: topics,
		shopify.SubscriptionForeign: {"orders/paid", "orders/paid"}}, actions(again))
	require.Equal(t, want, subscribed(shop))
	require.Equal(t, before+1, shop.Stats().Requests, "a sync with nothing to do only lists")
}

func TestSyncWebhooksDryRunChangesNothing(t *testing.T) {
	shop := shopifytest.New(t, shopifytest.Options{})
	shop.PutSubscription("ORDERS_FULFILLED", target)
	changes, err := shopify.SyncWebhooks(context.Background(), subscriptionClient(t, shop), "main-store", target,
		shopify.WebhookTopics([]string{shopify.StreamCustomers}), true)
	require.NoError(t, err)
	require.Equal(t, map[string][]string{
		shopify.SubscriptionCreated: {"customers/create", "customers/delete", "customers/update"},
		shopify.SubscriptionDeleted: {"orders/fulfilled"},
	}, actions(changes))
	require.Equal(t, []string{"ORDERS_FULFILLED " + target}, subscribed(shop))
}

// TestSyncWebhooksReportsRefusals: a topic the app has no scope for is
// refused by Shopify; the sync says so and keeps what it did before.
func TestSyncWebhooksReportsRefusals(t *testing.T) {
	shop := shopifytest.New(t, shopifytest.Options{Scopes: []string{"read_customers"}})
	changes, err := shopify.SyncWebhooks(context.Background(), subscriptionClient(t, shop), "main-store", target,
		shopify.WebhookTopics([]string{shopify.StreamCustomers, shopify.StreamOrders}), false)
	require.ErrorContains(t, err, "permission")
	require.ErrorContains(t, err, "orders/cancelled")
	require.Len(t, changes, 3, "the customer topics were created before")
	require.Len(t, shop.Subscriptions(), 3)
}

func TestWebhookURL(t *testing.T) {
	for _, tc := range []struct{ public, want, err string }{
		{"https://crm.example.com", "https://crm.example.com/webhooks/shopify/main-store", ""},
		{"https://crm.example.com/hub/", "https://crm.example.com/hub/webhooks/shopify/main-store", ""},
		{"http://crm.example.com", "", "HTTPS only"},
		{"crm.example.com", "", "not a scheme"},
		{"https://crm.example.com/?x=1", "", "not a scheme"},
	} {
		t.Run(tc.public, func(t *testing.T) {
			got, err := shopify.WebhookURL(tc.public, "main-store")
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
