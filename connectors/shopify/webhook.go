package shopify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/connectors"
)

// Headers of a Shopify webhook delivery.
const (
	HeaderHMAC        = "X-Shopify-Hmac-Sha256"
	HeaderTopic       = "X-Shopify-Topic"
	HeaderWebhookID   = "X-Shopify-Webhook-Id"
	HeaderEventID     = "X-Shopify-Event-Id"
	HeaderShopDomain  = "X-Shopify-Shop-Domain"
	HeaderAPIVersion  = "X-Shopify-API-Version"
	HeaderTriggeredAt = "X-Shopify-Triggered-At"
	// headerEventsHMAC is where Shopify's newer Events deliveries carry
	// the same signature.
	headerEventsHMAC = "Shopify-Hmac-Sha256"
)

// WebhookSource is one Shopify source that receives webhooks.
type WebhookSource struct {
	// Name is the configured source name, the {source} of the URL.
	Name string
	// Shop is the shop's *.myshopify.com domain. When set, a delivery
	// that names another shop in X-Shopify-Shop-Domain is refused: one
	// app's secret signs the webhooks of every shop it is installed on.
	Shop string
	// Secrets verify signatures: the current secret first, then the ones
	// still accepted while it is rotated. At least one is required.
	Secrets []string
}

// Webhooks receives Shopify webhook deliveries at
// POST /webhooks/shopify/{source}: it verifies each one's signature on the
// raw body, lands it through an Ingester and answers 200 once it is
// durable. It is an http.Handler; the caller bounds the body size (with
// http.MaxBytesReader), and an oversized body is answered 413.
type Webhooks struct {
	sources map[string]webhookSource
	in      Ingester
	log     *slog.Logger
}

type webhookSource struct {
	name, shop string
	keys       [][]byte
}

// NewWebhooks returns the receiver of the given sources' webhooks. It does
// no I/O.
func NewWebhooks(in Ingester, log *slog.Logger, sources ...WebhookSource) (*Webhooks, error) {
	if in == nil {
		return nil, errors.New("shopify webhooks: no ingester")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srcs, err := connectors.ByName("shopify webhooks", sources, func(s WebhookSource) string { return s.Name },
		func(s WebhookSource) (webhookSource, error) {
			ws := webhookSource{name: s.Name, shop: s.Shop, keys: connectors.Keys(s.Secrets)}
			if len(ws.keys) == 0 {
				return ws, errors.New("no webhook secret")
			}
			return ws, nil
		})
	if err != nil {
		return nil, err
	}
	return &Webhooks{sources: srcs, in: in, log: log.With("connector", SourceType)}, nil
}

// Pattern is where Webhooks is served (Go 1.22 ServeMux syntax).
const Pattern = "POST /webhooks/shopify/{source}"

// ServeHTTP handles one delivery. Nothing is written, and nothing of the
// body is logged, unless the signature holds; a failure to land a verified
// delivery is answered 503, so that Shopify delivers it again.
func (w *Webhooks) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	src, ok := w.sources[r.PathValue("source")]
	if !ok {
		http.Error(rw, "no shopify source of that name receives webhooks", http.StatusNotFound)
		return
	}
	log := w.log.With("source", src.name)
	body, ok := connectors.ReadDelivery(rw, r, log)
	if !ok {
		return
	}
	if reason := src.verify(r.Header, body); reason != "" {
		log.Warn("shopify webhook refused", "reason", reason, "bytes", len(body))
		http.Error(rw, "invalid webhook signature", http.StatusUnauthorized)
		return
	}
	topic := r.Header.Get(HeaderTopic)
	if topic == "" {
		log.Warn("shopify webhook refused: no topic header")
		http.Error(rw, "missing "+HeaderTopic, http.StatusBadRequest)
		return
	}
	d, env := src.delivery(r.Header, topic, body)
	fresh, err := w.in.Receive(r.Context(), d, []crmhub.Envelope{env})
	if err != nil {
		log.Error("shopify webhook not landed", "topic", topic, "webhook_id", d.Meta["webhook_id"], "err", err)
		http.Error(rw, "not stored, deliver again", http.StatusServiceUnavailable)
		return
	}
	log.Debug("shopify webhook", "topic", topic, "webhook_id", d.Meta["webhook_id"], "entity", env.Entity,
		"external_id", env.ExternalID, "redelivery", !fresh)
	rw.WriteHeader(http.StatusOK)
}

