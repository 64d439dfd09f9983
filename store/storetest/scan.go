package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/store"
)

// Tables lists every table in the store's database, read from the schema
// itself (not from a list kept by hand), so that a check over all tables
// covers a table added later. The message bus's tables are included when
// the bus lives in the store's database.
func Tables(t testing.TB, s *store.Store) []string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`
	if s.Driver() == store.DriverPostgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()
			AND table_type = 'BASE TABLE' ORDER BY table_name`
	}
	rows, err := s.ReadDB().QueryContext(context.Background(), q)
	require.NoError(t, err, "list tables")
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		out = append(out, name)
	}
	require.NoError(t, rows.Err())
	require.NotEmpty(t, out, "the schema lists no table")
	return out
}

// Find reads every row of every table (see Tables) and returns where one
// of the needles occurs, case-insensitively, as "table.column: needle".
// Binary columns are searched as bytes.
func Find(t testing.TB, s *store.Store, needles ...string) []string {
	t.Helper()
	var hits []string
	for _, table := range Tables(t, s) {
		hits = append(hits, findIn(t, s, table, needles)...)
	}
	return hits
}

func findIn(t testing.TB, s *store.Store, table string, needles []string) []string {
	t.Helper()
	rows, err := s.ReadDB().QueryContext(context.Background(), `SELECT * FROM "`+strings.ReplaceAll(table, `"`, `""`)+`"`)
	require.NoError(t, err, "read table %s", table)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var hits []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...), "read table %s", table)
		for i, v := range vals {
			text := strings.ToLower(cellText(v))
			for _, n := range needles {
				if strings.Contains(text, strings.ToLower(n)) {
					hits = append(hits, fmt.Sprintf("%s.%s: %s", table, cols[i], n))
				}
			}
		}
	}
	require.NoError(t, rows.Err(), "read table %s", table)
	return hits
}

func cellText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []byte:
		return string(x)
	case string:
		return x
	}
	return fmt.Sprint(v)
}
