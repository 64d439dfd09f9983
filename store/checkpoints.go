package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/crmhub/crmhub"
)

// Checkpoint is where a connector's stream has got to. The cursor is opaque
// to the store and the pipeline: only the connector reads it.
type Checkpoint struct {
	Source    string    `db:"source"`
	Stream    string    `db:"stream"`
	Cursor    string    `db:"cursor"`
	UpdatedAt time.Time `db:"updated_at"`
}

// SaveCheckpoint records a cursor. Save it in the same unit of work as the
// records it covers, so a crash can only repeat work, never skip it.
func (t *Tx) SaveCheckpoint(ctx context.Context, source, stream, cursor string) error {
	_, err := t.exec(ctx, t.d.rebind(`INSERT INTO checkpoints (source, stream, cursor, updated_at)
		VALUES (?, ?, ?, ?) ON CONFLICT (source, stream) DO UPDATE SET cursor = excluded.cursor,
		updated_at = excluded.updated_at`), source, stream, cursor, time.Now().UTC())
	return wrap(err, "save checkpoint %s/%s", source, stream)
}

// Checkpoint returns the saved cursor of a stream, or an error wrapping
// crmhub.ErrNotFound when the stream has never saved one.
func (r reader) Checkpoint(ctx context.Context, source, stream string) (Checkpoint, error) {
	var cp Checkpoint
	err := sqlxGet(ctx, r, &cp, "SELECT source, stream, cursor, updated_at FROM checkpoints WHERE source = ? AND stream = ?",
		source, stream)
	if errors.Is(err, sql.ErrNoRows) {
		return cp, fmt.Errorf("checkpoint %s/%s: %w", source, stream, crmhub.ErrNotFound)
	}
	cp.UpdatedAt = cp.UpdatedAt.UTC()
	return cp, wrap(err, "read checkpoint %s/%s", source, stream)
}

// Checkpoints returns every saved cursor, by source and stream.
func (r reader) Checkpoints(ctx context.Context) ([]Checkpoint, error) {
	var cps []Checkpoint
	err := sqlxSelect(ctx, r, &cps, "SELECT source, stream, cursor, updated_at FROM checkpoints ORDER BY source, stream")
	for i := range cps {
		cps[i].UpdatedAt = cps[i].UpdatedAt.UTC()
	}
	return cps, wrap(err, "read checkpoints")
}

// DeleteCheckpoint forgets a stream's cursor; forgetting one that was
// never saved is no error.
func (t *Tx) DeleteCheckpoint(ctx context.Context, source, stream string) error {
	_, err := t.exec(ctx, t.d.rebind(`DELETE FROM checkpoints WHERE source = ? AND stream = ?`), source, stream)
	return wrap(err, "delete checkpoint %s/%s", source, stream)
}