// verify checks the delivery's signature against every secret of the
// source and returns why it fails, or "" when it holds. The reason names
// no secret and no content.
func (s webhookSource) verify(h http.Header, body []byte) string {
	sig := h.Get(HeaderHMAC)
	if sig == "" {
		sig = h.Get(headerEventsHMAC)
	}
	if sig == "" {
		return "no signature"
	}
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return "malformed signature"
	}
	if !connectors.MACMatches(s.keys, body, got) {
		return "signature mismatch"
	}
	if shop := h.Get(HeaderShopDomain); s.shop != "" && shop != "" && !strings.EqualFold(shop, s.shop) {
		return "delivery of another shop"
	}
	return ""
}

// topicEntity says what each topic's records are, and where their id is.
var topicEntity = map[string]struct {
	entity crmhub.Entity
	idPath string
}{
	"customers/create":       {crmhub.EntityCustomer, "id"},
	"customers/update":       {crmhub.EntityCustomer, "id"},
	"customers/delete":       {EntityCustomerDeletion, "id"},
	"orders/create":          {crmhub.EntityOrder, "id"},
	"orders/updated":         {crmhub.EntityOrder, "id"},
	"orders/paid":            {crmhub.EntityOrder, "id"},
	"orders/cancelled":       {crmhub.EntityOrder, "id"},
	"orders/delete":          {EntityOrderDeletion, "id"},
	"customers/data_request": {crmhub.EntityPrivacy, "data_request.id"},
	"customers/redact":       {crmhub.EntityPrivacy, "customer.id"},
	"shop/redact":            {crmhub.EntityPrivacy, "shop_id"},
}

// delivery builds what is landed for a verified delivery: its dedup keys,
// its details and one envelope carrying the body as it came.
func (s webhookSource) delivery(h http.Header, topic string, body []byte) (crmhub.Delivery, crmhub.Envelope) {
	webhookID, eventID := h.Get(HeaderWebhookID), h.Get(HeaderEventID)
	d := crmhub.Delivery{Source: s.name, Meta: map[string]string{
		"topic":        topic,
		"webhook_id":   webhookID,
		"event_id":     eventID,
		"shop_domain":  h.Get(HeaderShopDomain),
		"api_version":  h.Get(HeaderAPIVersion),
		"triggered_at": h.Get(HeaderTriggeredAt),
	}}
	if webhookID != "" {
		d.Keys = append(d.Keys, "webhook:"+webhookID)
	}
	// One merchant action reaches every subscription of its topic once:
	// the same event id under another topic is another delivery.
	if eventID != "" {
		d.Keys = append(d.Keys, "event:"+topic+":"+eventID)
	}

	env := crmhub.Envelope{Source: s.name, SourceType: SourceType, Payload: body, ReceivedAt: time.Now().UTC()}
	te, known := topicEntity[topic]
	if !known {
		te.entity, te.idPath = EntityUnknown, "id"
	}
	env.Entity = te.entity
	doc := gjson.ParseBytes(body)
	id := idText(doc.Get(te.idPath))
	switch {
	case te.entity == crmhub.EntityCustomer || te.entity == crmhub.EntityOrder:
		env.Version = doc.Get("updated_at").String()
	case te.entity == EntityOrderDeletion && id == "":
		// Nothing to delete: kept for a look, not processed.
		env.Entity = EntityUnknown
	case te.entity == EntityOrderDeletion:
		// Under the order's own id, which is what the pipeline deletes.
	case id != "":
		id = topic + ":" + id
	}
	if id == "" {
		// Landed all the same, under an id of its delivery: the mapping
		// then finds no id and sends the record to the dead letters, where
		// it can be looked at and replayed.
		if webhookID != "" {
			id = "webhook:" + webhookID
		} else {
			id = "sha256:" + env.ContentHash()
		}
		if te.entity == crmhub.EntityPrivacy {
			// The topic says what is asked: an erasure may name the
			// person by email alone.
			id = topic + ":" + id
		}
	}
	env.ExternalID = id
	return d, env
}

// idText is an id as its payload wrote it: a number keeps its digits (ids
// exceed 2^53, beyond what a float64 holds exactly).
func idText(v gjson.Result) string {
	switch v.Type {
	case gjson.Number:
		return v.Raw
	case gjson.String:
		return v.Str
	}
	return ""
}

// Sign returns the X-Shopify-Hmac-Sha256 value of body under secret, as
// Shopify computes it: base64 of HMAC-SHA256 over the raw bytes. Tests and
// tools that deliver webhooks use it.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

var _ http.Handler = (*Webhooks)(nil)
