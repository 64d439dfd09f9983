package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/crmhub/crmhub"
)

// PushState is what a destination last pushed to one record of a source
// system (a Shopify customer), so that the next push sends only what
// changed. Pushed is opaque to the store: only the destination reads it.
type PushState struct {
	Destination string `db:"destination"`
	Source      string `db:"source"`
	ExternalID  string `db:"external_id"`
	// CustomerID is the profile pushed; erasing it erases the row.
	CustomerID string `db:"customer_id"`
	// Pushed is the destination's JSON of what it wrote.
	Pushed []byte `db:"pushed"`
	// Version is the system's version of the record right after the
	// push (Shopify's updatedAt), "" when it did not say.
	Version   string    `db:"version"`
	UpdatedAt time.Time `db:"updated_at"`
}

const pushStateCols = `destination, source, external_id, customer_id, pushed, version, updated_at`

// PushState returns what destination last pushed to the record of source
// with externalID, or an error wrapping crmhub.ErrNotFound when it never
// pushed to it.
func (r reader) PushState(ctx context.Context, destination, source, externalID string) (PushState, error) {
	var ps PushState
	err := sqlxGet(ctx, r, &ps, "SELECT "+pushStateCols+` FROM push_state
		WHERE destination = ? AND source = ? AND external_id = ?`, destination, source, externalID)
	if errors.Is(err, sql.ErrNoRows) {
		return ps, fmt.Errorf("push state of %s for %s/%s: %w", destination, source, externalID, crmhub.ErrNotFound)
	}
	if err != nil {
		return ps, fmt.Errorf("read push state of %s for %s/%s: %w", destination, source, externalID, err)
	}
	ps.UpdatedAt = ps.UpdatedAt.UTC()
	return ps, nil
}

// PutPushState records what a destination pushed to one record, replacing
// what it recorded before. A zero UpdatedAt is set to now.
func (t *Tx) PutPushState(ctx context.Context, ps PushState) error {
	if ps.Destination == "" || ps.Source == "" || ps.ExternalID == "" || ps.CustomerID == "" {
		return fmt.Errorf("put push state: destination, source, external id and customer id are required: %w", crmhub.ErrInvalid)
	}
	if len(ps.Pushed) == 0 {
		ps.Pushed = []byte("{}")
	}
	if ps.UpdatedAt.IsZero() {
		ps.UpdatedAt = time.Now()
	}
	_, err := t.exec(ctx, t.d.rebind(`INSERT INTO push_state (`+pushStateCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (destination, source, external_id) DO UPDATE SET customer_id = excluded.customer_id,
		pushed = excluded.pushed, version = excluded.version, updated_at = excluded.updated_at`),
		ps.Destination, ps.Source, ps.ExternalID, ps.CustomerID, string(ps.Pushed), ps.Version, utc(ps.UpdatedAt))
	return wrap(err, "put push state of %s for %s/%s", ps.Destination, ps.Source, ps.ExternalID)
}

// DeletePushState forgets what destination pushed to the record of source
// with externalID, and reports whether there was anything to forget.
func (t *Tx) DeletePushState(ctx context.Context, destination, source, externalID string) (bool, error) {
	res, err := t.exec(ctx, t.d.rebind(`DELETE FROM push_state WHERE destination = ? AND source = ? AND external_id = ?`),
		destination, source, externalID)
	if err != nil {
		return false, fmt.Errorf("delete push state of %s for %s/%s: %w", destination, source, externalID, err)
	}
	n, err := res.RowsAffected()
	return n > 0, wrap(err, "delete push state of %s for %s/%s", destination, source, externalID)
}
