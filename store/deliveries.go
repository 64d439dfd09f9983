package store

import (
	"context"
	"fmt"
	"time"
)

// ClaimDelivery records that a delivery pushed by a source was accepted,
// under every key its sender identifies it with (a delivery id, an event id
// per topic), and reports whether none of the keys was claimed before. When
// fresh is false the delivery is a redelivery: the caller should roll the
// unit of work back, since the keys it did insert belong to a delivery that
// is not being landed.
func (t *Tx) ClaimDelivery(ctx context.Context, source string, keys []string) (fresh bool, err error) {
	now := time.Now().UTC()
	q := t.d.rebind(`INSERT INTO deliveries (source, key, received_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`)
	fresh = true
	for _, k := range keys {
		res, err := t.exec(ctx, q, source, k, now)
		if err != nil {
			return false, fmt.Errorf("claim delivery %s of %s: %w", k, source, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return false, fmt.Errorf("claim delivery %s of %s: %w", k, source, err)
		}
		fresh = fresh && n == 1
	}
	return fresh, nil
}

// DeliverySeen reports whether any of keys was claimed by a delivery of
// source before.
func (r reader) DeliverySeen(ctx context.Context, source string, keys []string) (bool, error) {
	for _, k := range keys {
		var n int
		if err := sqlxGet(ctx, r, &n, "SELECT COUNT(*) FROM deliveries WHERE source = ? AND key = ?", source, k); err != nil {
			return false, fmt.Errorf("look up delivery %s of %s: %w", k, source, err)
		}
		if n > 0 {
			return true, nil
		}
	}
	return false, nil
}

// PruneDeliveries forgets the delivery keys claimed before t and returns
// how many it removed. Senders redeliver within hours (Shopify: 4 hours,
// sometimes a day late), so keys older than that only take space; a
// delivery older still that arrives again is landed again, which the raw
// table and the pipeline's idempotency marks make harmless.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.InTx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, tx.d.rebind("DELETE FROM deliveries WHERE received_at < ?"), before.UTC())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	}, Relaxed())
	return n, wrap(err, "prune deliveries")
}
