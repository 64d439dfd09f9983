package store

import (
	"context"
	"fmt"
	"time"
)

// MarkProcessed records that handler has handled the message with key and
// reports whether this is the first time. Call it in the same unit of work
// as the handler's effect: if first is false, the effect is already
// committed and the handler should skip it; if the unit of work rolls back,
// the mark goes with it and a redelivery is handled again.
func (t *Tx) MarkProcessed(ctx context.Context, handler, key string) (first bool, err error) {
	res, err := t.exec(ctx, t.d.rebind(`INSERT INTO processed (handler, key, processed_at)
		VALUES (?, ?, ?) ON CONFLICT DO NOTHING`), handler, key, time.Now().UTC())
	if err != nil {
		return false, wrap(err, "mark %s processed by %s", key, handler)
	}
	n, err := res.RowsAffected()
	return n == 1, wrap(err, "mark %s processed by %s", key, handler)
}

// CountProcessed counts the idempotency marks of one handler: how many
// distinct messages it has completed.
func (r reader) CountProcessed(ctx context.Context, handler string) (int64, error) {
	var n int64
	if err := sqlxGet(ctx, r, &n, "SELECT COUNT(*) FROM processed WHERE handler = ?", handler); err != nil {
		return 0, fmt.Errorf("count processed messages: %w", err)
	}
	return n, nil
}
