package sample

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/crmhub/crmhub"
)

// ShopDomain is the sample shop's *.myshopify.com domain, as its webhooks
// name it in X-Shopify-Shop-Domain. No such shop is ever contacted.
const ShopDomain = "crmhub-demo.myshopify.com"

// ShopifyDelivery is a record of the sample shop as a Shopify webhook
// delivers it: the body and the values of its X-Shopify-* headers, all
// but the signature, which depends on the receiver's secret.
type ShopifyDelivery struct {
	Topic       string // X-Shopify-Topic
	WebhookID   string // X-Shopify-Webhook-Id
	EventID     string // X-Shopify-Event-Id
	TriggeredAt string // X-Shopify-Triggered-At
	Body        []byte
}

// shopifyTopics is the webhook topic that delivers each entity of the
// sample shop.
var shopifyTopics = map[crmhub.Entity]string{
	crmhub.EntityCustomer: "customers/create",
	crmhub.EntityOrder:    "orders/create",
}

// ShopifyWebhook returns how Shopify would deliver a record of the sample
// shop, and false for the records of the other sources. The ids of the
// delivery derive from the record, so delivering the same record again is
// a redelivery, as when Shopify retries.
func ShopifyWebhook(e crmhub.Envelope) (ShopifyDelivery, bool) {
	topic, ok := shopifyTopics[e.Entity]
	if e.Source != SourceShop || !ok {
		return ShopifyDelivery{}, false
	}
	sum := sha256.Sum256([]byte(e.IdempotencyKey))
	id := hex.EncodeToString(sum[:16])
	// Shopify's event ids are positive 64-bit integers.
	event := binary.BigEndian.Uint64(sum[16:24]) >> 1
	return ShopifyDelivery{
		Topic:       topic,
		WebhookID:   fmt.Sprintf("%s-%s-%s-%s-%s", id[:8], id[8:12], id[12:16], id[16:20], id[20:]),
		EventID:     fmt.Sprint(event),
		TriggeredAt: e.Version,
		Body:        e.Payload,
	}, true
}
