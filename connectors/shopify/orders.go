package shopify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/crmhub/crmhub"
)

// OrderPull pages through a shop's orders updated since the last pull, with
// their line items, amounts and customer, and lands them, page by page,
// with the checkpoint that covers them, as CustomerPull does for
// customers. A pulled order lands in the shape of an orders/updated
// webhook, under its numeric id, so that both ways in map alike through
// the built-in order mapping.
type OrderPull struct{ p *pull }

// NewOrderPull returns a pull of orders, checkpointed as stream
// StreamOrders. It does no I/O. The token needs read_orders; without
// read_all_orders Shopify shows only the last 60 days of orders.
func NewOrderPull(q Querier, land Lander, cps Checkpoints, cfg PullConfig, log *slog.Logger) (*OrderPull, error) {
	p, err := newPull(q, land, cps, cfg, log, StreamOrders, DefaultOrderPageSize)
	if err != nil {
		return nil, err
	}
	p.fetch = p.fetchOrders
	return &OrderPull{p: p}, nil
}

// Run pulls once, as CustomerPull.Run does.
func (o *OrderPull) Run(ctx context.Context, progress func(Progress)) (Progress, error) {
	return o.p.run(ctx, progress)
}

// lineItemFields select a page of line items.
const lineItemFields = `edges { node { ` + lineItemNodeFields + ` } }
        pageInfo { hasNextPage endCursor }`

// orderFields are the fields of an order the built-in mapping reads,
// line items aside; the page query and the bulk query both select them.
const orderFields = `id
        name
        email
        phone
        currencyCode
        displayFinancialStatus
        displayFulfillmentStatus
        createdAt
        processedAt
        updatedAt
        cancelledAt
        customer { id }
        subtotalPriceSet { shopMoney { amount } }
        totalDiscountsSet { shopMoney { amount } }
        totalTaxSet { shopMoney { amount } }
        totalShippingPriceSet { shopMoney { amount } }
        totalPriceSet { shopMoney { amount currencyCode } }
        totalRefundedSet { shopMoney { amount } }`

// lineItemNodeFields are the fields of a line item the built-in mapping
// reads.
const lineItemNodeFields = `sku title quantity originalUnitPriceSet { shopMoney { amount } }`

// ordersQuery asks for orders in (updatedAt, id) order, amounts in the
// shop's currency, each with its first 25 line items: an order with more
// has the rest read by orderLineItemsQuery.
const ordersQuery = `query CrmhubOrders($first: Int!, $after: String, $query: String) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    edges {
      cursor
      node {
        ` + orderFields + `
        lineItems(first: 25) {
        ` + lineItemFields + `
        }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}`

// orderLineItemsQuery reads the line items of one order after the first
// page, 250 at a time (about 750 points).
const orderLineItemsQuery = `query CrmhubOrderLineItems($id: ID!, $after: String) {
  order(id: $id) {
    lineItems(first: 250, after: $after) {
        ` + lineItemFields + `
    }
  }
}`

type lineItemsPage struct {
	Edges []struct {
		Node gqlLineItem `json:"node"`
	} `json:"edges"`
	PageInfo pageInfo `json:"pageInfo"`
}

type ordersPage struct {
	Orders struct {
		Edges []struct {
			Node gqlOrder `json:"node"`
		} `json:"edges"`
		PageInfo pageInfo `json:"pageInfo"`
	} `json:"orders"`
}

func (p *pull) fetchOrders(ctx context.Context, vars map[string]any) (fetched, error) {
	var page ordersPage
	if err := p.q.Query(ctx, ordersQuery, vars, &page); err != nil {
		return fetched{}, err
	}
	out := fetched{hasNext: page.Orders.PageInfo.HasNextPage, end: page.Orders.PageInfo.EndCursor}
	for _, e := range page.Orders.Edges {
		n := e.Node
		if err := p.restOfLineItems(ctx, &n); err != nil {
			return fetched{}, err
		}
		payload, id, err := n.webhookShape()
		if err != nil {
			return fetched{}, crmhub.Permanent(err)
		}
		env, c, err := p.envelope(crmhub.EntityOrder, id, n.UpdatedAt, payload)
		if err != nil {
			return fetched{}, crmhub.Permanent(err)
		}
		out.envs, out.cursors = append(out.envs, env), append(out.cursors, c)
	}
	return out, nil
}

