package bus

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// MessageDeleter is implemented by buses whose messages live in the store's
// database (sqlite, postgres). They keep a message's payload for a while
// after every consumer acked it; a privacy erasure deletes the messages of
// the records it erases. DeleteMessagesTx deletes, in the caller's
// transaction and from every topic, the messages whose metadata holds all
// the key/value pairs of one of matches, and returns how many it deleted.
// A match without pairs matches nothing. Deleting a message that a
// handler holds is harmless: its ack moves the consumer past it all the
// same.
type MessageDeleter interface {
	DeleteMessagesTx(ctx context.Context, tx *sql.Tx, matches []map[string]string) (int64, error)
}

// metadataWhere builds the condition of one match, with sorted keys so the
// statement's text is the same for the same keys; term renders the value
// of one metadata key.
func metadataWhere(match map[string]string, term func(key string) string) (string, []any) {
	keys := make([]string, 0, len(match))
	for k := range match {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	conds := make([]string, len(keys))
	args := make([]any, 0, 2*len(keys))
	for i, k := range keys {
		conds[i] = term(k) + " = ?"
		args = append(args, k, match[k])
	}
	return strings.Join(conds, " AND "), args
}

// DeleteMessagesTx deletes matching messages from bus_messages. SQLite
// keeps metadata as JSON text; the table is read whole, which a rare
// erasure can afford.
func (b *sqliteBus) DeleteMessagesTx(ctx context.Context, tx *sql.Tx, matches []map[string]string) (int64, error) {
	var n int64
	for _, m := range matches {
		if len(m) == 0 {
			continue
		}
		where, args := metadataWhere(m, func(string) string { return `json_extract(metadata, '$."' || ? || '"')` })
		res, err := tx.ExecContext(ctx, "DELETE FROM bus_messages WHERE "+where, args...)
		if err != nil {
			return n, fmt.Errorf("delete bus messages: %w", err)
		}
		k, err := res.RowsAffected()
		if err != nil {
			return n, fmt.Errorf("delete bus messages: %w", err)
		}
		n += k
	}
	return n, nil
}

// DeleteMessagesTx deletes matching messages from every topic's messages
// table, found in the catalog so that topics this process never used are
// covered too.
func (b *pgBus) DeleteMessagesTx(ctx context.Context, tx *sql.Tx, matches []map[string]string) (int64, error) {
	tables, err := pgMessageTables(ctx, tx)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, table := range tables {
		for _, m := range matches {
			if len(m) == 0 {
				continue
			}
			where, args := metadataWhere(m, func(string) string { return "metadata->>?" })
			q := "DELETE FROM " + quoteIdent(table) + " WHERE " + where
			res, err := tx.ExecContext(ctx, rebindDollar(q), args...)
			if err != nil {
				return n, fmt.Errorf("delete bus messages from %s: %w", table, err)
			}
			k, err := res.RowsAffected()
			if err != nil {
				return n, fmt.Errorf("delete bus messages from %s: %w", table, err)
			}
			n += k
		}
	}
	return n, nil
}

// pgMessageTables lists watermill-sql's messages tables in the current
// schema; the offsets tables share their prefix.
func pgMessageTables(ctx context.Context, tx *sql.Tx) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema()
		AND tablename LIKE 'watermill\_%' AND tablename NOT LIKE 'watermill\_offsets\_%' ORDER BY tablename`)
	if err != nil {
		return nil, fmt.Errorf("list bus tables: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("list bus tables: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// rebindDollar turns ? placeholders into $1, $2, ...; the queries here
// hold no other question marks.
func rebindDollar(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

var (
	_ MessageDeleter = (*sqliteBus)(nil)
	_ MessageDeleter = (*pgBus)(nil)
)
