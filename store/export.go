package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/crmhub/crmhub"
)

// exportPageSize is how many rows one page of EachCustomer and EachOrder
// reads: what the iteration holds in memory at a time, whatever the size of
// the store. A variable so that tests can cross page boundaries with a few
// rows.
var exportPageSize = 1000

// ExportOptions narrow what EachCustomer and EachOrder visit. The zero
// value visits everything.
type ExportOptions struct {
	// Segment keeps the profiles whose Segments list it. Customers only:
	// EachOrder rejects it.
	Segment string
	// UpdatedSince, when not zero, keeps the records updated at or after it.
	UpdatedSince time.Time
}

// EachCustomer calls fn with every live profile, with its identities, in id
// order, reading a page of rows at a time so that memory stays constant.
// Profiles merged into another one (MergedInto set) are left out: they are
// tombstones, and their data lives on in the survivor.
//
// On a Tx or a ReadTx the pages are read in that transaction; on a Store,
// see Store.EachCustomer. fn runs between the page reads, on the goroutine
// of the caller; an error from fn stops the iteration and is returned as it
// is.
func (r reader) EachCustomer(ctx context.Context, opts ExportOptions, fn func(crmhub.Customer) error) error {
	where := "WHERE id > ? AND merged_into IS NULL"
	var since []any
	if !opts.UpdatedSince.IsZero() {
		where += " AND updated_at >= ?"
		since = append(since, utc(opts.UpdatedSince))
	}
	page := " FROM customers " + where + " ORDER BY id LIMIT ?"
	size := exportPageSize
	var (
		rows []customerRow
		cs   []crmhub.Customer
	)
	for after := ""; ; {
		rows = rows[:0]
		args := append(append([]any{after}, since...), size)
		if err := sqlxSelect(ctx, r, &rows, "SELECT "+customerColumns+page, args...); err != nil {
			return fmt.Errorf("read customers after %q: %w", after, err)
		}
		if len(rows) == 0 {
			return nil
		}
		cs = cs[:0]
		for i := range rows {
			c, err := rows[i].customer()
			if err != nil {
				return err
			}
			if opts.Segment != "" && !slices.Contains(c.Segments, opts.Segment) {
				continue
			}
			cs = append(cs, c)
		}
		if err := r.attachPageIdentities(ctx, cs, "SELECT id"+page, args); err != nil {
			return err
		}
		for _, c := range cs {
			if err := fn(c); err != nil {
				return err
			}
		}
		if len(rows) < size {
			return nil
		}
		after = rows[len(rows)-1].ID
	}
}

// EachOrder calls fn with every order but deleted ones, with its line
// items and the profile it belongs to now, in id order, reading a page of
// rows at a time so that memory stays constant. It takes its transaction
// from the reader as EachCustomer does. opts.Segment must be empty:
// segments belong to profiles.
func (r reader) EachOrder(ctx context.Context, opts ExportOptions, fn func(crmhub.Order) error) error {
	if opts.Segment != "" {
		return fmt.Errorf("export orders: segments belong to customers, not orders: %w", crmhub.ErrInvalid)
	}
	where := "WHERE o.id > ? AND o.deleted_at IS NULL"
	var since []any
	if !opts.UpdatedSince.IsZero() {
		where += " AND o.updated_at >= ?"
		since = append(since, utc(opts.UpdatedSince))
	}
	page := exportPageSize
	for after := ""; ; {
		args := append(append([]any{after}, since...), page)
		batch, err := r.orders(ctx, where+" ORDER BY o.id LIMIT ?", args...)
		if err != nil {
			return fmt.Errorf("orders after %q: %w", after, err)
		}
		for _, o := range batch {
			if err := fn(o); err != nil {
				return err
			}
		}
		if len(batch) < page {
			return nil
		}
		after = batch[len(batch)-1].ID
	}
}

// EachCustomer is reader.EachCustomer in a read transaction of its own
// (InReadTx), so that the profiles fn sees are one consistent snapshot of
// the store even while writers carry on: no profile is seen twice or
// missed because a merge or an update committed between two pages.
func (s *Store) EachCustomer(ctx context.Context, opts ExportOptions, fn func(crmhub.Customer) error) error {
	return s.InReadTx(ctx, func(tx *ReadTx) error { return tx.EachCustomer(ctx, opts, fn) })
}

// EachOrder is reader.EachOrder in a read transaction of its own, for the
// same reason as EachCustomer.
func (s *Store) EachOrder(ctx context.Context, opts ExportOptions, fn func(crmhub.Order) error) error {
	return s.InReadTx(ctx, func(tx *ReadTx) error { return tx.EachOrder(ctx, opts, fn) })
}

// attachPageIdentities fills in the identities of cs, the profiles (or
// some of them) that pageQuery (SELECT id FROM customers ...) with args
// selects. One join reads the identities of the whole page: much cheaper than
// looking each id up, and unlike a range of ids never more than the page.
func (r reader) attachPageIdentities(ctx context.Context, cs []crmhub.Customer, pageQuery string, args []any) error {
	byID := make(map[string]*crmhub.Customer, len(cs))
	for i := range cs {
		cs[i].Identities = nil
		byID[cs[i].ID] = &cs[i]
	}
	if len(cs) == 0 {
		return nil
	}
	var rows []identityRow
	if err := sqlxSelect(ctx, r, &rows, `SELECT i.customer_id, i.source, i.source_type, i.external_id
		FROM identities i JOIN (`+pageQuery+`) p ON p.id = i.customer_id
		ORDER BY i.customer_id, i.source, i.external_id`, args...); err != nil {
		return fmt.Errorf("read identities: %w", err)
	}
	for _, row := range rows {
		// The page also holds the profiles a segment filter left out.
		if c := byID[row.CustomerID]; c != nil {
			c.Identities = append(c.Identities, crmhub.Identity{Source: row.Source, Type: row.Type, ExternalID: row.ExternalID})
		}
	}
	return nil
}
