package shopify_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/connectors/shopify"
)

// privacyEnvelope is a privacy webhook as the receiver lands it.
func privacyEnvelope(externalID, body string) crmhub.Envelope {
	return crmhub.Envelope{Source: "main-store", Entity: crmhub.EntityPrivacy, ExternalID: externalID, Payload: []byte(body)}
}

func TestReadPrivacy(t *testing.T) {
	for _, tc := range []struct {
		name, id, body string
		want           crmhub.PrivacyRequest
		invalid        bool
	}{
		{name: "data request", id: "customers/data_request:9999",
			body: `{"shop_id":954889,"customer":{"id":7039114952811000001,"email":"sara@example.com","phone":"050 123 4567"},
				"orders_requested":[5123456789012345678],"data_request":{"id":9999}}`,
			want: crmhub.PrivacyRequest{Kind: crmhub.PrivacyDataRequest, Source: "main-store", RequestID: "9999",
				CustomerIDs: []string{"7039114952811000001"}, OrderIDs: []string{"5123456789012345678"},
				Emails: []string{"sara@example.com"}, Phones: []string{"050 123 4567"}}},
		{name: "redact", id: "customers/redact:191167",
			body: `{"customer":{"id":191167,"email":"john@example.com","phone":"555-625-1199"},"orders_to_redact":[299938,280263]}`,
			want: crmhub.PrivacyRequest{Kind: crmhub.PrivacyRedact, Source: "main-store", CustomerIDs: []string{"191167"},
				OrderIDs: []string{"299938", "280263"}, Emails: []string{"john@example.com"}, Phones: []string{"555-625-1199"}}},
		{name: "redact by email alone", id: "customers/redact:webhook:b5",
			body: `{"customer":{"email":"john@example.com"},"orders_to_redact":[]}`,
			want: crmhub.PrivacyRequest{Kind: crmhub.PrivacyRedact, Source: "main-store", Emails: []string{"john@example.com"}}},
		{name: "shop redact", id: "shop/redact:954889", body: `{"shop_id":954889,"shop_domain":"example.myshopify.com"}`,
			want: crmhub.PrivacyRequest{Kind: crmhub.PrivacyShopRedact, Source: "main-store"}},
		{name: "redact of nobody", id: "customers/redact:webhook:b6", body: `{"customer":{}}`, invalid: true},
		{name: "not JSON", id: "customers/redact:1", body: `{"customer":`, invalid: true},
		{name: "not a privacy topic", id: "webhook:b7", body: `{}`, invalid: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := shopify.ReadPrivacy(privacyEnvelope(tc.id, tc.body))
			if tc.invalid {
				require.ErrorIs(t, err, crmhub.ErrInvalid)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// TestReadPrivacyOfRecordedPayloads reads Shopify's own examples of the
// three privacy topics, landed by the webhook receiver.
func TestReadPrivacyOfRecordedPayloads(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "data", "shopify", "webhooks")
	for file, want := range map[string]crmhub.PrivacyRequest{
		"customers_data_request.json": {Kind: crmhub.PrivacyDataRequest, Source: "main-store", RequestID: "9999",
			CustomerIDs: []string{"191167"}, OrderIDs: []string{"299938", "280263", "220458"},
			Emails: []string{"john@example.com"}, Phones: []string{"555-625-1199"}},
		"customers_redact.json": {Kind: crmhub.PrivacyRedact, Source: "main-store", CustomerIDs: []string{"191167"},
			OrderIDs: []string{"299938", "280263", "220458"}, Emails: []string{"john@example.com"}, Phones: []string{"555-625-1199"}},
		"shop_redact.json": {Kind: crmhub.PrivacyShopRedact, Source: "main-store"},
	} {
		body, err := os.ReadFile(filepath.Join(dir, file))
		if os.IsNotExist(err) {
			t.Skipf("recorded Shopify webhooks not found in %s (they live in ../shared/data)", dir)
		}
		require.NoError(t, err)
		topic := map[crmhub.PrivacyKind]string{crmhub.PrivacyDataRequest: "customers/data_request",
			crmhub.PrivacyRedact: "customers/redact", crmhub.PrivacyShopRedact: "shop/redact"}[want.Kind]
		_, env := shopify.DeliveryForTest("main-store", topic, "w-"+file, body)
		got, err := shopify.ReadPrivacy(env)
		require.NoError(t, err, file)
		require.Equal(t, want, got, file)
	}
}

// TestPrivacyDeliveryWithoutIDKeepsItsTopic: an erasure may name the
// person by email alone; landed under its delivery's id, it still says
// what it asks.
func TestPrivacyDeliveryWithoutIDKeepsItsTopic(t *testing.T) {
	_, env := shopify.DeliveryForTest("main-store", "customers/redact", "w-1", []byte(`{"customer":{"email":"john@example.com"}}`))
	require.Equal(t, crmhub.EntityPrivacy, env.Entity)
	require.Equal(t, "customers/redact:webhook:w-1", env.ExternalID)
	got, err := shopify.ReadPrivacy(env)
	require.NoError(t, err)
	require.Equal(t, crmhub.PrivacyRedact, got.Kind)
	require.Equal(t, []string{"john@example.com"}, got.Emails)
}
