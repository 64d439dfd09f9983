package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

func TestExtendSuppression(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sup, err := s.Suppressor(ctx)
		require.NoError(t, err)
		customer, order := sup.Record("shop", "customer", "1"), sup.Record("shop", "order", "9")
		inTx(t, s, func(tx *store.Tx) error {
			return tx.Suppress(ctx, "prv_1", map[string]string{customer: store.SuppressRecord})
		})
		stray := sup.Record("shop", "order", "10")
		inTx(t, s, func(tx *store.Tx) error {
			require.NoError(t, tx.LockIdentityShared(ctx))
			require.NoError(t, tx.ExtendSuppression(ctx, customer, map[string]string{order: store.SuppressRecord}))
			return tx.ExtendSuppression(ctx, "not-an-entry", map[string]string{stray: store.SuppressRecord})
		})
		hit, err := s.Suppressed(ctx, []string{customer, order, stray})
		require.NoError(t, err)
		require.Equal(t, map[string]bool{customer: true, order: true}, hit, "only an entry extends the list")
		st, err := s.SuppressionStats(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 2, st.Entries)
	})
}
