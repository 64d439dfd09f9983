package store

import (
	"context"
	"fmt"
)

// Counts are the sizes of the main tables, for `crmhub status` and the
// dashboard.
type Counts struct {
	Customers   int64 `json:"customers"`
	Identities  int64 `json:"identities"`
	Orders      int64 `json:"orders"`
	Events      int64 `json:"events"`
	RawRecords  int64 `json:"raw_records"`
	DeadLetters int64 `json:"dead_letters"`
	Merges      int64 `json:"merges"`
}

// Counts counts the rows of the main tables. Merged-away profiles are not
// counted as customers, nor deleted orders as orders.
func (r reader) Counts(ctx context.Context) (Counts, error) {
	var c Counts
	for _, q := range []struct {
		dst   *int64
		query string
	}{
		{&c.Customers, "SELECT COUNT(*) FROM customers WHERE merged_into IS NULL"},
		{&c.Identities, "SELECT COUNT(*) FROM identities"},
		{&c.Orders, "SELECT COUNT(*) FROM orders WHERE deleted_at IS NULL"},
		{&c.Events, "SELECT COUNT(*) FROM events"},
		{&c.RawRecords, "SELECT COUNT(*) FROM raw_records"},
		{&c.DeadLetters, "SELECT COUNT(*) FROM dead_letters"},
		{&c.Merges, "SELECT COUNT(*) FROM merges WHERE undone_at IS NULL"},
	} {
		if err := sqlxGet(ctx, r, q.dst, q.query); err != nil {
			return c, fmt.Errorf("count: %w", err)
		}
	}
	return c, nil
}
