package store

import (
	"context"
	"fmt"
	"time"
)

// execRows runs head + "VALUES (...),(...)" + tail over rows of cols
// arguments each, in as few statements as the dialect's parameter limit
// allows. Batching rows into one statement is what makes bulk upserts fast
// on both databases: one parse and one round trip for hundreds of rows.
func (r reader) execRows(ctx context.Context, head string, cols int, tail string, args []any) error {
	rows := len(args) / cols
	per := r.d.chunkRows(cols)
	for start := 0; start < rows; start += per {
		n := min(per, rows-start)
		q := r.d.rebind(head + valuesList(n, cols) + tail)
		if _, err := r.exec(ctx, q, args[start*cols:(start+n)*cols]...); err != nil {
			return err
		}
	}
	return nil
}

// execIn runs head + "(?,?,...)" + tail for each chunk of ids.
func (r reader) execIn(ctx context.Context, head string, ids []string, tail string) error {
	per := r.d.chunkRows(1)
	for start := 0; start < len(ids); start += per {
		chunk := ids[start:min(start+per, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		q := r.d.rebind(head + "(" + placeholders(len(chunk)) + ")" + tail)
		if _, err := r.exec(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

// utc normalizes a time for storage: SQLite keeps timestamps as text, which
// sorts correctly only when every value has the same zone.
func utc(t time.Time) time.Time { return t.UTC() }

// nullTime stores a zero or nil time as NULL.
func nullTime(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return t.UTC()
}

// nullString stores "" as NULL, for nullable references.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}
