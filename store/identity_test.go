package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

// TestIdentityRecordsAndKeys covers what identity resolution keeps: record
// rows with their numbers, match keys with a per-key limit, candidates
// without documents, profile membership through the identities table.
func TestIdentityRecordsAndKeys(t *testing.T) {
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
			if err := tx.SetIdentityKeys(ctx, ridA, []int64{10, 20, -30}, nil); err != nil {
				return err
			}
			if err := tx.SetIdentityKeys(ctx, ridB, []int64{10, 20}, nil); err != nil {
				return err
			}
			if err := tx.SetIdentityKeys(ctx, ridB, nil, []int64{20}); err != nil {
				return err
			}
			c := newCustomer("sara@example.com", "+971501234567")
			c.Identities = []crmhub.Identity{{Source: a.Source, ExternalID: a.ExternalID}}
			return tx.UpsertCustomers(ctx, []crmhub.Customer{c})
		}))
		require.NotEqual(t, ridA, ridB)

		members, err := s.KeyMembers(ctx, []int64{10, 20, -30, 99}, 10)
		require.NoError(t, err)
		require.ElementsMatch(t, []int64{ridA, ridB}, members[10])
		require.Equal(t, []int64{ridA}, members[20])
		require.Equal(t, []int64{ridA}, members[-30], "negative hashes work")
		require.Empty(t, members[99])
		limited, err := s.KeyMembers(ctx, []int64{10}, 1)
		require.NoError(t, err)
		require.Len(t, limited[10], 1, "at most limit members per key")

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

		require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
			if err := tx.DeleteIdentityRecords(ctx, []store.RecordKey{b}); err != nil {
				return err
			}
			return tx.ReplaceIdentityKeys(ctx)
		}))
		members, err = s.KeyMembers(ctx, []int64{10}, 10)
		require.NoError(t, err)
		require.Empty(t, members[10])
		recs, err = s.IdentityRecords(ctx, []store.RecordKey{b})
		require.NoError(t, err)
		require.Empty(t, recs)
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
