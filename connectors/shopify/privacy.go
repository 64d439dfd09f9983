package shopify

import (
	"fmt"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/crmhub/crmhub"
)

// privacyTopics are the mandatory privacy topics and what they ask.
var privacyTopics = map[string]crmhub.PrivacyKind{
	"customers/data_request": crmhub.PrivacyDataRequest,
	"customers/redact":       crmhub.PrivacyRedact,
	"shop/redact":            crmhub.PrivacyShopRedact,
}

// ReadPrivacy reads a landed privacy webhook (entity crmhub.EntityPrivacy,
// its external id starting with the topic) into a request about the
// source's data:
//
//   - customers/data_request names the customer (id, email, phone), the
//     orders asked for and the request's id;
//   - customers/redact names the customer, possibly by email alone, and
//     the orders to erase;
//   - shop/redact asks for everything of the shop, which is the source.
//
// A payload that does not say what the topic needs is an error wrapping
// crmhub.ErrInvalid.
func ReadPrivacy(e crmhub.Envelope) (crmhub.PrivacyRequest, error) {
	topic, _, _ := strings.Cut(e.ExternalID, ":")
	kind, ok := privacyTopics[topic]
	if !ok {
		return crmhub.PrivacyRequest{}, fmt.Errorf("privacy record %s: not a privacy topic: %w", e.ExternalID, crmhub.ErrInvalid)
	}
	if !gjson.ValidBytes(e.Payload) {
		return crmhub.PrivacyRequest{}, fmt.Errorf("privacy record %s: payload is not JSON: %w", e.ExternalID, crmhub.ErrInvalid)
	}
	doc := gjson.ParseBytes(e.Payload)
	req := crmhub.PrivacyRequest{Kind: kind, Source: e.Source}
	if kind == crmhub.PrivacyShopRedact {
		return req, nil
	}
	if id := idText(doc.Get("customer.id")); id != "" {
		req.CustomerIDs = []string{id}
	}
	if v := doc.Get("customer.email").String(); v != "" {
		req.Emails = []string{v}
	}
	if v := doc.Get("customer.phone").String(); v != "" {
		req.Phones = []string{v}
	}
	orders := "orders_to_redact"
	if kind == crmhub.PrivacyDataRequest {
		orders = "orders_requested"
		req.RequestID = idText(doc.Get("data_request.id"))
	}
	for _, o := range doc.Get(orders).Array() {
		if id := idText(o); id != "" {
			req.OrderIDs = append(req.OrderIDs, id)
		}
	}
	return req, req.Validate()
}
