package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/crmhub/crmhub"
)

// Kinds of suppression entries: what was hashed.
const (
	SuppressEmail  = "email"  // a normalized email
	SuppressPhone  = "phone"  // an E.164 phone number
	SuppressRecord = "record" // a record of a source: source, entity, external id
)

// Suppressor hashes identifiers into suppression entries under one store's
// key. The zero Suppressor is not usable; get one from Store.Suppressor.
// It is safe for concurrent use.
type Suppressor struct{ key []byte }

// Suppressor returns the hasher of this store's suppression entries. The
// key never changes once the store exists, so callers may keep it.
func (r reader) Suppressor(ctx context.Context) (Suppressor, error) {
	var key string
	if err := sqlxGet(ctx, r, &key, "SELECT key FROM privacy_state WHERE id = 1"); err != nil {
		return Suppressor{}, fmt.Errorf("read suppression key: %w", err)
	}
	b, err := hex.DecodeString(key)
	if err != nil || len(b) < 16 {
		return Suppressor{}, fmt.Errorf("read suppression key: stored key is not 16 or more bytes of hex")
	}
	return Suppressor{key: b}, nil
}

// Hash returns the entry of one identifier: hex HMAC-SHA256 of kind and
// value under the store's key. Values must be normalized the same way
// every time (emails lower-case, phones E.164).
func (s Suppressor) Hash(kind, value string) string {
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(kind))
	mac.Write([]byte{0})
	mac.Write([]byte(value))
	return hex.EncodeToString(mac.Sum(nil))
}

// Email returns the entry of a normalized email.
func (s Suppressor) Email(email string) string { return s.Hash(SuppressEmail, email) }

// Phone returns the entry of an E.164 phone number.
func (s Suppressor) Phone(phone string) string { return s.Hash(SuppressPhone, phone) }

// Record returns the entry of one record of a source. Entity keeps a
// source's customer 1001 apart from its order 1001.
func (s Suppressor) Record(source, entity, externalID string) string {
	return s.Hash(SuppressRecord, source+"\x00"+entity+"\x00"+externalID)
}

// Suppress adds suppression entries (hash → kind) on behalf of a privacy
// request. An entry that exists already is kept as it is.
func (t *Tx) Suppress(ctx context.Context, requestID string, entries map[string]string) error {
	now := time.Now().UTC()
	args := make([]any, 0, 4*len(entries))
	for h, kind := range entries {
		args = append(args, h, kind, requestID, now)
	}
	return wrap(t.execRows(ctx, "INSERT INTO suppressions (hash, kind, request_id, created_at) VALUES ", 4,
		" ON CONFLICT (hash) DO NOTHING", args), "add suppression entries")
}

// Suppressed returns which of the hashes are suppression entries.
func (r reader) Suppressed(ctx context.Context, hashes []string) (map[string]bool, error) {
	out := map[string]bool{}
	per := r.d.chunkRows(1)
	for start := 0; start < len(hashes); start += per {
		chunk := hashes[start:min(start+per, len(hashes))]
		var found []string
		if err := sqlxSelect(ctx, r, &found, "SELECT hash FROM suppressions WHERE hash IN ("+placeholders(len(chunk))+")",
			anySlice(chunk)...); err != nil {
			return nil, fmt.Errorf("look up suppression entries: %w", err)
		}
		for _, h := range found {
			out[h] = true
		}
	}
	return out, nil
}

// ExtendSuppression adds entries (hash → kind) on behalf of the privacy
// request that added the entry from: a record dropped because it names an
// erased person (an order of theirs) gets an entry of its own, so that its
// later versions are dropped on arrival. Entries that exist are kept; with
// from not an entry, nothing is added.
func (t *Tx) ExtendSuppression(ctx context.Context, from string, entries map[string]string) error {
	now := time.Now().UTC()
	q := t.d.rebind(`INSERT INTO suppressions (hash, kind, request_id, created_at)
		SELECT ?, ?, request_id, ? FROM suppressions WHERE hash = ? ON CONFLICT (hash) DO NOTHING`)
	for h, kind := range entries {
		if _, err := t.exec(ctx, q, h, kind, now, from); err != nil {
			return fmt.Errorf("extend suppression entries: %w", err)
		}
	}
	return nil
}

