package store

import (
	"context"
	"fmt"
	"testing"
)

// SetExportPageSize makes EachCustomer and EachOrder read pages of n rows
// until the test ends, so that a few rows cross page boundaries.
func SetExportPageSize(t testing.TB, n int) {
	old := exportPageSize
	exportPageSize = n
	t.Cleanup(func() { exportPageSize = old })
}

// DumpTable renders every row of a table as text, so tests can check what
// is really stored.
func DumpTable(ctx context.Context, s *Store, table string) (string, error) {
	rows, err := s.w.QueryxContext(ctx, "SELECT * FROM "+table)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var out string
	for rows.Next() {
		m := map[string]any{}
		if err := rows.MapScan(m); err != nil {
			return "", err
		}
		for k, v := range m {
			if b, ok := v.([]byte); ok {
				m[k] = string(b)
			}
		}
		out += fmt.Sprintf("%v\n", m)
	}
	return out, rows.Err()
}

// SyncDurable is what SynchronousForTest reports for a durable connection.
const SyncDurable = "durable"

// SynchronousForTest reports how the writer connection commits outside a
// relaxed unit of work.
func SynchronousForTest(ctx context.Context, s *Store) (string, error) {
	var mode string
	var err error
	if s.driver == DriverSQLite {
		var n int
		err = s.w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&n)
		mode = map[int]string{1: "normal", 2: SyncDurable, 3: "extra"}[n]
	} else {
		err = s.w.QueryRowContext(ctx, "SHOW synchronous_commit").Scan(&mode)
		if mode == "on" {
			mode = SyncDurable
		}
	}
	return mode, err
}
