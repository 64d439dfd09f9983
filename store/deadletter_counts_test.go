package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

func TestDeadLettersBySource(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		got, err := s.DeadLettersBySource(ctx)
		require.NoError(t, err)
		require.Empty(t, got)

		var ids []int64
		inTx(t, s, func(tx *store.Tx) error {
			for _, dl := range []store.DeadLetter{
				{Key: "m1/map", Handler: "map", Source: "shop", Reason: "bad"},
				{Key: "m2/map", Handler: "map", Source: "shop", Reason: "bad"},
				{Key: "m2/map", Handler: "map", Source: "shop", Reason: "bad again"}, // the same failure, counted once
				{Key: "m3/map", Handler: "map", Source: "erp", Reason: "bad"},
				{Key: "m4/push", Handler: "push", Reason: "bad"},
			} {
				id, err := tx.AddDeadLetter(ctx, dl)
				if err != nil {
					return err
				}
				ids = append(ids, id)
			}
			return nil
		})
		got, err = s.DeadLettersBySource(ctx)
		require.NoError(t, err)
		require.Equal(t, map[string]int64{"shop": 2, "erp": 1, "": 1}, got)

		inTx(t, s, func(tx *store.Tx) error { return tx.DeleteDeadLetter(ctx, ids[3]) })
		got, err = s.DeadLettersBySource(ctx)
		require.NoError(t, err)
		require.Equal(t, map[string]int64{"shop": 2, "": 1}, got, "a replayed dead letter is gone")
	})
}