// restOfLineItems reads the line items of an order that the page query
// did not bring: an order is landed whole or not at all.
func (p *pull) restOfLineItems(ctx context.Context, n *gqlOrder) error {
	for next := n.LineItems.PageInfo; next.HasNextPage && next.EndCursor != nil; {
		var more struct {
			Order *struct {
				LineItems lineItemsPage `json:"lineItems"`
			} `json:"order"`
		}
		vars := map[string]any{"id": n.ID, "after": *next.EndCursor}
		if err := p.q.Query(ctx, orderLineItemsQuery, vars, &more); err != nil {
			return fmt.Errorf("line items of order %s: %w", n.ID, err)
		}
		if more.Order == nil {
			return fmt.Errorf("line items of order %s: the order is gone", n.ID)
		}
		n.LineItems.Edges = append(n.LineItems.Edges, more.Order.LineItems.Edges...)
		next = more.Order.LineItems.PageInfo
	}
	return nil
}

// gqlOrder is an Order node as ordersQuery selects it.
type gqlOrder struct {
	ID                       string        `json:"id"`
	Name                     string        `json:"name"`
	Email                    *string       `json:"email"`
	Phone                    *string       `json:"phone"`
	CurrencyCode             string        `json:"currencyCode"`
	DisplayFinancialStatus   *string       `json:"displayFinancialStatus"`
	DisplayFulfillmentStatus string        `json:"displayFulfillmentStatus"`
	CreatedAt                string        `json:"createdAt"`
	ProcessedAt              *string       `json:"processedAt"`
	UpdatedAt                string        `json:"updatedAt"`
	CancelledAt              *string       `json:"cancelledAt"`
	Customer                 *gqlRef       `json:"customer"`
	SubtotalPriceSet         *moneyBag     `json:"subtotalPriceSet"`
	TotalDiscountsSet        *moneyBag     `json:"totalDiscountsSet"`
	TotalTaxSet              *moneyBag     `json:"totalTaxSet"`
	TotalShippingPriceSet    *moneyBag     `json:"totalShippingPriceSet"`
	TotalPriceSet            *moneyBag     `json:"totalPriceSet"`
	TotalRefundedSet         *moneyBag     `json:"totalRefundedSet"`
	LineItems                lineItemsPage `json:"lineItems"`
}

type gqlRef struct {
	ID string `json:"id"`
}

type gqlLineItem struct {
	SKU                  *string   `json:"sku"`
	Title                string    `json:"title"`
	Quantity             int       `json:"quantity"`
	OriginalUnitPriceSet *moneyBag `json:"originalUnitPriceSet"`
}

// moneyBag is an amount in the shop's and the customer's currencies; the
// shop's is what crmhub keeps.
type moneyBag struct {
	ShopMoney struct {
		Amount       string `json:"amount"`
		CurrencyCode string `json:"currencyCode"`
	} `json:"shopMoney"`
}

func (m *moneyBag) shop() string {
	if m == nil {
		return ""
	}
	return m.ShopMoney.Amount
}

// restOrder is an order as webhooks (orders/create, updated, paid,
// cancelled) and the REST Admin API write it, as far as the built-in
// mapping reads it.
type restOrder struct {
	ID                    json.Number        `json:"id"`
	AdminGraphQLAPIID     string             `json:"admin_graphql_api_id"`
	Name                  string             `json:"name"`
	Email                 *string            `json:"email"`
	Phone                 *string            `json:"phone"`
	Currency              string             `json:"currency"`
	FinancialStatus       *string            `json:"financial_status"`
	FulfillmentStatus     *string            `json:"fulfillment_status"`
	SubtotalPrice         string             `json:"subtotal_price,omitempty"`
	TotalDiscounts        string             `json:"total_discounts,omitempty"`
	TotalTax              string             `json:"total_tax,omitempty"`
	TotalPrice            string             `json:"total_price,omitempty"`
	TotalShippingPriceSet *restMoneySet      `json:"total_shipping_price_set,omitempty"`
	Refunds               []restRefund       `json:"refunds"`
	Customer              *restOrderCustomer `json:"customer"`
	CreatedAt             string             `json:"created_at"`
	ProcessedAt           *string            `json:"processed_at"`
	UpdatedAt             string             `json:"updated_at"`
	CancelledAt           *string            `json:"cancelled_at"`
	LineItems             []restLineItem     `json:"line_items"`
}

