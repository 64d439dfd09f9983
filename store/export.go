package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/crmhub/crmhub"
	"github.com/tidwall/gjson"
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
	return r.eachCustomerPage(ctx, opts, func(rows []customerRow, idents map[string][]crmhub.Identity) error {
		for i := range rows {
			c, err := rows[i].customer()
			if err != nil {
				return err
			}
			if opts.Segment != "" && !slices.Contains(c.Segments, opts.Segment) {
				continue
			}
			c.Identities = idents[c.ID]
			if err := fn(c); err != nil {
				return err
			}
		}
		return nil
	})
}

// EachCustomerJSON is EachCustomer with each profile as json.Marshal
// writes a crmhub.Customer, and a newline: the lines of an NDJSON export.
// It writes a line from the profile's stored document, without decoding
// it and encoding it again, which is most of what such an export costs
// otherwise; a document in another shape (PostgreSQL's jsonb keeps its own
// order) is decoded and encoded. fn must not keep line after it returns.
func (r reader) EachCustomerJSON(ctx context.Context, opts ExportOptions, fn func(line []byte) error) error {
	var line []byte
	return r.eachCustomerPage(ctx, opts, func(rows []customerRow, idents map[string][]crmhub.Identity) error {
		for i := range rows {
			row := &rows[i]
			if opts.Segment != "" && !docHasSegment(row.Doc, opts.Segment) {
				continue
			}
			var err error
			if line, err = appendCustomerJSON(line[:0], row, idents[row.ID]); err != nil {
				return err
			}
			if err := fn(line); err != nil {
				return err
			}
		}
		return nil
	})
}

// eachCustomerPage calls fn with every page of the live profiles that
// opts' time filter keeps, in id order, and the identities of the page's
// profiles by profile id.
func (r reader) eachCustomerPage(ctx context.Context, opts ExportOptions,
	fn func(rows []customerRow, idents map[string][]crmhub.Identity) error) error {
	where := "WHERE id > ? AND merged_into IS NULL"
	var since []any
	if !opts.UpdatedSince.IsZero() {
		where += " AND updated_at >= ?"
		since = append(since, utc(opts.UpdatedSince))
	}
	page := " FROM customers " + where + " ORDER BY id LIMIT ?"
	size := exportPageSize
	var (
		rows   []customerRow
		idents []identityRow
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
		// One join reads the identities of the whole page: much cheaper
		// than looking each id up, and unlike a range of ids never more
		// than the page.
		idents = idents[:0]
		if err := sqlxSelect(ctx, r, &idents, `SELECT i.customer_id, i.source, i.source_type, i.external_id
			FROM identities i JOIN (SELECT id`+page+`) p ON p.id = i.customer_id
			ORDER BY i.customer_id, i.source, i.external_id`, args...); err != nil {
			return fmt.Errorf("read identities: %w", err)
		}
		byID := make(map[string][]crmhub.Identity, len(rows))
		for _, row := range idents {
			byID[row.CustomerID] = append(byID[row.CustomerID],
				crmhub.Identity{Source: row.Source, Type: row.Type, ExternalID: row.ExternalID})
		}
		if err := fn(rows, byID); err != nil {
			return err
		}
		if len(rows) < size {
			return nil
		}
		after = rows[len(rows)-1].ID
	}
}

// docHead is how a stored document begins: customerDoc clears the id,
// which json.Marshal writes first all the same.
const docHead = `{"id":""`

// appendCustomerJSON appends the profile of row, with ids, as json.Marshal
// writes a crmhub.Customer, and a newline. A document customerDoc wrote is
// the profile's JSON without its id, identities, merged_into, created_at
// and updated_at, which crmhub.Customer declares last (but the id, which
// it writes empty): the line is the document with those put back. Any
// other document is decoded and encoded.
func appendCustomerJSON(b []byte, row *customerRow, ids []crmhub.Identity) ([]byte, error) {
	doc := row.Doc
	if row.MergedInto.Valid || len(doc) < len(docHead)+1 || string(doc[:len(docHead)]) != docHead || doc[len(doc)-1] != '}' {
		c, err := row.customer()
		if err != nil {
			return b, err
		}
		c.Identities = ids
		j, err := json.Marshal(c)
		if err != nil {
			return b, fmt.Errorf("encode customer %s: %w", row.ID, err)
		}
		return append(append(b, j...), '\n'), nil
	}
	id, err := json.Marshal(row.ID)
	if err != nil {
		return b, fmt.Errorf("encode customer %s: %w", row.ID, err)
	}
	b = append(append(append(b, `{"id":`...), id...), doc[len(docHead):len(doc)-1]...)
	if len(ids) > 0 {
		j, err := json.Marshal(ids)
		if err != nil {
			return b, fmt.Errorf("encode identities of customer %s: %w", row.ID, err)
		}
		b = append(append(b, `,"identities":`...), j...)
	}
	for _, t := range []struct {
		key string
		at  time.Time
	}{{`,"created_at":`, row.CreatedAt}, {`,"updated_at":`, row.UpdatedAt}} {
		if t.at.IsZero() {
			continue
		}
		b = append(append(append(b, t.key...), '"'), t.at.UTC().AppendFormat(nil, time.RFC3339Nano)...)
		b = append(b, '"')
	}
	return append(b, '}', '\n'), nil
}

// docHasSegment reports whether a stored document lists segment among its
// segments.
func docHasSegment(doc []byte, segment string) bool {
	for _, s := range gjson.GetBytes(doc, "segments").Array() {
		if s.Str == segment {
			return true
		}
	}
	return false
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

// EachCustomerJSON is reader.EachCustomerJSON in a read transaction of
// its own, for the same reason as EachCustomer. The transaction is read on
// a goroutine of its own, a page of lines ahead of fn, which runs on the
// caller's: reading the store and writing the export (to a file, to a
// client) then take the time of the slower of the two, not their sum.
func (s *Store) EachCustomerJSON(ctx context.Context, opts ExportOptions, fn func(line []byte) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Two pages in flight at most, their buffers reused: memory stays
	// constant.
	type page struct {
		lines []byte
		ends  []int
	}
	full, free := make(chan *page, 1), make(chan *page, 2)
	free <- &page{}
	free <- &page{}
	read := make(chan error, 1)
	go func() {
		defer close(full)
		var p *page
		flush := func() error {
			if p == nil || len(p.ends) == 0 {
				return nil
			}
			select {
			case full <- p:
				p = nil
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		read <- s.InReadTx(ctx, func(tx *ReadTx) error {
			err := tx.EachCustomerJSON(ctx, opts, func(line []byte) error {
				if p == nil {
					select {
					case p = <-free:
						p.lines, p.ends = p.lines[:0], p.ends[:0]
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				p.lines = append(p.lines, line...)
				p.ends = append(p.ends, len(p.lines))
				if len(p.ends) == exportPageSize {
					return flush()
				}
				return nil
			})
			if err != nil {
				return err
			}
			return flush()
		})
	}()
	for p := range full {
		start := 0
		for _, end := range p.ends {
			if err := fn(p.lines[start:end]); err != nil {
				// Stop the reader and wait for it to end its transaction.
				cancel()
				for range full {
				}
				<-read
				return err
			}
			start = end
		}
		free <- p
	}
	return <-read
}

// EachOrder is reader.EachOrder in a read transaction of its own, for the
// same reason as EachCustomer.
func (s *Store) EachOrder(ctx context.Context, opts ExportOptions, fn func(crmhub.Order) error) error {
	return s.InReadTx(ctx, func(tx *ReadTx) error { return tx.EachOrder(ctx, opts, fn) })
}
