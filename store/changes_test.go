package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

func TestNewVersions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		rec := func(entity, id, version, payload string) store.RawRecord {
			return store.RawRecord{Source: "shop", Entity: entity, ExternalID: id, Version: version, Payload: []byte(payload)}
		}
		landed := []store.RawRecord{rec("customer", "1", "v1", `{"a":1}`), rec("order", "1", "v1", `{"o":1}`),
			rec("customer", "3", "2026-11-23T08:33:17+04:00", `{"c":1}`)}
		inTx(t, s, func(tx *store.Tx) error {
			_, err := tx.InsertRaw(ctx, landed)
			return err
		})

		batch := []store.RawRecord{
			rec("customer", "1", "v1", `{"a":1,"other":"shape"}`),                 // same version, other bytes: no change
			rec("customer", "1", "v2", `{"a":2}`),                                 // a new version
			rec("customer", "1", "v2", `{"a":2,"again":true}`),                    // the same new version twice in a batch
			rec("customer", "2", "v1", `{"b":1}`),                                 // a new record
			rec("order", "1", "v2", `{"o":2}`),                                    // entities apart
			rec("customer_deletion", "1", "", `{"id":1}`),                         // no version: never a change
			rec("customer", "3", "2026-11-23T04:33:17Z", `{"c":1,"pulled":true}`), // the same instant in UTC: no change
			rec("customer", "3", "2026-11-23T04:33:18Z", `{"c":2}`),               // a later one
		}
		other := rec("customer", "1", "v1", `{"a":1}`)
		other.Source = "other-shop"
		batch = append(batch, other)
		var got []bool
		inTx(t, s, func(tx *store.Tx) (err error) {
			got, err = tx.NewVersions(ctx, batch)
			return err
		})
		require.Equal(t, []bool{false, true, false, true, true, false, false, true, true}, got)
	})
}

func TestChangeCounts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)
		inTx(t, s, func(tx *store.Tx) error {
			since, err := tx.ChangesSince(ctx, []string{"shop"})
			require.NoError(t, err)
			require.Empty(t, since, "nothing counted yet")
			require.NoError(t, tx.AddChanges(ctx, "shop", store.ChannelBackfill, 100, t0))
			require.NoError(t, tx.AddChanges(ctx, "shop", store.ChannelWebhook, 3, t0.Add(time.Hour)))
			require.NoError(t, tx.AddChanges(ctx, "shop", store.ChannelWebhook, 2, t0.Add(2*time.Hour)))
			require.NoError(t, tx.AddChanges(ctx, "shop", store.ChannelPull, 0, t0.Add(3*time.Hour)))
			return tx.AddChanges(ctx, "other", store.ChannelPull, 1, t0.Add(time.Hour))
		})
		inTx(t, s, func(tx *store.Tx) error {
			since, err := tx.ChangesSince(ctx, []string{"shop", "other", "none"})
			require.NoError(t, err)
			require.Len(t, since, 2)
			require.True(t, t0.Equal(since["shop"]), "counting started with the first count")
			return nil
		})
		counts, err := s.ChangeCounts(ctx)
		require.NoError(t, err)
		type row struct {
			source, channel string
			n               int64
		}
		var got []row
		for _, c := range counts {
			got = append(got, row{c.Source, c.Channel, c.Changes})
		}
		require.Equal(t, []row{{"other", "pull", 1}, {"shop", "backfill", 100}, {"shop", "webhook", 5}}, got)
		require.True(t, t0.Add(2*time.Hour).Equal(counts[2].LastAt))
	})
}
