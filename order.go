package crmhub

import (
	"time"

	"github.com/shopspring/decimal"
)

// Order is a purchase from a source system. Money is decimal in the order's
// currency; ExternalID is the source's own id, kept as a string.
type Order struct {
	ID         string `json:"id"`
	Source     string `json:"source"`
	ExternalID string `json:"external_id"`
	Number     string `json:"number,omitempty"`
	// CustomerID is the profile the order belongs to. The store derives it
	// on every read from CustomerExternalID through the identity of that
	// customer record, so it follows merges and unmerges and appears once
	// the record arrives. Only when no identity links the order does a
	// CustomerID given to the store stand, as given.
	CustomerID string `json:"customer_id,omitempty"`
	// CustomerExternalID is the order's customer as the order's source
	// knows it (a Shopify customer id); empty for a guest checkout.
	CustomerExternalID string          `json:"customer_external_id,omitempty"`
	FinancialStatus    string          `json:"financial_status,omitempty"`
	FulfillmentStatus  string          `json:"fulfillment_status,omitempty"`
	CancelledAt        *time.Time      `json:"cancelled_at"`
	Currency           string          `json:"currency"`
	Subtotal           decimal.Decimal `json:"subtotal"`
	Discounts          decimal.Decimal `json:"discounts"`
	Tax                decimal.Decimal `json:"tax"`
	Shipping           decimal.Decimal `json:"shipping"`
	Total              decimal.Decimal `json:"total"`
	Refunded           decimal.Decimal `json:"refunded"`
	LineItems          []LineItem      `json:"line_items"`
	CreatedAt          time.Time       `json:"created_at"`
	ProcessedAt        time.Time       `json:"processed_at,omitzero"`
	UpdatedAt          time.Time       `json:"updated_at"`
}

// LineItem is one product line of an order.
type LineItem struct {
	SKU       string          `json:"sku,omitempty"`
	Title     string          `json:"title,omitempty"`
	Quantity  int             `json:"quantity"`
	UnitPrice decimal.Decimal `json:"unit_price"`
}

// Cancelled reports whether the order was cancelled.
func (o *Order) Cancelled() bool { return o.CancelledAt != nil }

// Validate checks the invariants of an order: an id made by NewID, a source
// and external id, an ISO 4217 currency, no negative amounts or quantities.
// Errors wrap ErrInvalid.
func (o *Order) Validate() error {
	if !HasIDPrefix(o.ID, OrderIDPrefix) {
		return invalidf("order id %q: want %s_<ulid>", o.ID, OrderIDPrefix)
	}
	if o.Source == "" || o.ExternalID == "" {
		return invalidf("order %s: needs a source and an external id", o.ID)
	}
	if !currencyPattern.MatchString(o.Currency) {
		return invalidf("order %s: currency %q is not ISO 4217", o.ID, o.Currency)
	}
	for name, v := range map[string]decimal.Decimal{
		"subtotal": o.Subtotal, "discounts": o.Discounts, "tax": o.Tax,
		"shipping": o.Shipping, "total": o.Total, "refunded": o.Refunded,
	} {
		if v.IsNegative() {
			return invalidf("order %s: %s is negative (%s)", o.ID, name, v)
		}
	}
	for i, li := range o.LineItems {
		if li.Quantity < 0 || li.UnitPrice.IsNegative() {
			return invalidf("order %s: line item %d has a negative quantity or price", o.ID, i)
		}
	}
	return nil
}
