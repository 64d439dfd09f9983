package store_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

func TestShopTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		_, err := s.ShopToken(ctx, "shop-a.myshopify.com")
		require.ErrorIs(t, err, crmhub.ErrNotFound)

		expires := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
		first := store.ShopToken{Shop: "shop-a.myshopify.com", ClientID: "app1", Scope: "read_customers",
			Sealed: []byte{1, 2, 3}, ExpiresAt: sql.NullTime{Time: expires, Valid: true}}
		require.NoError(t, s.SaveShopToken(ctx, first))
		got, err := s.ShopToken(ctx, first.Shop)
		require.NoError(t, err)
		require.Equal(t, []byte{1, 2, 3}, got.Sealed)
		require.Equal(t, "read_customers", got.Scope)
		require.True(t, got.ExpiresAt.Valid)
		require.True(t, expires.Equal(got.ExpiresAt.Time))
		installed := got.InstalledAt

		again := first
		again.Sealed, again.Scope, again.ExpiresAt = []byte{9}, "read_customers,read_orders", sql.NullTime{}
		again.InstalledAt = installed.Add(time.Hour)
		require.NoError(t, s.SaveShopToken(ctx, again))
		got, err = s.ShopToken(ctx, first.Shop)
		require.NoError(t, err)
		require.Equal(t, []byte{9}, got.Sealed, "a new token replaces the old one")
		require.False(t, got.ExpiresAt.Valid, "a token that does not expire")
		require.True(t, installed.Equal(got.InstalledAt), "the shop keeps its first install time")

		require.ErrorIs(t, s.SaveShopToken(ctx, store.ShopToken{Shop: "x.myshopify.com"}), crmhub.ErrInvalid)
	})
}

func TestOAuthStateIsTakenOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now()
		require.NoError(t, s.SaveOAuthState(ctx, "h1", "shop-a.myshopify.com", now.Add(10*time.Minute)))
		require.NoError(t, s.SaveOAuthState(ctx, "h2", "shop-b.myshopify.com", now.Add(time.Minute)))

		shop, err := s.TakeOAuthState(ctx, "h1", now)
		require.NoError(t, err)
		require.Equal(t, "shop-a.myshopify.com", shop)
		_, err = s.TakeOAuthState(ctx, "h1", now)
		require.ErrorIs(t, err, crmhub.ErrNotFound, "a state works once")
		_, err = s.TakeOAuthState(ctx, "never", now)
		require.ErrorIs(t, err, crmhub.ErrNotFound)
		_, err = s.TakeOAuthState(ctx, "h2", now.Add(2*time.Minute))
		require.ErrorIs(t, err, crmhub.ErrNotFound, "an expired state is refused")
	})
}
