package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/crmhub/crmhub"
)

// UpsertCustomers writes whole profiles: it creates the ones that are new and
// replaces the ones that exist, with their email, phone and identity index
// rows. Each customer's Identities are its complete set: identities it no
// longer lists are removed, and an identity that belonged to another profile
// moves to this one. Zero CreatedAt/UpdatedAt are set to now.
func (t *Tx) UpsertCustomers(ctx context.Context, cs []crmhub.Customer) error {
	if len(cs) == 0 {
		return nil
	}
	now := time.Now().UTC()
	const cols = 10
	args := make([]any, 0, len(cs)*cols)
	ids := make([]string, 0, len(cs))
	var emails, phones, idents []any
	docs := make([][]byte, len(cs))
	errs := make([]error, len(cs))
	// Encoding the documents is most of the CPU this costs outside SQLite,
	// and the unit of work waits for it: it runs on all cores.
	eachParallel(len(cs), func(i int) {
		c := &cs[i]
		if c.CreatedAt.IsZero() {
			c.CreatedAt = now
		}
		if c.UpdatedAt.IsZero() {
			c.UpdatedAt = now
		}
		if errs[i] = c.Validate(); errs[i] == nil {
			docs[i], errs[i] = customerDoc(c)
		}
	})
	for i := range cs {
		c := &cs[i]
		if errs[i] != nil {
			return errs[i]
		}
		args = append(args, c.ID, c.Email, c.Phone, c.FirstName, c.LastName, c.Birthday.String(),
			nullString(c.MergedInto), docs[i], utc(c.CreatedAt), utc(c.UpdatedAt))
		ids = append(ids, c.ID)
		for _, e := range c.Emails {
			emails = append(emails, c.ID, e)
		}
		for _, p := range c.Phones {
			phones = append(phones, c.ID, p)
		}
		for _, id := range c.Identities {
			idents = append(idents, id.Source, id.ExternalID, id.Type, c.ID)
		}
	}
	existing, err := t.indexRows(ctx, ids)
	if err != nil {
		return err
	}
	err = t.execRows(ctx, `INSERT INTO customers (id, primary_email, primary_phone, first_name, last_name,
		birthday, merged_into, doc, created_at, updated_at) VALUES `, cols,
		` ON CONFLICT (id) DO UPDATE SET primary_email = excluded.primary_email,
		primary_phone = excluded.primary_phone, first_name = excluded.first_name,
		last_name = excluded.last_name, birthday = excluded.birthday, merged_into = excluded.merged_into,
		doc = excluded.doc, updated_at = excluded.updated_at`, args)
	if err != nil {
		return fmt.Errorf("upsert customers: %w", err)
	}
	// The index rows follow the profile exactly. Only what changed is
	// written: most updates (a new order, a new segment) change none of them.
	want := wantIndexRows(cs)
	for _, ix := range customerIndexes {
		del, add := diffRows(existing[ix.table], want[ix.table])
		for _, key := range del {
			if _, err := t.exec(ctx, t.d.rebind(ix.delete), key.values(ix.cols)...); err != nil {
				return fmt.Errorf("update %s: %w", ix.table, err)
			}
		}
		head, tail := ix.insert, ix.conflict
		if ix.ignore {
			head, tail = t.d.insertIgnoring(head)
		}
		if err := t.execRows(ctx, head, ix.cols, tail, flatten(add, ix.cols)); err != nil {
			return fmt.Errorf("update %s: %w", ix.table, err)
		}
	}
	return nil
}

// customerIndex describes one table derived from profiles. Rows are
// compared as their column values in insert order; the customer id is
// always the last column.
type customerIndex struct {
	table, selectCols, insert, conflict, delete string
	cols                                        int
	// ignore inserts skipping rows that exist (insertIgnoring) instead of
	// with conflict.
	ignore bool
}

var customerIndexes = []customerIndex{
	{table: "customer_emails", selectCols: "email, customer_id", cols: 2,
		insert: "INSERT INTO customer_emails (email, customer_id) VALUES ", ignore: true,
		delete: "DELETE FROM customer_emails WHERE email = ? AND customer_id = ?"},
	{table: "customer_phones", selectCols: "phone, customer_id", cols: 2,
		insert: "INSERT INTO customer_phones (phone, customer_id) VALUES ", ignore: true,
		delete: "DELETE FROM customer_phones WHERE phone = ? AND customer_id = ?"},
	// An identity that another profile held moves to this one.
	{table: "identities", selectCols: "source, external_id, source_type, customer_id", cols: 4,
		insert: "INSERT INTO identities (source, external_id, source_type, customer_id) VALUES ",
		conflict: ` ON CONFLICT (source, external_id) DO UPDATE SET customer_id = excluded.customer_id,
		source_type = excluded.source_type`,
		delete: "DELETE FROM identities WHERE source = ? AND external_id = ? AND source_type = ? AND customer_id = ?"},
}

