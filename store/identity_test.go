package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

// TestIdentityRecords covers what identity resolution keeps: record rows
// with their numbers, candidates without documents, profile membership
// through the identities table.
func TestIdentityRecords(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a := store.RecordKey{Source: "shop", ExternalID: "7039114952811000001"}
		b := store.RecordKey{Source: "erp", ExternalID: "C-1"}
		var ridA, ridB int64
		require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
			var err error
			if ridA, err = tx.PutIdentityRecord(ctx, store.IdentityRecord{RecordKey: a, Version: "1", Doc: []byte(`{"v":1}`), Feat: "fa"}); err != nil {
				return err
			}
			if ridB, err = tx.PutIdentityRecord(ctx, store.IdentityRecord{RecordKey: b, Tenant: "t", Doc: []byte(`{}`), Feat: "fb"}); err != nil {
				return err
			}
			again, err := tx.PutIdentityRecord(ctx, store.IdentityRecord{RecordKey: a, Version: "2", Doc: []byte(`{"v":2}`), Feat: "fa2"})
			require.NoError(t, err)
			require.Equal(t, ridA, again, "a replaced record keeps its number")
			c := newCustomer("sara@example.com", "+971501234567")
			c.Identities = []crmhub.Identity{{Source: a.Source, ExternalID: a.ExternalID}}
			return tx.UpsertCustomers(ctx, []crmhub.Customer{c})
		}))
		require.NotEqual(t, ridA, ridB)

		recs, err := s.IdentityRecords(ctx, []store.RecordKey{a, b, {Source: "x", ExternalID: "missing"}})
		require.NoError(t, err)
		require.Len(t, recs, 2)
		byKey := map[store.RecordKey]store.IdentityRecord{}
		for _, r := range recs {
			byKey[r.RecordKey] = r
		}
		require.Equal(t, "2", byKey[a].Version)
		require.JSONEq(t, `{"v":2}`, string(byKey[a].Doc))
		require.Equal(t, "fa2", byKey[a].Feat)
		require.NotEmpty(t, byKey[a].CustomerID)
		require.Empty(t, byKey[b].CustomerID, "a record without a profile yet")
		require.Equal(t, "t", byKey[b].Tenant)

		cands, err := s.Candidates(ctx, []int64{ridA, ridB})
		require.NoError(t, err)
		require.Len(t, cands, 2)
		for _, c := range cands {
			require.Empty(t, c.Doc, "candidates come without documents")
			require.NotEmpty(t, c.Feat)
		}
		of, err := s.IdentityRecordsOfCustomers(ctx, []string{byKey[a].CustomerID})
		require.NoError(t, err)
		require.Len(t, of, 1)
		require.Equal(t, a, of[0].RecordKey)

		assigned, err := s.IdentityAssignments(ctx)
		require.NoError(t, err)
		require.Equal(t, byKey[a].CustomerID, assigned[a])
		rids, err := s.IdentityRIDs(ctx)
		require.NoError(t, err)
		require.Equal(t, map[store.RecordKey]int64{a: ridA, b: ridB}, rids)
		maxRID, err := s.MaxIdentityRID(ctx)
		require.NoError(t, err)
		require.Equal(t, max(ridA, ridB), maxRID)

		require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
			if err := tx.LockIdentity(ctx); err != nil {
				return err
			}
			err := tx.PutIdentityRecordsWithRID(ctx, []store.IdentityRecord{{RID: maxRID + 1,
				RecordKey: store.RecordKey{Source: "leads", ExternalID: "L-1"}, Doc: []byte(`{}`)}})
			if s.Driver() == store.DriverPostgres {
				require.Error(t, err, "PostgreSQL numbers its records itself")
				return nil
			}
			return err
		}))
		if s.Driver() == store.DriverSQLite {
			rids, err := s.IdentityRIDs(ctx)
			require.NoError(t, err)
			require.Equal(t, maxRID+1, rids[store.RecordKey{Source: "leads", ExternalID: "L-1"}])
		}

		var seen []store.RecordKey
		var feats []string
		require.NoError(t, s.EachIdentityFeature(ctx, func(rid int64, key store.RecordKey, feat string) error {
			if len(seen) > 0 {
				require.Greater(t, rid, rids[seen[len(seen)-1]], "in record number order")
			}
			seen, feats = append(seen, key), append(feats, feat)
			return nil
		}))
		require.Equal(t, []store.RecordKey{a, b}, seen[:2])
		require.Equal(t, []string{"fa2", "fb"}, feats[:2])

		require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
			return tx.DeleteIdentityRecords(ctx, []store.RecordKey{b})
		}))
		recs, err = s.IdentityRecords(ctx, []store.RecordKey{b})
		require.NoError(t, err)
		require.Empty(t, recs)
	})
}

