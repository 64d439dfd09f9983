package sample_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/connectors/meta"
	"github.com/crmhub/crmhub/connectors/sample"
	"github.com/crmhub/crmhub/connectors/shopify"
	"github.com/crmhub/crmhub/mapping"
)

func TestGenerateIsReproducible(t *testing.T) {
	a, b := sample.Generate(7, 40), sample.Generate(7, 40)
	require.Equal(t, a, b)
	c := sample.Generate(8, 40)
	require.NotEqual(t, a, c, "another seed gives other records")
	require.Equal(t, sample.GenerateWithOrders(7, 40), sample.GenerateWithOrders(7, 40))

	// The orders leave the other records of a seed as they were.
	var withoutOrders []crmhub.Envelope
	for _, e := range sample.GenerateWithOrders(7, 40) {
		if e.Entity != crmhub.EntityOrder {
			withoutOrders = append(withoutOrders, e)
		}
	}
	require.Equal(t, a, withoutOrders)
}

func TestGenerateShapes(t *testing.T) {
	recs := sample.GenerateWithOrders(1, 30)
	bySource := map[string]int{}
	byEntity := map[crmhub.Entity]int{}
	keys := map[string]bool{}
	var easternDigits, persianDigits bool
	for _, r := range recs {
		require.NoError(t, r.Validate())
		require.False(t, keys[r.IdempotencyKey], "records are distinct")
		keys[r.IdempotencyKey] = true
		bySource[r.Source]++
		if r.Source == sample.SourceShop {
			byEntity[r.Entity]++
		}
		require.True(t, json.Valid(r.Payload), "every record is JSON: %s", r.Payload)
		easternDigits = easternDigits || bytes.ContainsRune(r.Payload, '٠')
		persianDigits = persianDigits || bytes.ContainsRune(r.Payload, '۰')
	}
	require.Equal(t, 30, byEntity[crmhub.EntityCustomer], "everyone is a shop customer")
	require.Equal(t, 10, byEntity[crmhub.EntityOrder], "every third has ordered")
	require.Equal(t, 40, bySource[sample.SourceShop])
	require.Equal(t, 16, bySource[sample.SourceERP], "every second person plus one broken record")
	require.True(t, easternDigits, "some phones are written in Eastern Arabic digits")
	require.True(t, persianDigits, "some phones are written in Persian digits")

	// Shopify ids exceed 2^53 and must survive as exact integers.
	var shop struct {
		ID json.Number `json:"id"`
	}
	d := json.NewDecoder(bytes.NewReader(recs[0].Payload))
	d.UseNumber()
	require.NoError(t, d.Decode(&shop))
	require.Equal(t, recs[0].ExternalID, shop.ID.String())
	require.Greater(t, len(shop.ID.String()), 16)
}

func TestMappingsMapEverySampleRecord(t *testing.T) {
	rules := map[string]*mapping.Rules{}
	for name, yaml := range sample.Mappings() {
		r, err := mapping.Parse(name+".yaml", yaml)
		require.NoError(t, err, name)
		rules[name] = r
	}
	require.Len(t, rules, len(sample.SourceTypes)-1)
	// The leads are Meta's and mapped by the meta connector's built-in
	// mapping; the shop's orders are mapped as a shop's are, by the
	// shopify connector's.
	var err error
	rules[sample.SourceLeads], err = meta.Mapping()
	require.NoError(t, err)
	shop, err := shopify.Mappings()
	require.NoError(t, err)
	mapped, orders := 0, 0
	for _, e := range sample.GenerateWithOrders(1, 40) {
		rec, err := mapping.JSONRecord(e.Payload)
		require.NoError(t, err)
		r := rules[e.Source]
		if e.Entity == crmhub.EntityOrder {
			r = shop[crmhub.EntityOrder]
		}
		m, err := r.Apply(rec, mapping.Options{DefaultRegion: "AE"})
		if e.ExternalID == "1296999999999999" {
			continue
		}
		require.NoError(t, err, e.Source)
		if e.ExternalID == "C-BROKEN" {
			require.Empty(t, m.Fields["email"], "the broken ERP customer has no email")
			require.Empty(t, m.Fields["phone"], "nor a phone")
			require.Empty(t, m.Fields["name"], "nor a name")
		}
		require.Equal(t, e.ExternalID, m.ExternalID, e.Source)
		if e.Entity == crmhub.EntityOrder {
			orders++
			require.Empty(t, m.Rejected, "every amount of an order maps")
			require.NotEmpty(t, m.Items["line_items"], "an order has line items")
			require.NotEmpty(t, m.Fields["total"])
			require.NotEmpty(t, m.Fields["customer.external_id"], "an order names its customer")
		}
		mapped++
	}
	require.Greater(t, mapped, 60)
	require.Positive(t, orders)
}

func TestShopifyWebhookDeliversOnlyShopRecords(t *testing.T) {
	ids := map[string]bool{}
	topics := map[string]int{}
	for _, e := range sample.GenerateWithOrders(3, 30) {
		w, ok := sample.ShopifyWebhook(e)
		require.Equal(t, e.Source == sample.SourceShop, ok, "%s %s", e.Source, e.Entity)
		if !ok {
			continue
		}
		topics[w.Topic]++
		require.Equal(t, e.Payload, w.Body, "the body is the record as the shop sent it")
		require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`, w.WebhookID)
		require.Regexp(t, `^[1-9][0-9]*$`, w.EventID)
		require.Equal(t, e.Version, w.TriggeredAt)
		require.False(t, ids[w.WebhookID], "every record is its own delivery")
		ids[w.WebhookID] = true

		again, _ := sample.ShopifyWebhook(e)
		require.Equal(t, w, again, "the same record is the same delivery, so sending it again is a redelivery")
	}
	require.Equal(t, map[string]int{"customers/create": 30, "orders/create": 10}, topics)
}