// LockIdentityShared takes the identity resolution lock on PostgreSQL in
// shared mode until the unit of work ends: units of work that hold it
// shared run together, but not while an erasure or identity resolution
// (LockIdentity) holds it. A write that checks the suppression list under
// it cannot miss an erasure that commits in between. SQLite has one
// writer; there it does nothing.
func (t *Tx) LockIdentityShared(ctx context.Context) error {
	if t.d.name != DriverPostgres {
		return nil
	}
	_, err := t.exec(ctx, "SELECT pg_advisory_xact_lock_shared(7406265348107345)")
	return wrap(err, "lock identity resolution (shared)")
}

// CountDropped records that records matching the entries were dropped:
// one for every time an entry is in hashes.
func (t *Tx) CountDropped(ctx context.Context, hashes []string) error {
	now := time.Now().UTC()
	counts := map[string]int{}
	for _, h := range hashes {
		counts[h]++
	}
	q := t.d.rebind("UPDATE suppressions SET dropped = dropped + ?, last_dropped_at = ? WHERE hash = ?")
	for h, n := range counts {
		if _, err := t.exec(ctx, q, n, now, h); err != nil {
			return fmt.Errorf("count dropped records: %w", err)
		}
	}
	return nil
}

// SuppressionStats are the totals of the suppression list.
type SuppressionStats struct {
	Entries int64 `db:"entries" json:"entries"`
	Dropped int64 `db:"dropped" json:"dropped"`
}

// SuppressionStats counts the entries and the records they dropped.
func (r reader) SuppressionStats(ctx context.Context) (SuppressionStats, error) {
	var st SuppressionStats
	err := sqlxGet(ctx, r, &st, "SELECT COUNT(*) AS entries, COALESCE(SUM(dropped), 0) AS dropped FROM suppressions")
	return st, wrap(err, "count suppression entries")
}

// Statuses of privacy requests.
const (
	PrivacyReceived = "received" // recorded, not carried out yet
	PrivacyDone     = "done"
	PrivacyFailed   = "failed" // Error says why; handling it again may succeed
)

// PrivacyRequest is a privacy request as stored.
type PrivacyRequest struct {
	ID string `db:"id" json:"id"`
	// Origin identifies where the request came from (the idempotency key
	// of its message, or an operator's command): a request with an origin
	// seen before is the same request.
	Origin string `db:"origin" json:"-"`
	// Kind is a crmhub.PrivacyKind.
	Kind   string `db:"kind" json:"kind"`
	Source string `db:"source" json:"source,omitempty"`
	// ExternalID is the source's id of the request, when it has one
	// (Shopify's data_request.id).
	ExternalID string `db:"external_id" json:"external_id,omitempty"`
	Status     string `db:"status" json:"status"`
	Actor      string `db:"actor" json:"actor,omitempty"`
	// Summary says what was done, without personal data: profiles and
	// rows per table.
	Summary []byte `db:"summary" json:"-"`
	// Export is the JSON export of a data request; only PrivacyRequest
	// (one request) reads it.
	Export     []byte       `db:"export" json:"-"`
	Error      string       `db:"error" json:"error,omitempty"`
	CreatedAt  time.Time    `db:"created_at" json:"created_at"`
	FinishedAt sql.NullTime `db:"finished_at" json:"-"`
}

