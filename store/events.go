package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/crmhub/crmhub"
)

// InsertEvents stores events and returns how many were new. An event whose
// source and external id are already stored is skipped; an event without an
// external id is keyed by its own id.
func (t *Tx) InsertEvents(ctx context.Context, es []crmhub.Event) (int, error) {
	var n int
	for i := range es {
		e := &es[i]
		if e.ID == "" {
			e.ID = crmhub.NewID(crmhub.EventIDPrefix)
		}
		if err := e.Validate(); err != nil {
			return n, err
		}
		ext := e.ExternalID
		if ext == "" {
			ext = e.ID
		}
		attrs, err := json.Marshal(e.Attributes)
		if err != nil {
			return n, fmt.Errorf("encode event %s attributes: %w", e.ID, err)
		}
		if e.Attributes == nil {
			attrs = []byte("{}")
		}
		res, err := t.exec(ctx, t.d.rebind(`INSERT INTO events (id, source, external_id, customer_id, type,
			occurred_at, attributes) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
			e.ID, e.Source, ext, nullString(e.CustomerID), e.Type, utc(e.OccurredAt), string(attrs))
		if err != nil {
			return n, fmt.Errorf("insert event %s: %w", e.ID, err)
		}
		if k, _ := res.RowsAffected(); k == 1 {
			n++
		}
	}
	return n, nil
}

// EventsOfCustomer returns a profile's events, oldest first.
func (r reader) EventsOfCustomer(ctx context.Context, customerID string) ([]crmhub.Event, error) {
	var rows []struct {
		ID         string         `db:"id"`
		Source     string         `db:"source"`
		ExternalID string         `db:"external_id"`
		CustomerID sql.NullString `db:"customer_id"`
		Type       string         `db:"type"`
		OccurredAt time.Time      `db:"occurred_at"`
		Attributes []byte         `db:"attributes"`
	}
	if err := sqlxSelect(ctx, r, &rows, `SELECT id, source, external_id, customer_id, type, occurred_at, attributes
		FROM events WHERE customer_id = ? ORDER BY occurred_at, id`, customerID); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	out := make([]crmhub.Event, len(rows))
	for i, row := range rows {
		out[i] = crmhub.Event{ID: row.ID, Source: row.Source, ExternalID: row.ExternalID,
			CustomerID: row.CustomerID.String, Type: row.Type, OccurredAt: row.OccurredAt.UTC()}
		if err := json.Unmarshal(row.Attributes, &out[i].Attributes); err != nil {
			return nil, fmt.Errorf("decode event %s attributes: %w", row.ID, err)
		}
	}
	return out, nil
}
