package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/crmhub/crmhub"
)

// RecordMerge writes a merge with its evidence to the merge log.
func (t *Tx) RecordMerge(ctx context.Context, m crmhub.Merge) error {
	if m.CreatedAt.IsZero() {
		m.CreatedAt = time.Now()
	}
	if err := m.Validate(); err != nil {
		return err
	}
	ev, err := json.Marshal(m.Evidence)
	if err != nil {
		return fmt.Errorf("encode merge evidence: %w", err)
	}
	if m.Evidence == nil {
		ev = []byte("[]")
	}
	sides, err := json.Marshal(m.Sides)
	if err != nil || m.Sides == nil {
		sides = []byte("{}")
	}
	if _, err := t.exec(ctx, t.d.rebind(`INSERT INTO merges (id, survivor_id, rule, score, evidence, actor,
		reason, created_at, undone_at, undone_by, sides) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`), m.ID, m.SurvivorID,
		m.Rule, m.Score, string(ev), m.Actor, m.Reason, utc(m.CreatedAt), nullTime(m.UndoneAt), m.UndoneBy,
		string(sides)); err != nil {
		return fmt.Errorf("record merge %s: %w", m.ID, err)
	}
	args := make([]any, 0, 2*len(m.MergedIDs))
	for _, id := range m.MergedIDs {
		args = append(args, m.ID, id)
	}
	return wrap(t.execRows(ctx, "INSERT INTO merge_members (merge_id, customer_id) VALUES ", 2, "", args),
		"record members of merge %s", m.ID)
}

// UndoMerge marks a merge undone by actor. It returns an error wrapping
// crmhub.ErrNotFound when there is no such merge, and crmhub.ErrConflict
// when it is already undone.
func (t *Tx) UndoMerge(ctx context.Context, id, actor string) error {
	res, err := t.exec(ctx, t.d.rebind(`UPDATE merges SET undone_at = ?, undone_by = ?
		WHERE id = ? AND undone_at IS NULL`), time.Now().UTC(), actor, id)
	if err != nil {
		return fmt.Errorf("undo merge %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	if _, err := t.Merge(ctx, id); err != nil {
		return err
	}
	return fmt.Errorf("merge %s is already undone: %w", id, crmhub.ErrConflict)
}

type mergeRow struct {
	ID         string       `db:"id"`
	SurvivorID string       `db:"survivor_id"`
	Rule       string       `db:"rule"`
	Score      float64      `db:"score"`
	Evidence   []byte       `db:"evidence"`
	Actor      string       `db:"actor"`
	Reason     string       `db:"reason"`
	CreatedAt  time.Time    `db:"created_at"`
	UndoneAt   sql.NullTime `db:"undone_at"`
	UndoneBy   string       `db:"undone_by"`
	Sides      []byte       `db:"sides"`
}

// Merge returns one merge, or an error wrapping crmhub.ErrNotFound.
func (r reader) Merge(ctx context.Context, id string) (crmhub.Merge, error) {
	ms, err := r.merges(ctx, "WHERE id = ?", id)
	if err != nil {
		return crmhub.Merge{}, err
	}
	if len(ms) == 0 {
		return crmhub.Merge{}, fmt.Errorf("merge %s: %w", id, crmhub.ErrNotFound)
	}
	return ms[0], nil
}

// MergesOf returns the merges a profile took part in, as survivor or as
// merged profile, oldest first.
func (r reader) MergesOf(ctx context.Context, customerID string) ([]crmhub.Merge, error) {
	return r.merges(ctx, `WHERE survivor_id = ? OR id IN (SELECT merge_id FROM merge_members WHERE customer_id = ?)
		ORDER BY created_at, id`, customerID, customerID)
}

func (r reader) merges(ctx context.Context, where string, args ...any) ([]crmhub.Merge, error) {
	var rows []mergeRow
	if err := sqlxSelect(ctx, r, &rows, `SELECT id, survivor_id, rule, score, evidence, actor, reason, created_at,
		undone_at, undone_by, sides FROM merges `+where, args...); err != nil {
		return nil, fmt.Errorf("read merges: %w", err)
	}
	out := make([]crmhub.Merge, len(rows))
	for i, row := range rows {
		m := crmhub.Merge{ID: row.ID, SurvivorID: row.SurvivorID, Rule: row.Rule, Score: row.Score,
			Actor: row.Actor, Reason: row.Reason, CreatedAt: row.CreatedAt.UTC(), UndoneBy: row.UndoneBy}
		if row.UndoneAt.Valid {
			at := row.UndoneAt.Time.UTC()
			m.UndoneAt = &at
		}
		if err := json.Unmarshal(row.Evidence, &m.Evidence); err != nil {
			return nil, fmt.Errorf("decode merge %s evidence: %w", row.ID, err)
		}
		if len(m.Evidence) == 0 {
			m.Evidence = nil
		}
		if err := json.Unmarshal(row.Sides, &m.Sides); err != nil {
			return nil, fmt.Errorf("decode merge %s sides: %w", row.ID, err)
		}
		if len(m.Sides) == 0 {
			m.Sides = nil
		}
		if err := sqlxSelect(ctx, r, &m.MergedIDs, "SELECT customer_id FROM merge_members WHERE merge_id = ? ORDER BY customer_id",
			row.ID); err != nil {
			return nil, fmt.Errorf("read members of merge %s: %w", row.ID, err)
		}
		out[i] = m
	}
	return out, nil
}
