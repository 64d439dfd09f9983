package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/crmhub/crmhub"
)

// customerPage is one page of live profiles as an export reads them: the
// stored columns as they are, in one buffer, and the identities of the
// page's profiles. Reading a page only copies bytes; turning it into
// profiles or NDJSON lines is left to whoever takes the page, which may
// be another goroutine. A page is reused from one read to the next.
type customerPage struct {
	rows   []pageRow
	buf    []byte            // the rows' documents and times
	idents []crmhub.Identity // by profile, in the order of rows
	at     map[string]int    // index in rows by profile id
}

// pageRow is one profile of a customerPage. Its document and times are
// ranges of the page's buffer; times are RFC 3339 text in UTC, as
// json.Marshal writes a time, or empty for the zero time.
type pageRow struct {
	id                 string
	doc                span
	created, updated   span
	identFrom, identTo int
}

// span is a range of a customerPage's buffer.
type span struct{ from, to int }

func (p *customerPage) bytes(s span) []byte { return p.buf[s.from:s.to] }

// reset empties the page for the next read, keeping its memory.
func (p *customerPage) reset() {
	p.rows, p.buf, p.idents = p.rows[:0], p.buf[:0], p.idents[:0]
	if p.at == nil {
		p.at = map[string]int{}
	}
	clear(p.at)
}

// docScanner scans a document into the page's buffer.
type docScanner struct {
	p *customerPage
	s *span
}

func (d docScanner) Scan(src any) error {
	d.s.from = len(d.p.buf)
	switch v := src.(type) {
	case string:
		d.p.buf = append(d.p.buf, v...)
	case []byte:
		d.p.buf = append(d.p.buf, v...)
	default:
		return fmt.Errorf("document: unexpected %T", src)
	}
	d.s.to = len(d.p.buf)
	return nil
}

// timeScanner scans a stored time into the page's buffer as an export
// writes it.
type timeScanner docScanner

func (d timeScanner) Scan(src any) error {
	d.s.from = len(d.p.buf)
	var err error
	switch v := src.(type) {
	case time.Time:
		if !v.IsZero() {
			d.p.buf = v.UTC().AppendFormat(d.p.buf, time.RFC3339Nano)
		}
	case string:
		d.p.buf, err = appendStoredTime(d.p.buf, v)
	case []byte:
		d.p.buf, err = appendStoredTime(d.p.buf, string(v))
	default:
		err = fmt.Errorf("time: unexpected %T", src)
	}
	d.s.to = len(d.p.buf)
	return err
}

// sqliteTimeLayout is how the SQLite driver writes a time
// (_time_format=sqlite).
const sqliteTimeLayout = "2006-01-02 15:04:05.999999999-07:00"

// appendStoredTime appends the time SQLite keeps as text s in RFC 3339 in
// UTC, as json.Marshal writes a UTC time, or nothing for the zero time.
// The text crmhub writes (UTC, in sqliteTimeLayout) only needs two bytes
// changed; parsing and formatting it, as the driver would, was a tenth of
// what an export cost.
func appendStoredTime(b []byte, s string) ([]byte, error) {
	if utcSQLiteTime(s) {
		if s[:19] == "0001-01-01 00:00:00" && len(s) == 25 {
			return b, nil
		}
		b = append(append(append(b, s[:10]...), 'T'), s[11:len(s)-6]...)
		return append(b, 'Z'), nil
	}
	t, err := time.Parse(sqliteTimeLayout, s)
	if err != nil {
		if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return b, fmt.Errorf("time %q: %w", s, err)
		}
	}
	if t.IsZero() {
		return b, nil
	}
	return t.UTC().AppendFormat(b, time.RFC3339Nano), nil
}

