package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

func TestPushStateIsKeptPerDestinationAndRecord(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		_, err := s.PushState(ctx, "shopify-tags", "main-store", "7039114952811000001")
		require.ErrorIs(t, err, crmhub.ErrNotFound, "nothing pushed yet")

		at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.FixedZone("GST", 4*3600))
		first := store.PushState{Destination: "shopify-tags", Source: "main-store", ExternalID: "7039114952811000001",
			CustomerID: "cus_01J9Z3K4T5", Pushed: []byte(`{"tags":["crmhub:segment-loyal"]}`),
			Version: "2026-03-01T06:00:00Z", UpdatedAt: at}
		other := first
		other.Destination, other.Pushed = "shopify-tags-2", []byte(`{"tags":[]}`)
		inTx(t, s, func(tx *store.Tx) error {
			if err := tx.PutPushState(ctx, first); err != nil {
				return err
			}
			return tx.PutPushState(ctx, other)
		})
		got, err := s.PushState(ctx, "shopify-tags", "main-store", "7039114952811000001")
		require.NoError(t, err)
		require.JSONEq(t, string(first.Pushed), string(got.Pushed))
		require.Equal(t, first.Version, got.Version)
		require.Equal(t, first.CustomerID, got.CustomerID)
		require.True(t, at.Equal(got.UpdatedAt), "%v", got.UpdatedAt)
		require.Equal(t, time.UTC, got.UpdatedAt.Location())

		// A later push replaces what the record had, of this destination
		// only.
		second := first
		second.CustomerID, second.Pushed, second.Version, second.UpdatedAt = "cus_01J9Z3K4T6", []byte(`{"tags":[]}`), "", time.Time{}
		inTx(t, s, func(tx *store.Tx) error { return tx.PutPushState(ctx, second) })
		got, err = s.PushState(ctx, "shopify-tags", "main-store", "7039114952811000001")
		require.NoError(t, err)
		require.JSONEq(t, `{"tags":[]}`, string(got.Pushed))
		require.Equal(t, "cus_01J9Z3K4T6", got.CustomerID)
		require.Empty(t, got.Version)
		require.False(t, got.UpdatedAt.IsZero(), "a zero time is set to now")
		kept, err := s.PushState(ctx, "shopify-tags-2", "main-store", "7039114952811000001")
		require.NoError(t, err)
		require.Equal(t, "cus_01J9Z3K4T5", kept.CustomerID)

		inTx(t, s, func(tx *store.Tx) error {
			gone, err := tx.DeletePushState(ctx, "shopify-tags", "main-store", "7039114952811000001")
			require.True(t, gone)
			return err
		})
		_, err = s.PushState(ctx, "shopify-tags", "main-store", "7039114952811000001")
		require.ErrorIs(t, err, crmhub.ErrNotFound)
		inTx(t, s, func(tx *store.Tx) error {
			gone, err := tx.DeletePushState(ctx, "shopify-tags", "main-store", "7039114952811000001")
			require.False(t, gone, "deleting again finds nothing")
			return err
		})

		err = s.InTx(ctx, func(tx *store.Tx) error {
			return tx.PutPushState(ctx, store.PushState{Destination: "shopify-tags", Source: "main-store"})
		})
		require.ErrorIs(t, err, crmhub.ErrInvalid)
	})
}

func TestErasureTakesWhatWasPushedOfThePerson(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sara := seedPerson(t, s, "sara@example.com", "+971501234567", "Amiri", "shop", "1")
		omar := seedPerson(t, s, "omar@example.com", "", "Haddad", "erp", "C-1")
		put := func(c crmhub.Customer, source, extID string) {
			inTx(t, s, func(tx *store.Tx) error {
				return tx.PutPushState(ctx, store.PushState{Destination: "shopify-tags", Source: source,
					ExternalID: extID, CustomerID: c.ID, Pushed: []byte(`{"metafields":{"clv":"1460.00"}}`)})
			})
		}
		put(sara.c, "shop", "1")
		put(omar.c, "erp", "C-1")
		put(omar.c, "shop", "2")

		var res store.EraseResult
		inTx(t, s, func(tx *store.Tx) (err error) {
			res, err = tx.Erase(ctx, store.Erasure{Customers: []string{sara.c.ID}})
			return err
		})
		require.EqualValues(t, 1, res.Rows["push_state"])
		_, err := s.PushState(ctx, "shopify-tags", "shop", "1")
		require.ErrorIs(t, err, crmhub.ErrNotFound)
		_, err = s.PushState(ctx, "shopify-tags", "erp", "C-1")
		require.NoError(t, err, "another person's pushes stay")

		var se store.SourceErasure
		inTx(t, s, func(tx *store.Tx) (err error) {
			se, err = tx.EraseSource(ctx, "shop")
			return err
		})
		require.EqualValues(t, 1, se.Erased["push_state"], "what was pushed to the source's records goes with the source")
		_, err = s.PushState(ctx, "shopify-tags", "shop", "2")
		require.ErrorIs(t, err, crmhub.ErrNotFound)
		_, err = s.PushState(ctx, "shopify-tags", "erp", "C-1")
		require.NoError(t, err)
	})
}
