package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/crmhub/crmhub"
)

// CustomerFilter narrows CustomerPage. The zero value keeps every live
// profile; set fields combine with AND.
type CustomerFilter struct {
	// Query keeps the profiles whose "first last" name, one of whose
	// emails or one of whose phones contains it. Letters are compared
	// without case (ASCII only on SQLite, whose LOWER knows no more).
	Query string
	// Email keeps the profiles that list this normalized email.
	Email string
	// Phone keeps the profiles that list this E.164 phone.
	Phone string
	// Segment keeps the profiles whose Segments list it.
	Segment string
	// UpdatedSince, when not zero, keeps the profiles updated at or after
	// it.
	UpdatedSince time.Time
}

// CustomerPage returns up to limit live profiles that match f and whose id
// is greater than after, in id order, with their identities. Profiles
// merged into another one are left out.
//
// Pages are keyed by the profile id, which never changes, with the filter
// on top: walking the pages with after set to the last id of the previous
// page visits every profile that stays live and matching exactly once,
// however often it is updated meanwhile. A profile created during the walk
// is visited if its id sorts after the page being read.
func (r reader) CustomerPage(ctx context.Context, f CustomerFilter, after string, limit int) ([]crmhub.Customer, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("read customers: limit %d: %w", limit, crmhub.ErrInvalid)
	}
	where, args := r.customerConditions(f)
	q := "SELECT c.id, c.merged_into, c.doc, c.created_at, c.updated_at FROM customers c WHERE c.id > ? AND c.merged_into IS NULL" +
		where + " ORDER BY c.id LIMIT ?"
	var rows []customerRow
	if err := sqlxSelect(ctx, r, &rows, q, append(append([]any{after}, args...), limit)...); err != nil {
		return nil, fmt.Errorf("read customers after %q: %w", after, err)
	}
	out := make([]crmhub.Customer, len(rows))
	for i := range rows {
		c, err := rows[i].customer()
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	if err := r.attachIdentities(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// customerConditions turns f into SQL conditions on customers c (each
// starting with " AND ") and their arguments.
func (r reader) customerConditions(f CustomerFilter) (string, []any) {
	var (
		b    strings.Builder
		args []any
	)
	if f.Query != "" {
		like := "%" + escapeLike(strings.ToLower(f.Query)) + "%"
		b.WriteString(` AND (LOWER(c.first_name || ' ' || c.last_name) LIKE ? ESCAPE '\'
			OR EXISTS (SELECT 1 FROM customer_emails e WHERE e.customer_id = c.id AND e.email LIKE ? ESCAPE '\')
			OR EXISTS (SELECT 1 FROM customer_phones p WHERE p.customer_id = c.id AND p.phone LIKE ? ESCAPE '\'))`)
		args = append(args, like, like, like)
	}
	if f.Email != "" {
		b.WriteString(" AND c.id IN (SELECT customer_id FROM customer_emails WHERE email = ?)")
		args = append(args, f.Email)
	}
	if f.Phone != "" {
		b.WriteString(" AND c.id IN (SELECT customer_id FROM customer_phones WHERE phone = ?)")
		args = append(args, f.Phone)
	}
	if f.Segment != "" {
		b.WriteString(" AND " + r.d.docListHas("c.doc", "segments"))
		args = append(args, f.Segment)
	}
	if !f.UpdatedSince.IsZero() {
		b.WriteString(" AND c.updated_at >= ?")
		args = append(args, utc(f.UpdatedSince))
	}
	return b.String(), args
}

// docListHas returns a condition, with one parameter for the value, that
// holds when the JSON document in column col has a list under key that
// contains the value.
func (d dialect) docListHas(col, key string) string {
	if d.name == DriverPostgres {
		return "(" + col + " -> '" + key + "') @> jsonb_build_array(?::text)"
	}
	return "EXISTS (SELECT 1 FROM json_each(" + col + ", '$." + key + "') WHERE value = ?)"
}

// escapeLike escapes the LIKE wildcards in s, for a pattern with
// ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// OrderFilter narrows OrderPage. The zero value keeps every order but
// deleted ones.
type OrderFilter struct {
	// CustomerID keeps the orders of this profile, as OrdersOfCustomer
	// finds them.
	CustomerID string
	// UpdatedSince, when not zero, keeps the orders updated at or after it.
	UpdatedSince time.Time
}

// OrderPage returns up to limit orders that match f and whose id is
// greater than after, in id order, with their line items and the profile
// each belongs to now. Deleted orders are left out. Like CustomerPage it
// pages by the immutable id, so a walk visits every order once however
// often orders are updated meanwhile.
func (r reader) OrderPage(ctx context.Context, f OrderFilter, after string, limit int) ([]crmhub.Order, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("read orders: limit %d: %w", limit, crmhub.ErrInvalid)
	}
	where := "WHERE o.id > ? AND o.deleted_at IS NULL"
	args := []any{after}
	if f.CustomerID != "" {
		where += " AND " + ordersOfCustomerCondition
		args = append(args, f.CustomerID, f.CustomerID, f.CustomerID)
	}
	if !f.UpdatedSince.IsZero() {
		where += " AND o.updated_at >= ?"
		args = append(args, utc(f.UpdatedSince))
	}
	os, err := r.orders(ctx, where+" ORDER BY o.id LIMIT ?", append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("orders after %q: %w", after, err)
	}
	return os, nil
}
