package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

func TestDeliveryKeysAreClaimedOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		claim := func(source string, keys ...string) bool {
			var fresh bool
			inTx(t, s, func(tx *store.Tx) error {
				var err error
				fresh, err = tx.ClaimDelivery(ctx, source, keys)
				return err
			})
			return fresh
		}
		require.True(t, claim("shop", "webhook:1", "event:orders/paid:9"))
		require.False(t, claim("shop", "webhook:1"), "the same delivery again")
		require.False(t, claim("shop", "webhook:2", "event:orders/paid:9"), "the same event of the same topic")
		require.True(t, claim("shop", "webhook:3", "event:orders/updated:9"), "the same event of another topic")
		require.True(t, claim("other-shop", "webhook:1"), "keys are per source")

		seen, err := s.DeliverySeen(ctx, "shop", []string{"webhook:9", "webhook:3"})
		require.NoError(t, err)
		require.True(t, seen)
		seen, err = s.DeliverySeen(ctx, "shop", []string{"webhook:9"})
		require.NoError(t, err)
		require.False(t, seen)

		n, err := s.PruneDeliveries(ctx, time.Now().Add(-time.Hour))
		require.NoError(t, err)
		require.Zero(t, n, "recent keys are kept")
		n, err = s.PruneDeliveries(ctx, time.Now().Add(time.Hour))
		require.NoError(t, err)
		require.Positive(t, n)
		require.True(t, claim("shop", "webhook:1"), "a pruned key is forgotten")
	})
}
