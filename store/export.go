package store

import (
	"context"
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
	return r.eachCustomerPage(ctx, opts, func(p *customerPage) error {
		for i := range p.rows {
			c, err := p.customer(&p.rows[i])
			if err != nil {
				return err
			}
			if opts.Segment != "" && !slices.Contains(c.Segments, opts.Segment) {
				continue
			}
			if err := fn(c); err != nil {
				return err
			}
		}
		return nil
	})
}

// eachLine calls fn with the NDJSON line of every profile of p that opts'
// segment keeps, written in buf, which it returns for reuse.
func (p *customerPage) eachLine(opts ExportOptions, buf []byte, fn func(line []byte) error) ([]byte, error) {
	for i := range p.rows {
		row := &p.rows[i]
		if opts.Segment != "" && !docHasSegment(p.bytes(row.doc), opts.Segment) {
			continue
		}
		var err error
		if buf, err = p.appendLine(buf[:0], row); err != nil {
			return buf, err
		}
		if err := fn(buf); err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// eachCustomerPage calls fn with every page of the live profiles that
// opts' time filter keeps, in id order. The page is read again after fn
// returns: fn must not keep it.
func (r reader) eachCustomerPage(ctx context.Context, opts ExportOptions, fn func(p *customerPage) error) error {
	var p customerPage
	for after := ""; ; {
		if err := r.readCustomerPage(ctx, opts, after, exportPageSize, &p); err != nil {
			return err
		}
		if len(p.rows) == 0 {
			return nil
		}
		if err := fn(&p); err != nil {
			return err
		}
		if len(p.rows) < exportPageSize {
			return nil
		}
		after = p.rows[len(p.rows)-1].id
	}
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

// EachCustomerJSON is EachCustomer with each profile as json.Marshal
// writes a crmhub.Customer, and a newline: the lines of an NDJSON export.
// It writes a line from the profile's stored document, without decoding
// it and encoding it again, which is most of what such an export costs
// otherwise; a document in another shape (PostgreSQL's jsonb keeps its own
// order) is decoded and encoded. fn must not keep line after it returns.
//
// The profiles are read in a read transaction of its own, for the same
// reason as EachCustomer, on a goroutine of its own, a page ahead of fn,
// which runs on the caller's with the writing of the lines: reading the
// store and writing the export then take the time of the slower of the
// two, not their sum.
func (s *Store) EachCustomerJSON(ctx context.Context, opts ExportOptions, fn func(line []byte) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Two pages in flight at most, reused: memory stays constant.
	full, free := make(chan *customerPage, 1), make(chan *customerPage, 2)
	free <- &customerPage{}
	free <- &customerPage{}
	read := make(chan error, 1)
	go func() {
		defer close(full)
		read <- s.InReadTx(ctx, func(tx *ReadTx) error {
			for after := ""; ; {
				var p *customerPage
				select {
				case p = <-free:
				case <-ctx.Done():
					return ctx.Err()
				}
				if err := tx.readCustomerPage(ctx, opts, after, exportPageSize, p); err != nil {
					return err
				}
				n := len(p.rows)
				if n == 0 {
					return nil
				}
				after = p.rows[n-1].id
				select {
				case full <- p:
				case <-ctx.Done():
					return ctx.Err()
				}
				if n < exportPageSize {
					return nil
				}
			}
		})
	}()
	var line []byte
	for p := range full {
		var err error
		if line, err = p.eachLine(opts, line, fn); err != nil {
			// Stop the reader and wait for it to end its transaction.
			cancel()
			for range full {
			}
			<-read
			return err
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