// AddPrivacyRequest records a request with status received, or returns
// the request recorded before under the same origin; fresh tells which.
func (t *Tx) AddPrivacyRequest(ctx context.Context, req PrivacyRequest) (PrivacyRequest, bool, error) {
	if req.Origin == "" || req.Kind == "" {
		return PrivacyRequest{}, false, fmt.Errorf("add privacy request: origin and kind are required: %w", crmhub.ErrInvalid)
	}
	if req.ID == "" {
		req.ID = crmhub.NewID(crmhub.PrivacyIDPrefix)
	}
	if req.CreatedAt.IsZero() {
		req.CreatedAt = time.Now()
	}
	res, err := t.exec(ctx, t.d.rebind(`INSERT INTO privacy_requests (id, origin, kind, source, external_id, status,
		actor, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (origin) DO NOTHING`),
		req.ID, req.Origin, req.Kind, req.Source, req.ExternalID, PrivacyReceived, req.Actor, utc(req.CreatedAt))
	if err != nil {
		return PrivacyRequest{}, false, fmt.Errorf("add privacy request: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return PrivacyRequest{}, false, fmt.Errorf("add privacy request: %w", err)
	}
	var row PrivacyRequest
	if err := sqlxGet(ctx, t.reader, &row, "SELECT "+privacyColumns+" FROM privacy_requests WHERE origin = ?", req.Origin); err != nil {
		return PrivacyRequest{}, false, fmt.Errorf("read privacy request: %w", err)
	}
	return row.utc(), n == 1, nil
}

const privacyColumns = `id, origin, kind, source, external_id, status, actor, summary, error, created_at, finished_at`

func (p PrivacyRequest) utc() PrivacyRequest {
	p.CreatedAt = p.CreatedAt.UTC()
	if p.FinishedAt.Valid {
		p.FinishedAt.Time = p.FinishedAt.Time.UTC()
	}
	return p
}

// FinishPrivacyRequest records the outcome of a request: its status,
// summary, export (nil for none) and, for a failure, the error.
func (t *Tx) FinishPrivacyRequest(ctx context.Context, id, status string, summary, export []byte, errText string) error {
	if len(summary) == 0 {
		summary = []byte("{}")
	}
	res, err := t.exec(ctx, t.d.rebind(`UPDATE privacy_requests SET status = ?, summary = ?, export = ?, error = ?,
		finished_at = ? WHERE id = ?`), status, string(summary), export, errText, time.Now().UTC(), id)
	if err != nil {
		return fmt.Errorf("finish privacy request %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("privacy request %s: %w", id, crmhub.ErrNotFound)
	}
	return nil
}

// PrivacyRequest returns one request with its export, or an error
// wrapping crmhub.ErrNotFound.
func (r reader) PrivacyRequest(ctx context.Context, id string) (PrivacyRequest, error) {
	var row PrivacyRequest
	err := sqlxGet(ctx, r, &row, "SELECT "+privacyColumns+", export FROM privacy_requests WHERE id = ?", id)
	if errors.Is(err, sql.ErrNoRows) {
		return row, fmt.Errorf("privacy request %s: %w", id, crmhub.ErrNotFound)
	}
	if err != nil {
		return row, fmt.Errorf("read privacy request %s: %w", id, err)
	}
	return row.utc(), nil
}

// PrivacyRequests returns up to limit requests with an id greater than
// after, oldest first, without their exports.
func (r reader) PrivacyRequests(ctx context.Context, after string, limit int) ([]PrivacyRequest, error) {
	var rows []PrivacyRequest
	if err := sqlxSelect(ctx, r, &rows, "SELECT "+privacyColumns+" FROM privacy_requests WHERE id > ? ORDER BY id LIMIT ?",
		after, limit); err != nil {
		return nil, fmt.Errorf("read privacy requests: %w", err)
	}
	for i := range rows {
		rows[i] = rows[i].utc()
	}
	return rows, nil
}

// PrivacyExport is the export of one data request.
type PrivacyExport struct {
	RequestID string `db:"id"`
	Export    []byte `db:"export"`
}

// PrivacyExports returns every stored export, so that an erasure can find
// the ones that concern the person.
func (r reader) PrivacyExports(ctx context.Context) ([]PrivacyExport, error) {
	var rows []PrivacyExport
	if err := sqlxSelect(ctx, r, &rows, "SELECT id, export FROM privacy_requests WHERE export IS NOT NULL ORDER BY id"); err != nil {
		return nil, fmt.Errorf("read privacy exports: %w", err)
	}
	return rows, nil
}

// DropPrivacyExports deletes the exports of the given requests; the
// requests themselves and their status stay.
func (t *Tx) DropPrivacyExports(ctx context.Context, ids []string) (int64, error) {
	n, err := t.deleteIn(ctx, "UPDATE privacy_requests SET export = NULL WHERE id IN ", anySlice(ids))
	return n, wrap(err, "drop privacy exports")
}

// Statuses of erasure tasks.
const (
	ErasurePending = "pending"
	ErasureDone    = "done"
)

// ErasureTask is an erasure a destination has to carry out in the system
// it pushes to.
type ErasureTask struct {
	ID          int64  `db:"id" json:"id"`
	RequestID   string `db:"request_id" json:"request_id"`
	Destination string `db:"destination" json:"destination"`
	// CustomerID is the erased profile: the id the destination pushed it
	// under.
	CustomerID string `db:"customer_id" json:"customer_id"`
	// Subject is JSON with what else the destination may match the person
	// by (see privacy.Subject); empty once the task is done.
	Subject   []byte    `db:"subject" json:"-"`
	Status    string    `db:"status" json:"status"`
	Attempts  int       `db:"attempts" json:"attempts"`
	LastError string    `db:"last_error" json:"last_error,omitempty"`
	CreatedAt time.Time `db:"created_at" json:"created_at"`
	UpdatedAt time.Time `db:"updated_at" json:"updated_at"`
}

// AddErasureTasks records pending tasks; a task for the same request,
// destination and profile is recorded once.
func (t *Tx) AddErasureTasks(ctx context.Context, tasks []ErasureTask) error {
	now := time.Now().UTC()
	args := make([]any, 0, 7*len(tasks))
	for _, task := range tasks {
		subject := task.Subject
		if len(subject) == 0 {
			subject = []byte("{}")
		}
		args = append(args, task.RequestID, task.Destination, task.CustomerID, string(subject), ErasurePending, now, now)
	}
	return wrap(t.execRows(ctx, `INSERT INTO erasure_tasks (request_id, destination, customer_id, subject, status,
		created_at, updated_at) VALUES `, 7, " ON CONFLICT (request_id, destination, customer_id) DO NOTHING", args),
		"add erasure tasks")
}

// ErasureTasks returns up to limit tasks of a destination (all when
// destination is "") in a status (all when status is "") with an id greater
// than after, oldest first. A destination takes its pending tasks with it.
func (r reader) ErasureTasks(ctx context.Context, destination, status string, after int64, limit int) ([]ErasureTask, error) {
	q := `SELECT id, request_id, destination, customer_id, subject, status, attempts, last_error, created_at, updated_at
		FROM erasure_tasks WHERE id > ?`
	args := []any{after}
	if destination != "" {
		q += " AND destination = ?"
		args = append(args, destination)
	}
	if status != "" {
		q += " AND status = ?"
		args = append(args, status)
	}
	q += " ORDER BY id LIMIT ?"
	args = append(args, limit)
	var rows []ErasureTask
	if err := sqlxSelect(ctx, r, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("read erasure tasks: %w", err)
	}
	for i := range rows {
		rows[i].CreatedAt, rows[i].UpdatedAt = rows[i].CreatedAt.UTC(), rows[i].UpdatedAt.UTC()
	}
	return rows, nil
}

// FinishErasureTask records one attempt of a task. With a nil failure the
// task is done and its subject is dropped; otherwise it stays pending with
// the reason, which must not contain personal data.
func (t *Tx) FinishErasureTask(ctx context.Context, id int64, failure error) error {
	q := `UPDATE erasure_tasks SET status = ?, subject = '{}', attempts = attempts + 1, last_error = '', updated_at = ?
		WHERE id = ?`
	args := []any{ErasureDone, time.Now().UTC(), id}
	if failure != nil {
		q = `UPDATE erasure_tasks SET attempts = attempts + 1, last_error = ?, updated_at = ? WHERE id = ?`
		args = []any{failure.Error(), time.Now().UTC(), id}
	}
	res, err := t.exec(ctx, t.d.rebind(q), args...)
	if err != nil {
		return fmt.Errorf("finish erasure task %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("erasure task %d: %w", id, crmhub.ErrNotFound)
	}
	return nil
}

// deleteIn runs head + "(?,?,...)" for each chunk of args and returns how
// many rows the statements changed.
func (r reader) deleteIn(ctx context.Context, head string, args []any) (int64, error) {
	var total int64
	per := r.d.chunkRows(1)
	for start := 0; start < len(args); start += per {
		chunk := args[start:min(start+per, len(args))]
		res, err := r.exec(ctx, r.d.rebind(head+"("+placeholders(len(chunk))+")"), chunk...)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}
