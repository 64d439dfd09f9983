package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/crmhub/crmhub"
)

// ShopToken is the access of one shop that installed a public app through
// Shopify's OAuth flow. The store keeps Sealed as it is given: the caller
// encrypts the tokens, with a key the store does not hold.
type ShopToken struct {
	// Shop is the shop's *.myshopify.com domain.
	Shop string `db:"shop"`
	// ClientID is the app the shop installed.
	ClientID string `db:"client_id"`
	// Scope is what the shop granted, as Shopify wrote it.
	Scope string `db:"scope"`
	// Sealed is the encrypted token set.
	Sealed []byte `db:"sealed"`
	// ExpiresAt is when the access token expires; not valid when it does
	// not.
	ExpiresAt   sql.NullTime `db:"expires_at"`
	InstalledAt time.Time    `db:"installed_at"`
	UpdatedAt   time.Time    `db:"updated_at"`
}

// SaveShopToken stores a shop's token, replacing the one it had. A shop
// installed again keeps its first installed_at.
func (s *Store) SaveShopToken(ctx context.Context, t ShopToken) error {
	if t.Shop == "" || t.ClientID == "" || len(t.Sealed) == 0 {
		return fmt.Errorf("save shop token: shop, client id and sealed token are required: %w", crmhub.ErrInvalid)
	}
	now := time.Now().UTC()
	if t.InstalledAt.IsZero() {
		t.InstalledAt = now
	}
	var expires any
	if t.ExpiresAt.Valid {
		expires = t.ExpiresAt.Time.UTC()
	}
	err := s.InTx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, tx.d.rebind(`INSERT INTO shop_tokens (shop, client_id, scope, sealed, expires_at,
			installed_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (shop) DO UPDATE SET client_id = excluded.client_id, scope = excluded.scope,
			sealed = excluded.sealed, expires_at = excluded.expires_at, updated_at = excluded.updated_at`),
			t.Shop, t.ClientID, t.Scope, t.Sealed, expires, t.InstalledAt.UTC(), now)
		return err
	})
	return wrap(err, "save token of shop %s", t.Shop)
}

// ShopToken returns a shop's stored token, or an error wrapping
// crmhub.ErrNotFound when the shop never installed the app.
func (r reader) ShopToken(ctx context.Context, shop string) (ShopToken, error) {
	var t ShopToken
	err := sqlxGet(ctx, r, &t, `SELECT shop, client_id, scope, sealed, expires_at, installed_at, updated_at
		FROM shop_tokens WHERE shop = ?`, shop)
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("token of shop %s: %w", shop, crmhub.ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("read token of shop %s: %w", shop, err)
	}
	t.InstalledAt, t.UpdatedAt = t.InstalledAt.UTC(), t.UpdatedAt.UTC()
	if t.ExpiresAt.Valid {
		t.ExpiresAt.Time = t.ExpiresAt.Time.UTC()
	}
	return t, nil
}

// SaveOAuthState records the hash of an OAuth state issued for shop, valid
// until expires. States that expired are forgotten on the way.
func (s *Store) SaveOAuthState(ctx context.Context, hash, shop string, expires time.Time) error {
	err := s.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, tx.d.rebind("DELETE FROM oauth_states WHERE expires_at < ?"), time.Now().UTC()); err != nil {
			return err
		}
		_, err := tx.exec(ctx, tx.d.rebind("INSERT INTO oauth_states (hash, shop, expires_at) VALUES (?, ?, ?)"),
			hash, shop, expires.UTC())
		return err
	})
	return wrap(err, "save oauth state")
}

// TakeOAuthState deletes the state with the given hash and returns the
// shop it was issued for. A state is taken once: the second call, like a
// call for a state never issued or one expired by now, returns an error
// wrapping crmhub.ErrNotFound.
func (s *Store) TakeOAuthState(ctx context.Context, hash string, now time.Time) (string, error) {
	var row struct {
		Shop      string    `db:"shop"`
		ExpiresAt time.Time `db:"expires_at"`
	}
	err := s.InTx(ctx, func(tx *Tx) error {
		return sqlxGet(ctx, tx.reader, &row, "DELETE FROM oauth_states WHERE hash = ? RETURNING shop, expires_at", hash)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", fmt.Errorf("oauth state: %w", crmhub.ErrNotFound)
	case err != nil:
		return "", fmt.Errorf("take oauth state: %w", err)
	case !now.Before(row.ExpiresAt):
		return "", fmt.Errorf("oauth state expired: %w", crmhub.ErrNotFound)
	}
	return row.Shop, nil
}