// utcSQLiteTime reports whether s is a valid time in sqliteTimeLayout at
// offset +00:00 whose fraction, if any, ends in a digit other than 0: text
// that becomes RFC 3339 by changing its space into T and its offset into Z.
func utcSQLiteTime(s string) bool {
	const (
		base   = "0000-00-00 00:00:00" // 0 stands for a digit
		offset = "+00:00"
	)
	n := len(s)
	if n < len(base)+len(offset) || s[n-len(offset):] != offset {
		return false
	}
	for i := range len(base) {
		if base[i] == '0' {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		} else if s[i] != base[i] {
			return false
		}
	}
	num := func(i, j int) int {
		v := 0
		for _, c := range s[i:j] {
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(0, 4), time.Month(num(5, 7)), num(8, 10)
	if month < time.January || month > time.December || day < 1 ||
		day > time.Date(year, month+1, 0, 0, 0, 0, 0, time.UTC).Day() ||
		num(11, 13) > 23 || num(14, 16) > 59 || num(17, 19) > 59 {
		return false
	}
	frac := s[len(base) : n-len(offset)]
	if frac == "" {
		return true
	}
	if len(frac) < 2 || len(frac) > 10 || frac[0] != '.' || frac[len(frac)-1] == '0' {
		return false
	}
	for i := 1; i < len(frac); i++ {
		if frac[i] < '0' || frac[i] > '9' {
			return false
		}
	}
	return true
}

// readCustomerPage reads into p the live profiles after the id after that
// opts' time filter keeps, at most size of them, in id order, with their
// identities.
func (r reader) readCustomerPage(ctx context.Context, opts ExportOptions, after string, size int, p *customerPage) error {
	p.reset()
	where := "WHERE id > ? AND merged_into IS NULL"
	args := []any{after}
	if !opts.UpdatedSince.IsZero() {
		where += " AND updated_at >= ?"
		args = append(args, utc(opts.UpdatedSince))
	}
	page := " FROM customers " + where + " ORDER BY id LIMIT ?"
	args = append(args, size)
	rows, err := r.q.QueryContext(ctx, r.d.rebind("SELECT id, doc, "+
		r.d.timeText("created_at")+", "+r.d.timeText("updated_at")+page), args...)
	if err != nil {
		return fmt.Errorf("read customers after %q: %w", after, err)
	}
	defer rows.Close()
	for rows.Next() {
		p.rows = append(p.rows, pageRow{})
		row := &p.rows[len(p.rows)-1]
		if err := rows.Scan(&row.id, docScanner{p, &row.doc},
			timeScanner{p, &row.created}, timeScanner{p, &row.updated}); err != nil {
			return fmt.Errorf("read customers after %q: %w", after, err)
		}
		p.at[row.id] = len(p.rows) - 1
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read customers after %q: %w", after, err)
	}
	if len(p.rows) == 0 {
		return nil
	}
	return r.readPageIdentities(ctx, opts, page, args, p)
}

// CustomerJSON returns the profile id as json.Marshal writes its
// crmhub.Customer (what Customer returns, identities included), without
// a newline, written from the stored document as an export writes it. For
// a profile merged into another one it returns no JSON and the id it was
// merged into. A profile that does not exist is crmhub.ErrNotFound.
func (r reader) CustomerJSON(ctx context.Context, id string) (doc []byte, mergedInto string, err error) {
	var p customerPage
	p.reset()
	rows, err := r.queryRead(ctx, r.d.rebind("SELECT id, merged_into, doc, "+r.d.timeText("created_at")+", "+
		r.d.timeText("updated_at")+" FROM customers WHERE id = ?"), id)
	if err != nil {
		return nil, "", fmt.Errorf("read customer %s: %w", id, err)
	}
	defer rows.Close()
	var merged sql.NullString
	for rows.Next() {
		p.rows = append(p.rows, pageRow{})
		row := &p.rows[0]
		if err := rows.Scan(&row.id, &merged, docScanner{&p, &row.doc},
			timeScanner{&p, &row.created}, timeScanner{&p, &row.updated}); err != nil {
			return nil, "", fmt.Errorf("read customer %s: %w", id, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("read customer %s: %w", id, err)
	}
	if err := rows.Close(); err != nil {
		return nil, "", fmt.Errorf("read customer %s: %w", id, err)
	}
	switch {
	case len(p.rows) == 0:
		return nil, "", fmt.Errorf("customer %s: %w", id, crmhub.ErrNotFound)
	case merged.Valid:
		return nil, merged.String, nil
	}
	p.at[id] = 0
	irows, err := r.queryRead(ctx, r.d.rebind(`SELECT customer_id, source, source_type, external_id FROM identities
		WHERE customer_id = ? ORDER BY source, external_id`), id)
	if err != nil {
		return nil, "", fmt.Errorf("read identities of customer %s: %w", id, err)
	}
	defer irows.Close()
	if err := p.takeIdentities(irows); err != nil {
		return nil, "", fmt.Errorf("read identities of customer %s: %w", id, err)
	}
	line, err := p.appendLine(nil, &p.rows[0])
	if err != nil {
		return nil, "", err
	}
	return line[:len(line)-1], "", nil
}

// readPageIdentities reads the identities of the profiles of p, which the
// query page with args read.
func (r reader) readPageIdentities(ctx context.Context, opts ExportOptions, page string, args []any, p *customerPage) error {
	// Without a time filter the page is every live profile of a range of
	// ids, so its identities are that range of the customer index (any of
	// a profile merged away are skipped below): no join, and on SQLite no
	// sort either (migration 00011). With the filter, a range could hold
	// far more than the page, so the page is joined.
	query := `SELECT customer_id, source, source_type, external_id FROM identities
		WHERE customer_id > ? AND customer_id <= ?
		ORDER BY customer_id, source, external_id`
	identArgs := []any{args[0], p.rows[len(p.rows)-1].id}
	if !opts.UpdatedSince.IsZero() {
		query = `SELECT i.customer_id, i.source, i.source_type, i.external_id
			FROM identities i JOIN (SELECT id` + page + `) p ON p.id = i.customer_id
			ORDER BY i.customer_id, i.source, i.external_id`
		identArgs = args
	}
	rows, err := r.q.QueryContext(ctx, r.d.rebind(query), identArgs...)
	if err != nil {
		return fmt.Errorf("read identities: %w", err)
	}
	defer rows.Close()
	if err := p.takeIdentities(rows); err != nil {
		return fmt.Errorf("read identities: %w", err)
	}
	return nil
}

// takeIdentities reads rows of (customer_id, source, source_type,
// external_id), in customer order, into p: the identities of a profile
// come together, and each run of them is given to its row.
func (p *customerPage) takeIdentities(rows *sql.Rows) error {
	var customerID string
	run := -1
	give := func() {
		if i, ok := p.at[customerID]; ok && run >= 0 {
			p.rows[i].identFrom, p.rows[i].identTo = run, len(p.idents)
		}
	}
	for rows.Next() {
		var id string
		var ident crmhub.Identity
		if err := rows.Scan(&id, &ident.Source, &ident.Type, &ident.ExternalID); err != nil {
			return err
		}
		if id != customerID {
			give()
			customerID, run = id, len(p.idents)
		}
		p.idents = append(p.idents, ident)
	}
	give()
	return rows.Err()
}

// identities returns the identities of row, which belongs to p.
func (p *customerPage) identities(row *pageRow) []crmhub.Identity {
	if row.identTo == row.identFrom {
		return nil
	}
	return p.idents[row.identFrom:row.identTo:row.identTo]
}

// customer decodes row, which belongs to p, into a profile.
func (p *customerPage) customer(row *pageRow) (crmhub.Customer, error) {
	var c crmhub.Customer
	if err := json.Unmarshal(p.bytes(row.doc), &c); err != nil {
		return c, fmt.Errorf("decode customer %s: %w", row.id, err)
	}
	c.ID, c.MergedInto = row.id, ""
	for _, t := range []struct {
		to   *time.Time
		text span
	}{{&c.CreatedAt, row.created}, {&c.UpdatedAt, row.updated}} {
		*t.to = time.Time{}
		if t.text.to == t.text.from {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, string(p.bytes(t.text)))
		if err != nil {
			return c, fmt.Errorf("decode customer %s: %w", row.id, err)
		}
		*t.to = at
	}
	// The profile outlives the page, whose identities the next read
	// overwrites.
	c.Identities = slices.Clone(p.identities(row))
	return c, nil
}

// docHead is how a stored document begins: customerDoc clears the id,
// which json.Marshal writes first all the same.
const docHead = `{"id":""`

// appendLine appends the profile of row, which belongs to p, as
// json.Marshal writes a crmhub.Customer, and a newline. A document
// customerDoc wrote is the profile's JSON without its id, identities,
// merged_into (empty on a live profile), created_at and updated_at, which
// crmhub.Customer declares last (but the id, which it writes empty): the
// line is the document with those put back. Any other document is decoded
// and encoded.
func (p *customerPage) appendLine(b []byte, row *pageRow) ([]byte, error) {
	doc := p.bytes(row.doc)
	if len(doc) < len(docHead)+1 || string(doc[:len(docHead)]) != docHead || doc[len(doc)-1] != '}' {
		c, err := p.customer(row)
		if err != nil {
			return b, err
		}
		j, err := json.Marshal(c)
		if err != nil {
			return b, fmt.Errorf("encode customer %s: %w", row.id, err)
		}
		return append(append(b, j...), '\n'), nil
	}
	b = appendJSONString(append(b, `{"id":`...), row.id)
	b = append(b, doc[len(docHead):len(doc)-1]...)
	for i, id := range p.identities(row) {
		if i == 0 {
			b = append(b, `,"identities":[`...)
		} else {
			b = append(b, ',')
		}
		b = appendJSONString(append(b, `{"source":`...), id.Source)
		b = appendJSONString(append(b, `,"type":`...), id.Type)
		b = appendJSONString(append(b, `,"external_id":`...), id.ExternalID)
		b = append(b, '}')
	}
	if row.identTo > row.identFrom {
		b = append(b, ']')
	}
	for _, t := range []struct {
		key  string
		text span
	}{{`,"created_at":"`, row.created}, {`,"updated_at":"`, row.updated}} {
		if t.text.to > t.text.from {
			b = append(append(append(b, t.key...), p.bytes(t.text)...), '"')
		}
	}
	return append(b, '}', '\n'), nil
}

// appendJSONString appends s as json.Marshal writes a string. Text that
// needs no escaping is copied as it is; any other goes through
// json.Marshal, whose escaping (of HTML characters, of invalid UTF-8, of
// U+2028 and U+2029) it must match byte for byte.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			j, _ := json.Marshal(s) // a string always encodes
			return append(b, j...)
		}
	}
	return append(append(append(b, '"'), s...), '"')
}
