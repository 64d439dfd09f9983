package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/crmhub/crmhub"
)

// UpsertOrder writes an order and its line items unless the store already
// holds a newer version of it (a later UpdatedAt): webhooks arrive out of
// order, and an older delivery must never overwrite a newer one. It returns
// the stored order's id (which for an existing order is the id it already
// had) and whether o was written.
func (t *Tx) UpsertOrder(ctx context.Context, o crmhub.Order) (id string, written bool, err error) {
	if o.ID == "" {
		o.ID = crmhub.NewID(crmhub.OrderIDPrefix)
	}
	if o.CreatedAt.IsZero() {
		o.CreatedAt = time.Now()
	}
	if o.UpdatedAt.IsZero() {
		o.UpdatedAt = o.CreatedAt
	}
	if err := o.Validate(); err != nil {
		return "", false, err
	}
	q := t.d.rebind(`INSERT INTO orders (id, source, external_id, customer_id, number, financial_status,
		fulfillment_status, currency, subtotal, discounts, tax, shipping, total, refunded, cancelled_at,
		created_at, processed_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (source, external_id) DO UPDATE SET customer_id = excluded.customer_id,
		number = excluded.number, financial_status = excluded.financial_status,
		fulfillment_status = excluded.fulfillment_status, currency = excluded.currency,
		subtotal = excluded.subtotal, discounts = excluded.discounts, tax = excluded.tax,
		shipping = excluded.shipping, total = excluded.total, refunded = excluded.refunded,
		cancelled_at = excluded.cancelled_at, created_at = excluded.created_at,
		processed_at = excluded.processed_at, updated_at = excluded.updated_at
		WHERE orders.updated_at <= excluded.updated_at
		RETURNING id`)
	err = t.q.QueryRowxContext(ctx, q, o.ID, o.Source, o.ExternalID, nullString(o.CustomerID), o.Number,
		o.FinancialStatus, o.FulfillmentStatus, o.Currency, o.Subtotal, o.Discounts, o.Tax, o.Shipping,
		o.Total, o.Refunded, nullTime(o.CancelledAt), utc(o.CreatedAt), nullTime(&o.ProcessedAt),
		utc(o.UpdatedAt)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil // a newer version is stored
	}
	if err != nil {
		return "", false, fmt.Errorf("upsert order %s/%s: %w", o.Source, o.ExternalID, err)
	}
	if _, err := t.exec(ctx, t.d.rebind("DELETE FROM line_items WHERE order_id = ?"), id); err != nil {
		return "", false, fmt.Errorf("replace line items of order %s: %w", id, err)
	}
	args := make([]any, 0, len(o.LineItems)*6)
	for i, li := range o.LineItems {
		args = append(args, id, i, li.SKU, li.Title, li.Quantity, li.UnitPrice)
	}
	if err := t.execRows(ctx, "INSERT INTO line_items (order_id, position, sku, title, quantity, unit_price) VALUES ",
		6, "", args); err != nil {
		return "", false, fmt.Errorf("write line items of order %s: %w", id, err)
	}
	return id, true, nil
}

type orderRow struct {
	ID                string          `db:"id"`
	Source            string          `db:"source"`
	ExternalID        string          `db:"external_id"`
	CustomerID        sql.NullString  `db:"customer_id"`
	Number            string          `db:"number"`
	FinancialStatus   string          `db:"financial_status"`
	FulfillmentStatus string          `db:"fulfillment_status"`
	Currency          string          `db:"currency"`
	Subtotal          decimal.Decimal `db:"subtotal"`
	Discounts         decimal.Decimal `db:"discounts"`
	Tax               decimal.Decimal `db:"tax"`
	Shipping          decimal.Decimal `db:"shipping"`
	Total             decimal.Decimal `db:"total"`
	Refunded          decimal.Decimal `db:"refunded"`
	CancelledAt       sql.NullTime    `db:"cancelled_at"`
	CreatedAt         time.Time       `db:"created_at"`
	ProcessedAt       sql.NullTime    `db:"processed_at"`
	UpdatedAt         time.Time       `db:"updated_at"`
}

const orderColumns = `id, source, external_id, customer_id, number, financial_status, fulfillment_status,
	currency, subtotal, discounts, tax, shipping, total, refunded, cancelled_at, created_at, processed_at, updated_at`

func (row orderRow) order() crmhub.Order {
	o := crmhub.Order{
		ID: row.ID, Source: row.Source, ExternalID: row.ExternalID, CustomerID: row.CustomerID.String,
		Number: row.Number, FinancialStatus: row.FinancialStatus, FulfillmentStatus: row.FulfillmentStatus,
		Currency: row.Currency, Subtotal: row.Subtotal, Discounts: row.Discounts, Tax: row.Tax,
		Shipping: row.Shipping, Total: row.Total, Refunded: row.Refunded,
		CreatedAt: row.CreatedAt.UTC(), UpdatedAt: row.UpdatedAt.UTC(),
	}
	if row.CancelledAt.Valid {
		t := row.CancelledAt.Time.UTC()
		o.CancelledAt = &t
	}
	if row.ProcessedAt.Valid {
		o.ProcessedAt = row.ProcessedAt.Time.UTC()
	}
	return o
}

// Order returns the order a source knows by externalID, with its line
// items, or an error wrapping crmhub.ErrNotFound.
func (r reader) Order(ctx context.Context, source, externalID string) (crmhub.Order, error) {
	os, err := r.orders(ctx, "WHERE source = ? AND external_id = ?", source, externalID)
	if err != nil {
		return crmhub.Order{}, err
	}
	if len(os) == 0 {
		return crmhub.Order{}, fmt.Errorf("order %s/%s: %w", source, externalID, crmhub.ErrNotFound)
	}
	return os[0], nil
}

// OrdersOfCustomer returns a profile's orders, oldest first, with line
// items.
func (r reader) OrdersOfCustomer(ctx context.Context, customerID string) ([]crmhub.Order, error) {
	return r.orders(ctx, "WHERE customer_id = ? ORDER BY created_at, id", customerID)
}

func (r reader) orders(ctx context.Context, where string, args ...any) ([]crmhub.Order, error) {
	var rows []orderRow
	if err := sqlxSelect(ctx, r, &rows, "SELECT "+orderColumns+" FROM orders "+where, args...); err != nil {
		return nil, fmt.Errorf("read orders: %w", err)
	}
	out := make([]crmhub.Order, len(rows))
	idx := make(map[string]int, len(rows))
	ids := make([]any, len(rows))
	for i, row := range rows {
		out[i] = row.order()
		out[i].LineItems = []crmhub.LineItem{}
		idx[row.ID] = i
		ids[i] = row.ID
	}
	per := r.d.chunkRows(1)
	for start := 0; start < len(ids); start += per {
		chunk := ids[start:min(start+per, len(ids))]
		var items []struct {
			OrderID string          `db:"order_id"`
			SKU     string          `db:"sku"`
			Title   string          `db:"title"`
			Qty     int             `db:"quantity"`
			Price   decimal.Decimal `db:"unit_price"`
		}
		if err := sqlxSelect(ctx, r, &items, `SELECT order_id, sku, title, quantity, unit_price FROM line_items
			WHERE order_id IN (`+placeholders(len(chunk))+`) ORDER BY order_id, position`, chunk...); err != nil {
			return nil, fmt.Errorf("read line items: %w", err)
		}
		for _, it := range items {
			o := &out[idx[it.OrderID]]
			o.LineItems = append(o.LineItems, crmhub.LineItem{SKU: it.SKU, Title: it.Title, Quantity: it.Qty, UnitPrice: it.Price})
		}
	}
	return out, nil
}