type indexRow [4]string

// indexRows reads the index rows the given profiles have now. New profiles
// have none, so the per-table reads are skipped for a batch without
// existing profiles.
func (t *Tx) indexRows(ctx context.Context, ids []string) (map[string][]indexRow, error) {
	out := make(map[string][]indexRow, len(customerIndexes))
	per := t.d.chunkRows(1)
	for start := 0; start < len(ids); start += per {
		chunk := anySlice(ids[start:min(start+per, len(ids))])
		in := "(" + placeholders(len(chunk)) + ")"
		var found []string
		if err := sqlxSelect(ctx, t.reader, &found, "SELECT id FROM customers WHERE id IN "+in, chunk...); err != nil {
			return nil, fmt.Errorf("read customers: %w", err)
		}
		if len(found) == 0 {
			continue
		}
		chunk = anySlice(found)
		in = "(" + placeholders(len(chunk)) + ")"
		for _, ix := range customerIndexes {
			rows, err := t.query(ctx, t.d.rebind("SELECT "+ix.selectCols+" FROM "+ix.table+
				" WHERE customer_id IN "+in), chunk...)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", ix.table, err)
			}
			for rows.Next() {
				var r indexRow
				dest := make([]any, ix.cols)
				for i := range dest {
					dest[i] = &r[i]
				}
				if err := rows.Scan(dest...); err != nil {
					rows.Close()
					return nil, fmt.Errorf("read %s: %w", ix.table, err)
				}
				out[ix.table] = append(out[ix.table], r)
			}
			if err := rows.Close(); err != nil {
				return nil, fmt.Errorf("read %s: %w", ix.table, err)
			}
		}
	}
	return out, nil
}

// wantIndexRows lists the index rows the profiles call for.
func wantIndexRows(cs []crmhub.Customer) map[string][]indexRow {
	out := make(map[string][]indexRow, len(customerIndexes))
	for i := range cs {
		c := &cs[i]
		for _, e := range c.Emails {
			out["customer_emails"] = append(out["customer_emails"], indexRow{e, c.ID})
		}
		for _, p := range c.Phones {
			out["customer_phones"] = append(out["customer_phones"], indexRow{p, c.ID})
		}
		for _, id := range c.Identities {
			out["identities"] = append(out["identities"], indexRow{id.Source, id.ExternalID, id.Type, c.ID})
		}
	}
	return out
}

// diffRows returns the rows of have that want lacks and the rows of want
// that have lacks.
func diffRows(have, want []indexRow) (del, add []indexRow) {
	in := make(map[indexRow]bool, len(have))
	for _, r := range have {
		in[r] = true
	}
	keep := make(map[indexRow]bool, len(want))
	for _, r := range want {
		if keep[r] {
			continue
		}
		keep[r] = true
		if !in[r] {
			add = append(add, r)
		}
	}
	for _, r := range have {
		if !keep[r] {
			del = append(del, r)
		}
	}
	return del, add
}

func (r indexRow) values(cols int) []any {
	out := make([]any, cols)
	for i := range out {
		out[i] = r[i]
	}
	return out
}

func flatten(rows []indexRow, cols int) []any {
	out := make([]any, 0, len(rows)*cols)
	for _, r := range rows {
		out = append(out, r.values(cols)...)
	}
	return out
}

// customerDoc is the JSON kept in customers.doc: the profile without what
// has columns or tables of its own.
func customerDoc(c *crmhub.Customer) ([]byte, error) {
	d := *c
	d.ID, d.MergedInto, d.Identities = "", "", nil
	d.CreatedAt, d.UpdatedAt = time.Time{}, time.Time{}
	b, err := json.Marshal(&d)
	if err != nil {
		return nil, fmt.Errorf("encode customer %s: %w", c.ID, err)
	}
	return b, nil
}

type customerRow struct {
	ID         string         `db:"id"`
	MergedInto sql.NullString `db:"merged_into"`
	Doc        []byte         `db:"doc"`
	CreatedAt  time.Time      `db:"created_at"`
	UpdatedAt  time.Time      `db:"updated_at"`
}

const customerColumns = "id, merged_into, doc, created_at, updated_at"

func (row *customerRow) customer() (crmhub.Customer, error) {
	var c crmhub.Customer
	if err := json.Unmarshal(row.Doc, &c); err != nil {
		return c, fmt.Errorf("decode customer %s: %w", row.ID, err)
	}
	c.ID, c.MergedInto = row.ID, row.MergedInto.String
	c.CreatedAt, c.UpdatedAt = row.CreatedAt.UTC(), row.UpdatedAt.UTC()
	return c, nil
}