type restMoneySet struct {
	ShopMoney struct {
		Amount       string `json:"amount"`
		CurrencyCode string `json:"currency_code"`
	} `json:"shop_money"`
}

type restRefund struct {
	Transactions []restTransaction `json:"transactions"`
}

type restTransaction struct {
	Kind   string `json:"kind"`
	Status string `json:"status"`
	Amount string `json:"amount"`
}

type restOrderCustomer struct {
	ID                json.Number `json:"id"`
	AdminGraphQLAPIID string      `json:"admin_graphql_api_id"`
}

type restLineItem struct {
	SKU      *string `json:"sku"`
	Title    string  `json:"title"`
	Quantity int     `json:"quantity"`
	Price    string  `json:"price"`
}

// webhookShape returns the order as an orders/updated webhook payload,
// and its id.
func (n gqlOrder) webhookShape() ([]byte, string, error) {
	id, err := OrderID(n.ID)
	if err != nil {
		return nil, "", err
	}
	r := restOrder{ID: json.Number(id), AdminGraphQLAPIID: n.ID, Name: n.Name, Email: n.Email, Phone: n.Phone,
		Currency: n.CurrencyCode, FinancialStatus: lowerPtr(n.DisplayFinancialStatus),
		FulfillmentStatus: fulfillmentStatus(n.DisplayFulfillmentStatus),
		SubtotalPrice:     n.SubtotalPriceSet.shop(), TotalDiscounts: n.TotalDiscountsSet.shop(),
		TotalTax: n.TotalTaxSet.shop(), TotalPrice: n.TotalPriceSet.shop(), Refunds: refunds(n.TotalRefundedSet.shop()),
		CreatedAt: n.CreatedAt, ProcessedAt: n.ProcessedAt, UpdatedAt: n.UpdatedAt, CancelledAt: n.CancelledAt,
		LineItems: make([]restLineItem, 0, len(n.LineItems.Edges))}
	if r.Currency == "" && n.TotalPriceSet != nil {
		// The shop's currency, as the total's shop money names it.
		r.Currency = n.TotalPriceSet.ShopMoney.CurrencyCode
	}
	if amount := n.TotalShippingPriceSet.shop(); amount != "" {
		r.TotalShippingPriceSet = &restMoneySet{}
		r.TotalShippingPriceSet.ShopMoney.Amount, r.TotalShippingPriceSet.ShopMoney.CurrencyCode = amount, r.Currency
	}
	if n.Customer != nil {
		cid, err := CustomerID(n.Customer.ID)
		if err != nil {
			return nil, "", fmt.Errorf("order %s: %w", id, err)
		}
		r.Customer = &restOrderCustomer{ID: json.Number(cid), AdminGraphQLAPIID: n.Customer.ID}
	}
	for _, e := range n.LineItems.Edges {
		li := e.Node
		r.LineItems = append(r.LineItems, restLineItem{SKU: li.SKU, Title: li.Title, Quantity: li.Quantity,
			Price: li.OriginalUnitPriceSet.shop()})
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, "", fmt.Errorf("order %s: %w", id, err)
	}
	return b, id, nil
}

// refunds writes the refunded total GraphQL gives as webhooks write
// refunds: each with its transactions, which the mapping adds up. One
// successful refund of the total adds up to the same.
func refunds(total string) []restRefund {
	if total == "" || isZero(total) {
		return []restRefund{}
	}
	return []restRefund{{Transactions: []restTransaction{{Kind: "refund", Status: "success", Amount: total}}}}
}

func isZero(amount string) bool {
	d, err := decimal.NewFromString(amount)
	return err == nil && d.IsZero()
}

func lowerPtr(s *string) *string {
	if s == nil {
		return nil
	}
	l := strings.ToLower(*s)
	return &l
}

// fulfillmentStatus writes GraphQL's displayFulfillmentStatus as webhooks
// write fulfillment_status, which knows only fulfilled, partial and
// restocked, and null for an order not (yet) fulfilled: the same order
// must read the same whichever way it came.
func fulfillmentStatus(display string) *string {
	var s string
	switch display {
	case "FULFILLED":
		s = "fulfilled"
	case "PARTIALLY_FULFILLED":
		s = "partial"
	case "RESTOCKED":
		s = "restocked"
	default:
		return nil
	}
	return &s
}
