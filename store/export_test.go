package store

import (
	"context"
	"fmt"
)

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
