package store

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Erasure names what Erase deletes.
type Erasure struct {
	// Customers are profile ids. Profiles merged into them (tombstones,
	// directly or through others) go with them.
	Customers []string
	// Records are customer records by source and external id: their
	// stored form, profile membership, unmerge constraints and forced
	// merges. The records of Customers are found by Erase itself.
	Records []RecordKey
	// Orders are orders by source and external id, besides the orders of
	// Customers, which Erase finds itself.
	Orders []RecordKey
	// RawRecords and DeadLetters are rows of those tables by id.
	RawRecords, DeadLetters []int64
	// MergesOf are profiles that stay but whose merges go: the evidence
	// of a merge holds the values that were compared.
	MergesOf []string
}

// EraseResult says what Erase deleted.
type EraseResult struct {
	// Customers lists the profiles deleted, merged ones included.
	Customers []string
	Rows      Erased
}

// Erased counts the rows an erasure deleted, by table.
type Erased map[string]int64

func (e Erased) add(table string, n int64) {
	if n > 0 {
		e[table] += n
	}
}

// Erase deletes everything e names, and the rows that only exist because
// of it: email and phone index rows, identities, line items, events of the
// profiles, what destinations pushed of them, merges they took part in,
// match keys. Run it in a unit of work with SecureDelete, and Scrub after
// it commits. On SQLite the caller bumps the identity generation in the
// same unit of work, so that in-memory match indexes forget the records.
func (t *Tx) Erase(ctx context.Context, e Erasure) (EraseResult, error) {
	out := Erased{}
	ids, err := t.withTombstones(ctx, e.Customers)
	if err != nil {
		return EraseResult{}, err
	}
	records, err := t.recordsOf(ctx, ids, e.Records)
	if err != nil {
		return EraseResult{}, err
	}
	steps := []func() error{
		func() error { return t.eraseOrders(ctx, out, ids, e.Orders) },
		func() error { return t.eraseByIDs(ctx, out, "events", "customer_id", ids) },
		func() error { return t.eraseByIDs(ctx, out, "push_state", "customer_id", ids) },
		func() error { return t.eraseMerges(ctx, out, append(slices.Clone(ids), anySlice(e.MergesOf)...)) },
		func() error { return t.eraseRecords(ctx, out, records) },
		func() error { return t.eraseByIDs(ctx, out, "identities", "customer_id", ids) },
		func() error { return t.eraseByIDs(ctx, out, "customer_emails", "customer_id", ids) },
		func() error { return t.eraseByIDs(ctx, out, "customer_phones", "customer_id", ids) },
		func() error { return t.eraseByIDs(ctx, out, "customers", "id", ids) },
		func() error { return t.eraseByIDs(ctx, out, "raw_records", "id", anySlice(e.RawRecords)) },
		func() error { return t.eraseByIDs(ctx, out, "dead_letters", "id", anySlice(e.DeadLetters)) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return EraseResult{}, err
		}
	}
	res := EraseResult{Rows: out, Customers: make([]string, len(ids))}
	for i, id := range ids {
		res.Customers[i] = id.(string)
	}
	return res, nil
}

// withTombstones returns ids and every profile merged into one of them,
// directly or through another: the merged_into references must not
// outlive their target.
func (t *Tx) withTombstones(ctx context.Context, ids []string) ([]any, error) {
	seen := map[string]bool{}
	next := slices.Clone(ids)
	for len(next) > 0 {
		var fresh []string
		for _, id := range next {
			if !seen[id] {
				seen[id] = true
				fresh = append(fresh, id)
			}
		}
		next = nil
		if err := t.selectIn(ctx, &next, "SELECT id FROM customers WHERE merged_into IN ", anySlice(fresh)); err != nil {
			return nil, fmt.Errorf("find merged profiles: %w", err)
		}
	}
	return anySlice(slices.Sorted(maps.Keys(seen))), nil
}

// recordsOf returns keys and the records of the profiles.
func (t *Tx) recordsOf(ctx context.Context, ids []any, keys []RecordKey) ([]RecordKey, error) {
	var found []RecordKey
	if err := t.selectIn(ctx, &found, "SELECT source, external_id FROM identities WHERE customer_id IN ", ids); err != nil {
		return nil, fmt.Errorf("find records of profiles: %w", err)
	}
	set := map[RecordKey]bool{}
	for _, k := range append(found, keys...) {
		set[k] = true
	}
	return slices.SortedFunc(maps.Keys(set), func(a, b RecordKey) int {
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.ExternalID, b.ExternalID))
	}), nil
}