// TestIdentityKeys covers the match key table, which only PostgreSQL has:
// SQLite keeps match keys in memory.
func TestIdentityKeys(t *testing.T) {
	ctx := context.Background()
	sq := storetest.SQLite(t)
	require.Error(t, sq.InTx(ctx, func(tx *store.Tx) error { return tx.SetIdentityKeys(ctx, 1, []int64{1}, nil) }),
		"SQLite refuses the match key table")
	s := storetest.Postgres(t)
	var ridA, ridB int64
	require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if ridA, err = tx.PutIdentityRecord(ctx, store.IdentityRecord{RecordKey: store.RecordKey{Source: "shop", ExternalID: "1"}, Doc: []byte(`{}`)}); err != nil {
			return err
		}
		if ridB, err = tx.PutIdentityRecord(ctx, store.IdentityRecord{RecordKey: store.RecordKey{Source: "shop", ExternalID: "2"}, Doc: []byte(`{}`)}); err != nil {
			return err
		}
		if err := tx.SetIdentityKeys(ctx, ridA, []int64{10, 20, -30}, nil); err != nil {
			return err
		}
		if err := tx.SetIdentityKeys(ctx, ridB, []int64{10, 20}, nil); err != nil {
			return err
		}
		return tx.SetIdentityKeys(ctx, ridB, nil, []int64{20})
	}))
	members, err := s.KeyMembers(ctx, []int64{10, 20, -30, 99}, 10)
	require.NoError(t, err)
	require.Equal(t, []int64{ridA, ridB}, members[10], "in record number order")
	require.Equal(t, []int64{ridA}, members[20])
	require.Equal(t, []int64{ridA}, members[-30], "negative hashes work")
	require.Empty(t, members[99])
	limited, err := s.KeyMembers(ctx, []int64{10}, 1)
	require.NoError(t, err)
	require.Equal(t, []int64{ridA}, limited[10], "at most limit members per key, the lowest numbers")

	require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.DeleteIdentityKeys(ctx, []store.KeyRow{{Key: -30, RID: ridA}}); err != nil {
			return err
		}
		return tx.AddIdentityKeys(ctx, []store.KeyRow{{Key: 40, RID: ridB}, {Key: 40, RID: ridB}})
	}))
	members, err = s.KeyMembers(ctx, []int64{-30, 40}, 10)
	require.NoError(t, err)
	require.Empty(t, members[-30])
	require.Equal(t, []int64{ridB}, members[40], "adding a key twice keeps one row")

	require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error { return tx.ReplaceIdentityKeys(ctx) }))
	members, err = s.KeyMembers(ctx, []int64{10, 40}, 10)
	require.NoError(t, err)
	require.Empty(t, members)
}

// TestIdentityState covers the generation that tells a process its
// in-memory match keys are out of date.
func TestIdentityState(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		st, err := s.IdentityState(ctx)
		require.NoError(t, err)
		require.Len(t, st.Store, 32, "a random store id")
		require.Zero(t, st.Generation)
		require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
			g, err := tx.BumpIdentityGeneration(ctx)
			require.Equal(t, int64(1), g)
			return err
		}))
		require.Error(t, s.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.BumpIdentityGeneration(ctx); err != nil {
				return err
			}
			return errors.New("roll back")
		}))
		after, err := s.IdentityState(ctx)
		require.NoError(t, err)
		require.Equal(t, store.IdentityState{Store: st.Store, Generation: 1}, after, "a rolled-back bump does not count")

		other := storetest.Open(t, s.Driver())
		ost, err := other.IdentityState(ctx)
		require.NoError(t, err)
		require.NotEqual(t, st.Store, ost.Store, "another store has another id")
	})
}

// TestSplitsAndLinks covers unmerge constraints and forced merges.
func TestSplitsAndLinks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		k := func(id string) store.RecordKey { return store.RecordKey{Source: "shop", ExternalID: id} }
		require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
			for _, id := range []string{"1", "2", "3"} {
				if _, err := tx.PutIdentityRecord(ctx, store.IdentityRecord{RecordKey: k(id), Doc: []byte(`{}`)}); err != nil {
					return err
				}
			}
			if err := tx.AddSplit(ctx, store.Split{ID: "spl_a", Sides: [][]store.RecordKey{{k("1")}, {k("2"), k("3")}}}, "ops"); err != nil {
				return err
			}
			return tx.AddLink(ctx, store.Link{A: k("1"), B: k("3")}, "ops")
		}))
		recs, err := s.IdentityRecords(ctx, []store.RecordKey{k("1"), k("2")})
		require.NoError(t, err)
		for _, r := range recs {
			require.True(t, r.Constrained, "records on a side of a split are marked")
		}
		splits, err := s.SplitsOf(ctx, []store.RecordKey{k("3")})
		require.NoError(t, err)
		require.Equal(t, []store.Split{{ID: "spl_a", Sides: [][]store.RecordKey{{k("1")}, {k("2"), k("3")}}}}, splits)
		none, err := s.SplitsOf(ctx, []store.RecordKey{k("9")})
		require.NoError(t, err)
		require.Empty(t, none)
		links, err := s.LinksOf(ctx, []store.RecordKey{k("3")})
		require.NoError(t, err)
		require.Equal(t, []store.Link{{A: k("1"), B: k("3")}}, links)
		all, err := s.Links(ctx)
		require.NoError(t, err)
		require.Len(t, all, 1)

		require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error { return tx.DeleteSplits(ctx, []string{"spl_a"}) }))
		splits, err = s.Splits(ctx)
		require.NoError(t, err)
		require.Empty(t, splits)
	})
}
