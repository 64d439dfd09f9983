package store

import (
	"context"
	"fmt"
	"time"
)

// RecordKey names one source record.
type RecordKey struct {
	Source     string `db:"source"`
	ExternalID string `db:"external_id"`
}

// IdentityRecord is one customer record as identity resolution keeps it.
type IdentityRecord struct {
	// RID is the record's number in this store, which match keys refer to.
	RID int64 `db:"rid"`
	RecordKey
	Tenant  string `db:"tenant"`
	Version string `db:"version"`
	// Doc is the record as identity resolution encodes it; Feat its
	// precomputed match features.
	Doc  []byte `db:"doc"`
	Feat string `db:"feat"`
	// Constrained is set when the record is on a side of an unmerge.
	Constrained bool `db:"constrained"`
	// CustomerID is the profile the record belongs to ("" before it has
	// one); it is read from the identities table.
	CustomerID string `db:"customer_id"`
}

const identityRecordCols = `r.rid, r.source, r.external_id, r.tenant, r.version, r.doc, r.feat, r.constrained,
	COALESCE(i.customer_id, '') AS customer_id`

// candidateCols leave the document out: comparing needs the features only.
const candidateCols = `r.rid, r.source, r.external_id, r.tenant, r.feat, r.constrained,
	COALESCE(i.customer_id, '') AS customer_id`

// IdentityRecords returns the stored records with the given keys; missing
// ones are left out.
func (r reader) IdentityRecords(ctx context.Context, keys []RecordKey) ([]IdentityRecord, error) {
	var out []IdentityRecord
	per := r.d.chunkRows(2)
	for start := 0; start < len(keys); start += per {
		chunk := keys[start:min(start+per, len(keys))]
		args := make([]any, 0, 2*len(chunk))
		for _, k := range chunk {
			args = append(args, k.Source, k.ExternalID)
		}
		var rows []IdentityRecord
		if err := sqlxSelect(ctx, r, &rows, `SELECT `+identityRecordCols+` FROM identity_records r
			LEFT JOIN identities i ON i.source = r.source AND i.external_id = r.external_id
			WHERE (r.source, r.external_id) IN (`+valuesList(len(chunk), 2)+`)`, args...); err != nil {
			return nil, fmt.Errorf("read identity records: %w", err)
		}
		out = append(out, rows...)
	}
	return out, nil
}

// Candidates returns the records with the given numbers without their
// documents: what comparing them needs.
func (r reader) Candidates(ctx context.Context, rids []int64) ([]IdentityRecord, error) {
	if len(rids) == 0 {
		return nil, nil
	}
	list, arg := r.d.int64List(rids)
	var out []IdentityRecord
	if err := sqlxSelect(ctx, r, &out, `SELECT `+candidateCols+` FROM identity_records r
		LEFT JOIN identities i ON i.source = r.source AND i.external_id = r.external_id
		WHERE r.rid IN `+list, arg); err != nil {
		return nil, fmt.Errorf("read match candidates: %w", err)
	}
	return out, nil
}

// IdentityRecordsOfCustomers returns the stored records of the given
// profiles.
func (r reader) IdentityRecordsOfCustomers(ctx context.Context, ids []string) ([]IdentityRecord, error) {
	var out []IdentityRecord
	per := r.d.chunkRows(1)
	for start := 0; start < len(ids); start += per {
		chunk := ids[start:min(start+per, len(ids))]
		var rows []IdentityRecord
		if err := sqlxSelect(ctx, r, &rows, `SELECT `+identityRecordCols+` FROM identities i
			JOIN identity_records r ON r.source = i.source AND r.external_id = i.external_id
			WHERE i.customer_id IN (`+placeholders(len(chunk))+`)`, anySlice(chunk)...); err != nil {
			return nil, fmt.Errorf("read identity records of profiles: %w", err)
		}
		out = append(out, rows...)
	}
	return out, nil
}

// IdentityRIDs returns the number of every stored record.
func (r reader) IdentityRIDs(ctx context.Context) (map[RecordKey]int64, error) {
	type row struct {
		RID int64 `db:"rid"`
		RecordKey
	}
	var rows []row
	if err := sqlxSelect(ctx, r, &rows, "SELECT rid, source, external_id FROM identity_records"); err != nil {
		return nil, fmt.Errorf("read identity records: %w", err)
	}
	out := make(map[RecordKey]int64, len(rows))
	for _, r := range rows {
		out[r.RecordKey] = r.RID
	}
	return out, nil
}