// Customer returns the profile with id, with its identities. It returns an
// error wrapping crmhub.ErrNotFound when there is none.
func (r reader) Customer(ctx context.Context, id string) (crmhub.Customer, error) {
	cs, err := r.Customers(ctx, []string{id})
	if err != nil {
		return crmhub.Customer{}, err
	}
	if len(cs) == 0 {
		return crmhub.Customer{}, fmt.Errorf("customer %s: %w", id, crmhub.ErrNotFound)
	}
	return cs[0], nil
}

// Customers returns the profiles with the given ids, with their identities,
// in the order of ids; ids that do not exist are left out.
func (r reader) Customers(ctx context.Context, ids []string) ([]crmhub.Customer, error) {
	out := make([]crmhub.Customer, 0, len(ids))
	per := r.d.chunkRows(1)
	for start := 0; start < len(ids); start += per {
		chunk := anySlice(ids[start:min(start+per, len(ids))])
		var rows []customerRow
		if err := sqlxSelect(ctx, r, &rows, "SELECT "+customerColumns+" FROM customers WHERE id IN ("+
			placeholders(len(chunk))+")", chunk...); err != nil {
			return nil, fmt.Errorf("read customers: %w", err)
		}
		for i := range rows {
			c, err := rows[i].customer()
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	if err := r.attachIdentities(ctx, out); err != nil {
		return nil, err
	}
	pos := make(map[string]int, len(ids))
	for i := len(ids) - 1; i >= 0; i-- {
		pos[ids[i]] = i
	}
	sortBy(out, func(c crmhub.Customer) int { return pos[c.ID] })
	return out, nil
}

type identityRow struct {
	CustomerID string `db:"customer_id"`
	Source     string `db:"source"`
	Type       string `db:"source_type"`
	ExternalID string `db:"external_id"`
}

// attachIdentities fills in the identities of cs from the identities table,
// which is where they are kept.
func (r reader) attachIdentities(ctx context.Context, cs []crmhub.Customer) error {
	byID := make(map[string]*crmhub.Customer, len(cs))
	ids := make([]any, 0, len(cs))
	for i := range cs {
		cs[i].Identities = nil
		byID[cs[i].ID] = &cs[i]
		ids = append(ids, cs[i].ID)
	}
	per := r.d.chunkRows(1)
	for start := 0; start < len(ids); start += per {
		chunk := ids[start:min(start+per, len(ids))]
		var rows []identityRow
		if err := sqlxSelect(ctx, r, &rows, `SELECT customer_id, source, source_type, external_id
			FROM identities WHERE customer_id IN (`+placeholders(len(chunk))+`)
			ORDER BY customer_id, source, external_id`, chunk...); err != nil {
			return fmt.Errorf("read identities: %w", err)
		}
		for _, row := range rows {
			c := byID[row.CustomerID]
			c.Identities = append(c.Identities, crmhub.Identity{Source: row.Source, Type: row.Type, ExternalID: row.ExternalID})
		}
	}
	return nil
}

// CustomerIDsByEmail returns the ids of the profiles that list the
// normalized email, oldest first.
func (r reader) CustomerIDsByEmail(ctx context.Context, email string) ([]string, error) {
	return r.idsBy(ctx, "SELECT customer_id FROM customer_emails WHERE email = ? ORDER BY customer_id", email)
}

// CustomerIDsByPhone returns the ids of the profiles that list the E.164
// phone, oldest first.
func (r reader) CustomerIDsByPhone(ctx context.Context, phone string) ([]string, error) {
	return r.idsBy(ctx, "SELECT customer_id FROM customer_phones WHERE phone = ? ORDER BY customer_id", phone)
}

// CustomerIDByIdentity returns the profile a source record belongs to, or an
// error wrapping crmhub.ErrNotFound.
func (r reader) CustomerIDByIdentity(ctx context.Context, source, externalID string) (string, error) {
	var id string
	err := r.q.QueryRowxContext(ctx, r.d.rebind("SELECT customer_id FROM identities WHERE source = ? AND external_id = ?"),
		source, externalID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("identity %s/%s: %w", source, externalID, crmhub.ErrNotFound)
	}
	return id, wrap(err, "look up identity %s/%s", source, externalID)
}

func (r reader) idsBy(ctx context.Context, query string, arg any) ([]string, error) {
	var ids []string
	if err := sqlxSelect(ctx, r, &ids, query, arg); err != nil {
		return nil, fmt.Errorf("look up customers: %w", err)
	}
	return ids, nil
}
