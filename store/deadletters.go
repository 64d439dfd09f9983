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

// DeadLetter is a message a handler could not process, kept with the reason
// so an operator can fix the cause and replay it.
type DeadLetter struct {
	ID int64 `db:"id"`
	// Key identifies the failing delivery (message id and handler); a
	// message that fails again updates its row instead of adding one.
	Key        string            `db:"key"`
	Handler    string            `db:"handler"`
	Topic      string            `db:"topic"`
	Source     string            `db:"source"`
	Entity     string            `db:"entity"`
	ExternalID string            `db:"external_id"`
	Payload    []byte            `db:"payload"`
	Metadata   map[string]string `db:"-"`
	Reason     string            `db:"reason"`
	Attempts   int               `db:"attempts"`
	FirstSeen  time.Time         `db:"first_seen"`
	LastSeen   time.Time         `db:"last_seen"`
}

// AddDeadLetter stores a failed message, or, when its key is already there,
// adds dl.Attempts to its attempts and keeps the newest reason.
func (t *Tx) AddDeadLetter(ctx context.Context, dl DeadLetter) (int64, error) {
	if dl.Key == "" || dl.Handler == "" || dl.Reason == "" {
		return 0, fmt.Errorf("add dead letter: key, handler and reason are required: %w", crmhub.ErrInvalid)
	}
	if dl.Attempts <= 0 {
		dl.Attempts = 1
	}
	now := time.Now().UTC()
	if dl.LastSeen.IsZero() {
		dl.LastSeen = now
	}
	if dl.FirstSeen.IsZero() {
		dl.FirstSeen = dl.LastSeen
	}
	meta, err := json.Marshal(dl.Metadata)
	if err != nil {
		return 0, fmt.Errorf("encode dead letter metadata: %w", err)
	}
	if dl.Metadata == nil {
		meta = []byte("{}")
	}
	if dl.Payload == nil {
		dl.Payload = []byte{}
	}
	var id int64
	err = t.q.QueryRowxContext(ctx, t.d.rebind(`INSERT INTO dead_letters (key, handler, topic, source, entity,
		external_id, payload, metadata, reason, attempts, first_seen, last_seen)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET reason = excluded.reason,
		attempts = dead_letters.attempts + excluded.attempts, last_seen = excluded.last_seen
		RETURNING id`), dl.Key, dl.Handler, dl.Topic, dl.Source, dl.Entity, dl.ExternalID, dl.Payload,
		string(meta), dl.Reason, dl.Attempts, utc(dl.FirstSeen), utc(dl.LastSeen)).Scan(&id)
	return id, wrap(err, "add dead letter %s", dl.Key)
}

// DeleteDeadLetter removes a dead letter, after a successful replay.
func (t *Tx) DeleteDeadLetter(ctx context.Context, id int64) error {
	res, err := t.exec(ctx, t.d.rebind("DELETE FROM dead_letters WHERE id = ?"), id)
	if err != nil {
		return fmt.Errorf("delete dead letter %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("dead letter %d: %w", id, crmhub.ErrNotFound)
	}
	return nil
}

type deadLetterRow struct {
	DeadLetter
	MetaJSON []byte `db:"metadata"`
}

const deadLetterColumns = `id, key, handler, topic, source, entity, external_id, payload, metadata, reason,
	attempts, first_seen, last_seen`

func (row *deadLetterRow) deadLetter() (DeadLetter, error) {
	dl := row.DeadLetter
	dl.FirstSeen, dl.LastSeen = dl.FirstSeen.UTC(), dl.LastSeen.UTC()
	if len(row.MetaJSON) > 2 {
		if err := json.Unmarshal(row.MetaJSON, &dl.Metadata); err != nil {
			return dl, fmt.Errorf("decode dead letter %d metadata: %w", dl.ID, err)
		}
	}
	return dl, nil
}

// DeadLetter returns one dead letter, or an error wrapping
// crmhub.ErrNotFound.
func (r reader) DeadLetter(ctx context.Context, id int64) (DeadLetter, error) {
	var row deadLetterRow
	err := sqlxGet(ctx, r, &row, "SELECT "+deadLetterColumns+" FROM dead_letters WHERE id = ?", id)
	if errors.Is(err, sql.ErrNoRows) {
		return DeadLetter{}, fmt.Errorf("dead letter %d: %w", id, crmhub.ErrNotFound)
	}
	if err != nil {
		return DeadLetter{}, fmt.Errorf("read dead letter %d: %w", id, err)
	}
	return row.deadLetter()
}

// DeadLetters returns up to limit dead letters with an id greater than
// after, oldest first.
func (r reader) DeadLetters(ctx context.Context, after int64, limit int) ([]DeadLetter, error) {
	var rows []deadLetterRow
	if err := sqlxSelect(ctx, r, &rows, "SELECT "+deadLetterColumns+" FROM dead_letters WHERE id > ? ORDER BY id LIMIT ?",
		after, limit); err != nil {
		return nil, fmt.Errorf("read dead letters: %w", err)
	}
	out := make([]DeadLetter, len(rows))
	for i := range rows {
		dl, err := rows[i].deadLetter()
		if err != nil {
			return nil, err
		}
		out[i] = dl
	}
	return out, nil
}

// CountDeadLetters counts the dead letters.
func (r reader) CountDeadLetters(ctx context.Context) (int64, error) {
	var n int64
	if err := sqlxGet(ctx, r, &n, "SELECT COUNT(*) FROM dead_letters"); err != nil {
		return 0, fmt.Errorf("count dead letters: %w", err)
	}
	return n, nil
}

// DeadLetterByKey returns the dead letter stored under key, or an error
// wrapping crmhub.ErrNotFound.
func (r reader) DeadLetterByKey(ctx context.Context, key string) (DeadLetter, error) {
	var row deadLetterRow
	err := sqlxGet(ctx, r, &row, "SELECT "+deadLetterColumns+" FROM dead_letters WHERE key = ?", key)
	if errors.Is(err, sql.ErrNoRows) {
		return DeadLetter{}, fmt.Errorf("dead letter %s: %w", key, crmhub.ErrNotFound)
	}
	if err != nil {
		return DeadLetter{}, fmt.Errorf("read dead letter %s: %w", key, err)
	}
	return row.deadLetter()
}
