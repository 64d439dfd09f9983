package mapping

import (
	"slices"
	"strings"

	"github.com/crmhub/crmhub"
)

// Entities a mapping can produce.
var entities = []crmhub.Entity{crmhub.EntityCustomer, crmhub.EntityOrder, crmhub.EntityEvent}

// targets are the canonical fields a mapping may fill, per entity. Any
// entity also takes attributes.NAME for custom data. Fields marked as
// lists keep every value; the others take the first non-empty one.
var targets = map[crmhub.Entity]map[string]bool{
	crmhub.EntityCustomer: {
		"email": false, "emails": true, "phone": false, "phones": true,
		"first_name": false, "last_name": false, "name": false, "birthday": false, "locale": false,
		"address.line1": false, "address.line2": false, "address.city": false, "address.region": false,
		"address.postal_code": false, "address.country_code": false,
		"tags": true, "consent.email": false, "consent.sms": false,
		"created_at": false, "updated_at": false,
	},
	crmhub.EntityOrder: {
		"number": false, "customer.external_id": false, "customer.email": false, "customer.phone": false,
		"currency": false, "subtotal": false, "discounts": false, "tax": false, "shipping": false,
		"total": false, "refunded": false, "financial_status": false, "fulfillment_status": false,
		"created_at": false, "processed_at": false, "cancelled_at": false, "updated_at": false,
	},
	crmhub.EntityEvent: {
		"type": false, "occurred_at": false, "customer.external_id": false, "customer.email": false,
		"customer.phone": false,
	},
}

// nestedTargets are the list targets whose values are objects with fields
// of their own, per entity, with the fields each element may fill: an
// order's line items. A mapping writes them as
//
//	line_items: {from: PATH, fields: {sku: sku, quantity: quantity}}
//
// where PATH names an array of objects and each field's paths are read
// inside one element.
var nestedTargets = map[crmhub.Entity]map[string][]string{
	crmhub.EntityOrder: {"line_items": {"quantity", "sku", "title", "unit_price"}},
}

// knownTarget reports whether target is a field of entity, and whether it
// holds a list.
func knownTarget(entity crmhub.Entity, target string) (ok, list bool) {
	if name, found := strings.CutPrefix(target, "attributes."); found {
		return name != "" && !strings.ContainsAny(name, " \t"), false
	}
	list, ok = targets[entity][target]
	return ok, list
}

// targetNames lists the fields of entity, for hints.
func targetNames(entity crmhub.Entity) []string {
	var names []string
	for n := range targets[entity] {
		names = append(names, n)
	}
	for n := range nestedTargets[entity] {
		names = append(names, n)
	}
	slices.Sort(names)
	return append(names, "attributes.NAME")
}
