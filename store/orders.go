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
// holds a newer version of it (a later UpdatedAt) or the order was deleted:
// webhooks arrive out of order, and an older delivery must never overwrite
// a newer one nor bring a deleted order back. It returns the stored
// order's id (which for an existing order is the id it already had) and
// whether o was written.
//
// The order is linked to its customer by CustomerExternalID, the customer
// record of the same source; reads resolve the profile through that
// record's identity (see crmhub.Order.CustomerID).
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
	// The conflict clause takes the row lock, so on PostgreSQL a
	// concurrent DeleteOrder of the same order is either seen here or
	// sees this write: never both missed.
	// Through the statement cache: SQLite parsing this statement cost
	// more than running it, once per order.
	const q = `INSERT INTO orders (id, source, external_id, customer_id, customer_external_id, number,
		financial_status, fulfillment_status, currency, subtotal, discounts, tax, shipping, total, refunded,
		cancelled_at, created_at, processed_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (source, external_id) DO UPDATE SET customer_id = excluded.customer_id,
		customer_external_id = excluded.customer_external_id,
		number = excluded.number, financial_status = excluded.financial_status,
		fulfillment_status = excluded.fulfillment_status, currency = excluded.currency,
		subtotal = excluded.subtotal, discounts = excluded.discounts, tax = excluded.tax,
		shipping = excluded.shipping, total = excluded.total, refunded = excluded.refunded,
		cancelled_at = excluded.cancelled_at, created_at = excluded.created_at,
		processed_at = excluded.processed_at, updated_at = excluded.updated_at
		WHERE orders.updated_at <= excluded.updated_at AND orders.deleted_at IS NULL
		RETURNING id`
	err = sqlxGet(ctx, t.reader, &id, q, o.ID, o.Source, o.ExternalID, nullString(o.CustomerID), o.CustomerExternalID,
		o.Number, o.FinancialStatus, o.FulfillmentStatus, o.Currency, o.Subtotal, o.Discounts, o.Tax, o.Shipping,
		o.Total, o.Refunded, nullTime(o.CancelledAt), utc(o.CreatedAt), nullTime(&o.ProcessedAt),
		utc(o.UpdatedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil // a newer version is stored, or the order was deleted
	}
	if err != nil {
		return "", false, fmt.Errorf("upsert order %s/%s: %w", o.Source, o.ExternalID, err)
	}
	if err := t.setLineItems(ctx, id, o.LineItems); err != nil {
		return "", false, err
	}
	return id, true, nil
}

func (t *Tx) setLineItems(ctx context.Context, orderID string, items []crmhub.LineItem) error {
	if _, err := t.exec(ctx, t.d.rebind("DELETE FROM line_items WHERE order_id = ?"), orderID); err != nil {
		return fmt.Errorf("replace line items of order %s: %w", orderID, err)
	}
	args := make([]any, 0, len(items)*6)
	for i, li := range items {
		args = append(args, orderID, i, li.SKU, li.Title, li.Quantity, li.UnitPrice)
	}
	if err := t.execRows(ctx, "INSERT INTO line_items (order_id, position, sku, title, quantity, unit_price) VALUES ",
		6, "", args); err != nil {
		return fmt.Errorf("write line items of order %s: %w", orderID, err)
	}
	return nil
}

// DeleteOrder deletes the order a source knows by externalID, at the
// given time: its data and line items go, and a tombstone stays, so that
// a version delivered after the deletion is not written (UpsertOrder).
// Deleting an order not seen yet leaves the tombstone for it; deleting
// one twice keeps the first time. It reports whether a live order was
// deleted.
func (t *Tx) DeleteOrder(ctx context.Context, source, externalID string, at time.Time) (bool, error) {
	var live bool
	if err := sqlxGet(ctx, t.reader, &live, `SELECT COUNT(*) > 0 FROM orders
		WHERE source = ? AND external_id = ? AND deleted_at IS NULL`, source, externalID); err != nil {
		return false, fmt.Errorf("delete order %s/%s: %w", source, externalID, err)
	}
	// The tombstone keeps what the table requires and nothing of the
	// order: no customer, number, status or amount.
	var id string
	at = at.UTC()
	err := t.q.QueryRowxContext(ctx, t.d.rebind(`INSERT INTO orders (id, source, external_id, currency, subtotal,
		discounts, tax, shipping, total, refunded, created_at, updated_at, deleted_at)
		VALUES (?, ?, ?, '', 0, 0, 0, 0, 0, 0, ?, ?, ?)
		ON CONFLICT (source, external_id) DO UPDATE SET customer_id = NULL, customer_external_id = '',
		number = '', financial_status = '', fulfillment_status = '', currency = '', subtotal = 0, discounts = 0,
		tax = 0, shipping = 0, total = 0, refunded = 0, cancelled_at = NULL, processed_at = NULL,
		deleted_at = COALESCE(orders.deleted_at, excluded.deleted_at)
		RETURNING id`), crmhub.NewID(crmhub.OrderIDPrefix), source, externalID, at, at, at).Scan(&id)
	if err != nil {
		return false, fmt.Errorf("delete order %s/%s: %w", source, externalID, err)
	}
	if _, err := t.exec(ctx, t.d.rebind("DELETE FROM line_items WHERE order_id = ?"), id); err != nil {
		return false, fmt.Errorf("delete line items of order %s/%s: %w", source, externalID, err)
	}
	return live, nil
}