// KeyMembers returns, for each match key, the numbers of the records that
// hold it: at most limit of them, so a caller can tell a key with more
// than limit-1 members without reading them all. The keys travel as one
// array parameter, so the statement's text never changes and it runs
// prepared.
func (r reader) KeyMembers(ctx context.Context, keys []int64, limit int) (map[int64][]int64, error) {
	if err := sqlKeysOnly(r.d); err != nil {
		return nil, err
	}
	out := make(map[int64][]int64, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	list, arg := r.d.int64List(keys)
	var rows []struct {
		Key int64 `db:"key"`
		RID int64 `db:"rid"`
	}
	if err := r.selectRows(ctx, &rows, r.d.rebind(`SELECT key, rid FROM (SELECT key, rid,
		ROW_NUMBER() OVER (PARTITION BY key ORDER BY rid) AS n FROM identity_keys WHERE key IN `+list+`) m
		WHERE n <= ?`), arg, limit); err != nil {
		return nil, fmt.Errorf("read members of match keys: %w", err)
	}
	for _, row := range rows {
		out[row.Key] = append(out[row.Key], row.RID)
	}
	return out, nil
}

// identityRecordUpsert replaces a stored record's content, keeping its
// number.
const identityRecordUpsert = ` ON CONFLICT (source, external_id) DO UPDATE SET
		tenant = excluded.tenant, version = excluded.version, doc = excluded.doc, feat = excluded.feat,
		constrained = excluded.constrained, updated_at = excluded.updated_at`

// PutIdentityRecord creates or replaces one record and returns its number.
func (t *Tx) PutIdentityRecord(ctx context.Context, rec IdentityRecord) (int64, error) {
	var rid int64
	err := sqlxGet(ctx, t.reader, &rid, `INSERT INTO identity_records (source, external_id, tenant, version, doc,
		feat, constrained, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`+identityRecordUpsert+` RETURNING rid`,
		rec.Source, rec.ExternalID, rec.Tenant, rec.Version, string(rec.Doc), rec.Feat, boolInt(rec.Constrained), time.Now().UTC())
	if err != nil {
		return 0, fmt.Errorf("write identity record %s: %w", rec.RecordKey, err)
	}
	return rid, nil
}

// PutIdentityRecords creates or replaces records in bulk; read their
// numbers with IdentityRIDs.
func (t *Tx) PutIdentityRecords(ctx context.Context, recs []IdentityRecord) error {
	now := time.Now().UTC()
	args := make([]any, 0, 8*len(recs))
	for _, rec := range recs {
		args = append(args, rec.Source, rec.ExternalID, rec.Tenant, rec.Version, string(rec.Doc), rec.Feat,
			boolInt(rec.Constrained), now)
	}
	return wrap(t.execRows(ctx, `INSERT INTO identity_records (source, external_id, tenant, version, doc,
		feat, constrained, updated_at) VALUES `, 8, identityRecordUpsert, args), "write identity records")
}

// SetIdentityKeys adds and removes match keys of one record.
func (t *Tx) SetIdentityKeys(ctx context.Context, rid int64, add, del []int64) error {
	if err := sqlKeysOnly(t.d); err != nil {
		return err
	}
	for _, key := range del {
		if _, err := t.exec(ctx, t.d.rebind(`DELETE FROM identity_keys WHERE key = ? AND rid = ?`), key, rid); err != nil {
			return fmt.Errorf("remove match key: %w", err)
		}
	}
	args := make([]any, 0, 2*len(add))
	for _, key := range add {
		args = append(args, key, rid)
	}
	return wrap(t.execRows(ctx, "INSERT INTO identity_keys (key, rid) VALUES ", 2,
		" ON CONFLICT DO NOTHING", args), "add match keys")
}

// Split is an unmerge constraint as stored.
type Split struct {
	ID    string
	Sides [][]RecordKey
}

// AddSplit stores an unmerge constraint and marks its records
// constrained.
func (t *Tx) AddSplit(ctx context.Context, s Split, actor string) error {
	now := time.Now().UTC()
	var args []any
	var keys []RecordKey
	for side, ks := range s.Sides {
		for _, k := range ks {
			args = append(args, s.ID, side, k.Source, k.ExternalID, actor, now)
			keys = append(keys, k)
		}
	}
	if err := t.execRows(ctx, `INSERT INTO identity_splits (split_id, side, source, external_id, actor, created_at)
		VALUES `, 6, " ON CONFLICT DO NOTHING", args); err != nil {
		return fmt.Errorf("store split %s: %w", s.ID, err)
	}
	return t.markConstrained(ctx, keys)
}

func (t *Tx) markConstrained(ctx context.Context, keys []RecordKey) error {
	per := t.d.chunkRows(2)
	for start := 0; start < len(keys); start += per {
		chunk := keys[start:min(start+per, len(keys))]
		args := make([]any, 0, 2*len(chunk))
		for _, k := range chunk {
			args = append(args, k.Source, k.ExternalID)
		}
		if _, err := t.exec(ctx, t.d.rebind(`UPDATE identity_records SET constrained = 1
			WHERE (source, external_id) IN (`+valuesList(len(chunk), 2)+`)`), args...); err != nil {
			return fmt.Errorf("mark constrained records: %w", err)
		}
	}
	return nil
}

type splitRow struct {
	ID   string `db:"split_id"`
	Side int    `db:"side"`
	RecordKey
}

// SplitsOf returns every split that names one of the records, whole.
func (r reader) SplitsOf(ctx context.Context, keys []RecordKey) ([]Split, error) {
	ids := map[string]bool{}
	per := r.d.chunkRows(2)
	for start := 0; start < len(keys); start += per {
		chunk := keys[start:min(start+per, len(keys))]
		args := make([]any, 0, 2*len(chunk))
		for _, k := range chunk {
			args = append(args, k.Source, k.ExternalID)
		}
		var found []string
		if err := sqlxSelect(ctx, r, &found, `SELECT DISTINCT split_id FROM identity_splits
			WHERE (source, external_id) IN (`+valuesList(len(chunk), 2)+`)`, args...); err != nil {
			return nil, fmt.Errorf("read splits: %w", err)
		}
		for _, id := range found {
			ids[id] = true
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	list := make([]string, 0, len(ids))
	for id := range ids {
		list = append(list, id)
	}
	return r.splits(ctx, "WHERE split_id IN ("+placeholders(len(list))+")", anySlice(list)...)
}

// Splits returns every split.
func (r reader) Splits(ctx context.Context) ([]Split, error) { return r.splits(ctx, "") }

func (r reader) splits(ctx context.Context, where string, args ...any) ([]Split, error) {
	var rows []splitRow
	if err := sqlxSelect(ctx, r, &rows, `SELECT split_id, side, source, external_id FROM identity_splits `+where+`
		ORDER BY split_id, side, source, external_id`, args...); err != nil {
		return nil, fmt.Errorf("read splits: %w", err)
	}
	var out []Split
	for _, row := range rows {
		if len(out) == 0 || out[len(out)-1].ID != row.ID {
			out = append(out, Split{ID: row.ID})
		}
		s := &out[len(out)-1]
		for len(s.Sides) <= row.Side {
			s.Sides = append(s.Sides, nil)
		}
		s.Sides[row.Side] = append(s.Sides[row.Side], row.RecordKey)
	}
	return out, nil
}

// DeleteSplits removes splits, as a forced merge of their sides does.
func (t *Tx) DeleteSplits(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	return wrap(t.execIn(ctx, "DELETE FROM identity_splits WHERE split_id IN ", ids, ""), "delete splits")
}

// Link is a forced merge as stored.
type Link struct {
	A, B RecordKey
}

// AddLink stores a forced merge of two records.
func (t *Tx) AddLink(ctx context.Context, l Link, actor string) error {
	_, err := t.exec(ctx, t.d.rebind(`INSERT INTO identity_links (a_source, a_external_id, b_source, b_external_id,
		actor, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
		l.A.Source, l.A.ExternalID, l.B.Source, l.B.ExternalID, actor, time.Now().UTC())
	return wrap(err, "store forced merge")
}

type linkRow struct {
	AS string `db:"a_source"`
	AE string `db:"a_external_id"`
	BS string `db:"b_source"`
	BE string `db:"b_external_id"`
}

// LinksOf returns the forced merges that name one of the records.
func (r reader) LinksOf(ctx context.Context, keys []RecordKey) ([]Link, error) {
	var out []Link
	for _, k := range keys {
		ls, err := r.links(ctx, `WHERE (a_source = ? AND a_external_id = ?) OR (b_source = ? AND b_external_id = ?)`,
			k.Source, k.ExternalID, k.Source, k.ExternalID)
		if err != nil {
			return nil, err
		}
		out = append(out, ls...)
	}
	return out, nil
}

// Links returns every forced merge.
func (r reader) Links(ctx context.Context) ([]Link, error) { return r.links(ctx, "") }

func (r reader) links(ctx context.Context, where string, args ...any) ([]Link, error) {
	var rows []linkRow
	if err := sqlxSelect(ctx, r, &rows, `SELECT a_source, a_external_id, b_source, b_external_id
		FROM identity_links `+where+` ORDER BY a_source, a_external_id, b_source, b_external_id`, args...); err != nil {
		return nil, fmt.Errorf("read forced merges: %w", err)
	}
	out := make([]Link, len(rows))
	for i, row := range rows {
		out[i] = Link{A: RecordKey{row.AS, row.AE}, B: RecordKey{row.BS, row.BE}}
	}
	return out, nil
}

// String formats the key as source:external_id.
func (k RecordKey) String() string { return k.Source + ":" + k.ExternalID }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// LockIdentity serializes identity resolution: two records of one person
// resolved at the same time must see each other. SQLite has a single
// writer already; on PostgreSQL this takes a transaction-scoped advisory
// lock.
func (t *Tx) LockIdentity(ctx context.Context) error {
	if t.d.name != DriverPostgres {
		return nil
	}
	_, err := t.exec(ctx, "SELECT pg_advisory_xact_lock(7406265348107345)")
	return wrap(err, "lock identity resolution")
}

// IdentityAssignments returns which profile each record belongs to.
func (r reader) IdentityAssignments(ctx context.Context) (map[RecordKey]string, error) {
	type row struct {
		RecordKey
		CustomerID string `db:"customer_id"`
	}
	var rows []row
	if err := sqlxSelect(ctx, r, &rows, "SELECT source, external_id, customer_id FROM identities"); err != nil {
		return nil, fmt.Errorf("read identities: %w", err)
	}
	out := make(map[RecordKey]string, len(rows))
	for _, r := range rows {
		out[r.RecordKey] = r.CustomerID
	}
	return out, nil
}

// sqlKeysOnly refuses the match key table on SQLite, which keeps match
// keys in memory (see pipeline/identity) and has no such table.
func sqlKeysOnly(d dialect) error {
	if d.name == DriverSQLite {
		return fmt.Errorf("match keys: SQLite keeps them in memory, not in the store")
	}
	return nil
}

// KeyRow is one match key of one record.
type KeyRow struct {
	Key, RID int64
}

// ReplaceIdentityKeys deletes every match key, for a rebuild that writes
// them all again with AddIdentityKeys.
func (t *Tx) ReplaceIdentityKeys(ctx context.Context) error {
	if err := sqlKeysOnly(t.d); err != nil {
		return err
	}
	_, err := t.exec(ctx, "DELETE FROM identity_keys")
	return wrap(err, "clear match keys")
}

// AddIdentityKeys inserts match keys in bulk. Sorted rows insert fastest.
func (t *Tx) AddIdentityKeys(ctx context.Context, rows []KeyRow) error {
	if err := sqlKeysOnly(t.d); err != nil {
		return err
	}
	args := make([]any, 0, 2*len(rows))
	for _, r := range rows {
		args = append(args, r.Key, r.RID)
	}
	return wrap(t.execRows(ctx, "INSERT INTO identity_keys (key, rid) VALUES ", 2,
		" ON CONFLICT DO NOTHING", args), "add match keys")
}

// DeleteIdentityRecords forgets records: their stored form and profile
// membership. Their match keys go with ReplaceIdentityKeys.
func (t *Tx) DeleteIdentityRecords(ctx context.Context, keys []RecordKey) error {
	for _, k := range keys {
		for _, q := range []string{
			"DELETE FROM identity_records WHERE source = ? AND external_id = ?",
			"DELETE FROM identities WHERE source = ? AND external_id = ?",
		} {
			if _, err := t.exec(ctx, t.d.rebind(q), k.Source, k.ExternalID); err != nil {
				return fmt.Errorf("forget record %s: %w", k, err)
			}
		}
	}
	return nil
}

// MaxIdentityRID returns the highest record number in use, 0 for none.
func (r reader) MaxIdentityRID(ctx context.Context) (int64, error) {
	var n int64
	if err := sqlxGet(ctx, r, &n, "SELECT COALESCE(MAX(rid), 0) FROM identity_records"); err != nil {
		return 0, fmt.Errorf("read identity records: %w", err)
	}
	return n, nil
}

// PutIdentityRecordsWithRID creates or replaces records whose numbers the
// caller chose: a SQLite unit of work holds the only writer, so it can
// number new records after MaxIdentityRID itself and write them in bulk.
// Not for PostgreSQL, whose identity sequence would not follow.
func (t *Tx) PutIdentityRecordsWithRID(ctx context.Context, recs []IdentityRecord) error {
	if t.d.name == DriverPostgres {
		return fmt.Errorf("write identity records with chosen numbers: not on PostgreSQL")
	}
	now := time.Now().UTC()
	args := make([]any, 0, 9*len(recs))
	for _, rec := range recs {
		args = append(args, rec.RID, rec.Source, rec.ExternalID, rec.Tenant, rec.Version, string(rec.Doc), rec.Feat,
			boolInt(rec.Constrained), now)
	}
	return wrap(t.execRows(ctx, `INSERT INTO identity_records (rid, source, external_id, tenant, version, doc,
		feat, constrained, updated_at) VALUES `, 9, identityRecordUpsert, args), "write identity records")
}

// DeleteIdentityKeys removes match keys. PostgreSQL only, like every
// method on match keys: SQLite keeps them in memory.
func (t *Tx) DeleteIdentityKeys(ctx context.Context, rows []KeyRow) error {
	if err := sqlKeysOnly(t.d); err != nil {
		return err
	}
	for _, r := range rows {
		if _, err := t.exec(ctx, t.d.rebind(`DELETE FROM identity_keys WHERE key = ? AND rid = ?`), r.Key, r.RID); err != nil {
			return fmt.Errorf("remove match key: %w", err)
		}
	}
	return nil
}

// Driver returns the database the unit of work runs on.
func (t *Tx) Driver() string { return t.d.name }

// IdentityState identifies the state of the match keys of a store.
type IdentityState struct {
	// Store is chosen at random when the store is created, so that state
	// kept for one store is never taken for another's.
	Store string `db:"store"`
	// Generation counts the changes recorded with BumpIdentityGeneration.
	Generation int64 `db:"generation"`
}

// IdentityState returns the current state of the match keys. A process
// that keeps match keys in memory compares it with the state its copy
// reflects to learn that another process changed them.
func (r reader) IdentityState(ctx context.Context) (IdentityState, error) {
	var st IdentityState
	if err := sqlxGet(ctx, r, &st, "SELECT store, generation FROM identity_state WHERE id = 1"); err != nil {
		return st, fmt.Errorf("read match key state: %w", err)
	}
	return st, nil
}

// BumpIdentityGeneration records a change to match keys and returns the
// new generation. Like every write, it commits or rolls back with the
// unit of work.
func (t *Tx) BumpIdentityGeneration(ctx context.Context) (int64, error) {
	var n int64
	if err := sqlxGet(ctx, t.reader, &n,
		"UPDATE identity_state SET generation = generation + 1 WHERE id = 1 RETURNING generation"); err != nil {
		return 0, fmt.Errorf("record match key change: %w", err)
	}
	return n, nil
}

// EachIdentityFeature calls fn with the number, key and match features of
// every stored record, in record number order, reading in pages so that
// memory stays flat however many records there are.
func (r reader) EachIdentityFeature(ctx context.Context, fn func(rid int64, key RecordKey, feat string) error) error {
	const page = 20_000
	after := int64(-1 << 63)
	for {
		rows, err := r.query(ctx, r.d.rebind(`SELECT rid, source, external_id, feat FROM identity_records WHERE rid > ?
			ORDER BY rid LIMIT ?`), after, page)
		if err != nil {
			return fmt.Errorf("read match features: %w", err)
		}
		n := 0
		for rows.Next() {
			var rid int64
			var key RecordKey
			var feat string
			if err := rows.Scan(&rid, &key.Source, &key.ExternalID, &feat); err != nil {
				rows.Close()
				return fmt.Errorf("read match features: %w", err)
			}
			n++
			after = rid
			if err := fn(rid, key, feat); err != nil {
				rows.Close()
				return err
			}
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("read match features: %w", err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read match features: %w", err)
		}
		if n < page {
			return nil
		}
	}
}
