package store

import (
	"context"
	"fmt"
)

// DeadLettersBySource counts the dead letters of each source, for the
// /metrics endpoint; those of messages that name no source (a later
// stage's) count under "". The dead-letter table holds what awaits a fix
// and a replay, which removes the row, so it stays small.
func (r reader) DeadLettersBySource(ctx context.Context) (map[string]int64, error) {
	var rows []struct {
		Source string `db:"source"`
		N      int64  `db:"n"`
	}
	if err := sqlxSelect(ctx, r, &rows, "SELECT source, COUNT(*) AS n FROM dead_letters GROUP BY source"); err != nil {
		return nil, fmt.Errorf("count dead letters by source: %w", err)
	}
	out := make(map[string]int64, len(rows))
	for _, row := range rows {
		out[row.Source] = row.N
	}
	return out, nil
}