type orderRow struct {
	ID                string          `db:"id"`
	Source            string          `db:"source"`
	ExternalID        string          `db:"external_id"`
	CustomerID        sql.NullString  `db:"customer_id"`
	CustomerExtID     string          `db:"customer_external_id"`
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

// orderColumns read an order with the profile it belongs to now: the
// profile of its customer's record when an identity links one (identities
// always name a live profile: a merge or unmerge moves them), else the
// profile the order was written with. Resolving at read time is what lets
// orders follow merges and unmerges, and find a customer that arrives
// after them, without rewriting any order.
const orderColumns = `o.id, o.source, o.external_id, COALESCE(i.customer_id, o.customer_id) AS customer_id,
	o.customer_external_id, o.number, o.financial_status, o.fulfillment_status, o.currency, o.subtotal,
	o.discounts, o.tax, o.shipping, o.total, o.refunded, o.cancelled_at, o.created_at, o.processed_at, o.updated_at
	FROM orders o LEFT JOIN identities i ON i.source = o.source AND i.external_id = o.customer_external_id`

func (row orderRow) order() crmhub.Order {
	o := crmhub.Order{
		ID: row.ID, Source: row.Source, ExternalID: row.ExternalID, Number: row.Number,
		CustomerID: row.CustomerID.String, CustomerExternalID: row.CustomerExtID,
		FinancialStatus: row.FinancialStatus, FulfillmentStatus: row.FulfillmentStatus,
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
// items, or an error wrapping crmhub.ErrNotFound (also for a deleted
// order).
func (r reader) Order(ctx context.Context, source, externalID string) (crmhub.Order, error) {
	os, err := r.orders(ctx, "WHERE o.source = ? AND o.external_id = ? AND o.deleted_at IS NULL", source, externalID)
	if err != nil {
		return crmhub.Order{}, err
	}
	if len(os) == 0 {
		return crmhub.Order{}, fmt.Errorf("order %s/%s: %w", source, externalID, crmhub.ErrNotFound)
	}
	return os[0], nil
}

// OrdersOfCustomer returns a profile's orders, oldest first, with line
// items: the orders of its records (through their identities) and the
// orders written with it that no identity links elsewhere.
func (r reader) OrdersOfCustomer(ctx context.Context, customerID string) ([]crmhub.Order, error) {
	return r.orders(ctx, "WHERE o.deleted_at IS NULL AND "+ordersOfCustomerCondition+" ORDER BY o.created_at, o.id",
		customerID, customerID, customerID)
}

// ordersOfCustomerCondition keeps the orders of one profile, given three
// times as its parameters. The candidates come from two indexed lookups;
// the first condition keeps those the profile really holds.
const ordersOfCustomerCondition = `COALESCE(i.customer_id, o.customer_id) = ? AND o.id IN (
	SELECT c.id FROM identities ci JOIN orders c ON c.source = ci.source AND c.customer_external_id = ci.external_id
	WHERE ci.customer_id = ?
	UNION ALL SELECT id FROM orders WHERE customer_id = ?)`

func (r reader) orders(ctx context.Context, where string, args ...any) ([]crmhub.Order, error) {
	var rows []orderRow
	if err := sqlxSelect(ctx, r, &rows, "SELECT "+orderColumns+" "+where, args...); err != nil {
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