func (t *Tx) eraseOrders(ctx context.Context, out Erased, customers []any, keys []RecordKey) error {
	var ids []string
	if err := t.selectIn(ctx, &ids, "SELECT id FROM orders WHERE customer_id IN ", customers); err != nil {
		return fmt.Errorf("find orders of profiles: %w", err)
	}
	for _, k := range keys {
		var id []string
		if err := sqlxSelect(ctx, t.reader, &id, "SELECT id FROM orders WHERE source = ? AND external_id = ?",
			k.Source, k.ExternalID); err != nil {
			return fmt.Errorf("find order %s: %w", k, err)
		}
		ids = append(ids, id...)
	}
	if err := t.eraseByIDs(ctx, out, "line_items", "order_id", anySlice(ids)); err != nil {
		return err
	}
	return t.eraseByIDs(ctx, out, "orders", "id", anySlice(ids))
}

// eraseMerges deletes the merges a profile took part in: their evidence
// holds the values that were compared.
func (t *Tx) eraseMerges(ctx context.Context, out Erased, customers []any) error {
	var ids []string
	if err := t.selectIn(ctx, &ids, "SELECT id FROM merges WHERE survivor_id IN ", customers); err != nil {
		return fmt.Errorf("find merges of profiles: %w", err)
	}
	var more []string
	if err := t.selectIn(ctx, &more, "SELECT merge_id FROM merge_members WHERE customer_id IN ", customers); err != nil {
		return fmt.Errorf("find merges of profiles: %w", err)
	}
	ids = append(ids, more...)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if err := t.eraseByIDs(ctx, out, "merge_members", "merge_id", anySlice(ids)); err != nil {
		return err
	}
	return t.eraseByIDs(ctx, out, "merges", "id", anySlice(ids))
}

// eraseRecords deletes stored customer records with their match keys,
// profile membership, unmerge constraints and forced merges.
func (t *Tx) eraseRecords(ctx context.Context, out Erased, keys []RecordKey) error {
	var rids []int64
	var splits []string
	for _, k := range keys {
		var rid []int64
		if err := sqlxSelect(ctx, t.reader, &rid, "SELECT rid FROM identity_records WHERE source = ? AND external_id = ?",
			k.Source, k.ExternalID); err != nil {
			return fmt.Errorf("find record %s: %w", k, err)
		}
		rids = append(rids, rid...)
		var ss []string
		if err := sqlxSelect(ctx, t.reader, &ss, "SELECT split_id FROM identity_splits WHERE source = ? AND external_id = ?",
			k.Source, k.ExternalID); err != nil {
			return fmt.Errorf("find splits of record %s: %w", k, err)
		}
		splits = append(splits, ss...)
	}
	if t.d.name == DriverPostgres {
		// SQLite keeps match keys in memory: the caller's generation bump
		// makes every process load them again without these records.
		if err := t.eraseByIDs(ctx, out, "identity_keys", "rid", anySlice(rids)); err != nil {
			return err
		}
	}
	slices.Sort(splits)
	if err := t.eraseByIDs(ctx, out, "identity_splits", "split_id", anySlice(slices.Compact(splits))); err != nil {
		return err
	}
	for _, k := range keys {
		for _, q := range []struct{ table, where string }{
			{"identity_links", "(a_source = ? AND a_external_id = ?) OR (b_source = ? AND b_external_id = ?)"},
			{"identity_records", "source = ? AND external_id = ?"},
			{"identities", "source = ? AND external_id = ?"},
		} {
			args := []any{k.Source, k.ExternalID}
			if q.table == "identity_links" {
				args = append(args, k.Source, k.ExternalID)
			}
			res, err := t.exec(ctx, t.d.rebind("DELETE FROM "+q.table+" WHERE "+q.where), args...)
			if err != nil {
				return fmt.Errorf("erase %s of record %s: %w", q.table, k, err)
			}
			n, _ := res.RowsAffected()
			out.add(q.table, n)
		}
	}
	return nil
}

// eraseByIDs deletes the rows of table whose column is one of ids.
func (t *Tx) eraseByIDs(ctx context.Context, out Erased, table, column string, ids []any) error {
	n, err := t.deleteIn(ctx, "DELETE FROM "+table+" WHERE "+column+" IN ", ids)
	if err != nil {
		return fmt.Errorf("erase from %s: %w", table, err)
	}
	out.add(table, n)
	return nil
}

// selectIn runs head + "(?,?,...)" for each chunk of args and appends the
// rows to dest, a pointer to a slice.
func (r reader) selectIn(ctx context.Context, dest any, head string, args []any) error {
	per := r.d.chunkRows(1)
	for start := 0; start < len(args); start += per {
		chunk := args[start:min(start+per, len(args))]
		if err := appendSelect(ctx, r, dest, head+"("+placeholders(len(chunk))+")", chunk); err != nil {
			return err
		}
	}
	return nil
}

// appendSelect scans rows into a fresh slice and appends them to dest.
func appendSelect(ctx context.Context, r reader, dest any, query string, args []any) error {
	switch d := dest.(type) {
	case *[]string:
		var rows []string
		if err := sqlxSelect(ctx, r, &rows, query, args...); err != nil {
			return err
		}
		*d = append(*d, rows...)
	case *[]RecordKey:
		var rows []RecordKey
		if err := sqlxSelect(ctx, r, &rows, query, args...); err != nil {
			return err
		}
		*d = append(*d, rows...)
	default:
		return fmt.Errorf("selectIn: unsupported destination %T", dest)
	}
	return nil
}

// SourceErasure says what erasing a source's data found and did.
type SourceErasure struct {
	Erased Erased
	// Profiles lists the profiles that held records of the source. Those
	// without records of other sources are now empty: the caller erases
	// them or derives them again from their other records.
	Profiles []string
}

// EraseSource deletes everything of one source: its raw records, dead
// letters, orders, events, customer records (with match keys, unmerge
// constraints and forced merges), checkpoints, delivery keys and what
// destinations pushed to its records. Profiles are left to the caller (see
// SourceErasure.Profiles).
func (t *Tx) EraseSource(ctx context.Context, source string) (SourceErasure, error) {
	out := SourceErasure{Erased: Erased{}}
	if err := sqlxSelect(ctx, t.reader, &out.Profiles,
		"SELECT DISTINCT customer_id FROM identities WHERE source = ? ORDER BY customer_id", source); err != nil {
		return out, fmt.Errorf("find profiles of source %s: %w", source, err)
	}
	var keys []RecordKey
	if err := sqlxSelect(ctx, t.reader, &keys,
		`SELECT source, external_id FROM identity_records WHERE source = ?
		UNION SELECT source, external_id FROM identities WHERE source = ?`, source, source); err != nil {
		return out, fmt.Errorf("find records of source %s: %w", source, err)
	}
	var orders []string
	if err := sqlxSelect(ctx, t.reader, &orders, "SELECT id FROM orders WHERE source = ?", source); err != nil {
		return out, fmt.Errorf("find orders of source %s: %w", source, err)
	}
	if err := t.eraseByIDs(ctx, out.Erased, "line_items", "order_id", anySlice(orders)); err != nil {
		return out, err
	}
	if err := t.eraseRecords(ctx, out.Erased, keys); err != nil {
		return out, err
	}
	for _, table := range []string{"orders", "events", "raw_records", "dead_letters", "checkpoints", "deliveries", "push_state"} {
		res, err := t.exec(ctx, t.d.rebind("DELETE FROM "+table+" WHERE source = ?"), source)
		if err != nil {
			return out, fmt.Errorf("erase %s of source %s: %w", table, source, err)
		}
		n, _ := res.RowsAffected()
		out.Erased.add(table, n)
	}
	return out, nil
}

// Scrub removes what deleted rows leave in the store's files, after a unit
// of work with SecureDelete committed. On SQLite it checkpoints the
// write-ahead log and truncates it, since the log still holds the pages
// as they were before; readers in the middle of a read are waited for, a
// few times, and ok is false if the log could not be truncated now (it is
// overwritten as the store goes on). On PostgreSQL it vacuums the tables,
// so that the deleted rows' space is cleared for reuse; their bytes stay
// in free space and in the write-ahead log until reused or recycled.
func (s *Store) Scrub(ctx context.Context, tables []string) (ok bool, err error) {
	if s.driver == DriverPostgres {
		for _, table := range tables {
			if _, err := s.w.ExecContext(ctx, "VACUUM "+table); err != nil {
				return false, fmt.Errorf("vacuum %s: %w", table, err)
			}
		}
		return true, nil
	}
	// On the checkpointer's connection, so that the writer's connection
	// stays free for units of work that need not wait for this.
	db := s.w.DB
	if s.ckpt != nil {
		db = s.ckpt.db
	}
	for attempt := range 3 {
		var busy, frames, copied int
		if err := db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &frames, &copied); err != nil {
			return false, fmt.Errorf("truncate sqlite write-ahead log: %w", err)
		}
		if busy == 0 {
			return true, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 50 * time.Millisecond):
		}
	}
	return false, nil
}

// DeleteRawOf deletes the landed raw records of one record of a source,
// of any of the given entities, and returns how many it deleted: a record
// dropped because its person was erased must not stay in the landing
// table.
func (t *Tx) DeleteRawOf(ctx context.Context, source, externalID string, entities []string) (int64, error) {
	args := append([]any{source, externalID}, anySlice(entities)...)
	res, err := t.exec(ctx, t.d.rebind(`DELETE FROM raw_records WHERE source = ? AND external_id = ?
		AND entity IN (`+placeholders(len(entities))+`)`), args...)
	if err != nil {
		return 0, fmt.Errorf("delete raw records of %s/%s: %w", source, externalID, err)
	}
	return res.RowsAffected()
}
