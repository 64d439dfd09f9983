package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func inTx(t testing.TB, s *store.Store, fn func(tx *store.Tx) error) {
	t.Helper()
	require.NoError(t, s.InTx(context.Background(), fn))
}

func newCustomer(email, phone string) crmhub.Customer {
	c := crmhub.Customer{ID: crmhub.NewID(crmhub.CustomerIDPrefix), FirstName: "Sara", LastName: "Al Amiri"}
	if email != "" {
		c.Email, c.Emails = email, []string{email}
	}
	if phone != "" {
		c.Phone, c.Phones = phone, []string{phone}
	}
	return c
}

func TestMigrateIsIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		applied, err := s.Migrate(ctx)
		require.NoError(t, err)
		require.Empty(t, applied, "a migrated store has nothing left to apply")
		ms, err := s.Migrations(ctx)
		require.NoError(t, err)
		require.NotEmpty(t, ms)
		for _, m := range ms {
			require.True(t, m.Applied, "migration %d", m.Version)
		}
		v, err := s.SchemaVersion(ctx)
		require.NoError(t, err)
		require.Equal(t, ms[len(ms)-1].Version, v)
	})
}

func TestCustomerRoundTrip(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		clv := decimal.RequireFromString("1460.05")
		at := time.Date(2026, 5, 2, 10, 0, 0, 123456000, time.FixedZone("GST", 4*3600))
		c := crmhub.Customer{
			ID: crmhub.NewID(crmhub.CustomerIDPrefix), Email: "sara@example.com",
			Emails: []string{"sara@example.com", "sara.amiri@example.ae"},
			Phone:  "+971501234567", Phones: []string{"+971501234567"},
			FirstName: "سارة", LastName: "Al Amiri", Birthday: crmhub.Date{Year: 1991, Month: 3, Day: 14},
			Addresses: []crmhub.Address{{Line1: "12 Marina Walk", City: "Dubai", CountryCode: "AE"}},
			Locale:    "ar", Consent: map[string]crmhub.Consent{crmhub.ChannelEmail: {Granted: true, At: at.UTC()}},
			Tags: []string{"vip"},
			Identities: []crmhub.Identity{
				{Source: "erp", Type: "webhook", ExternalID: "C-1042"},
				{Source: "main-store", Type: "shopify", ExternalID: "7039114952811234567"},
			},
			Stats: &crmhub.Stats{OrdersCount: 4, TotalSpent: decimal.RequireFromString("812.40"), Currency: "AED",
				AOV: decimal.RequireFromString("203.10")},
			RFM:        &crmhub.RFM{R: 5, F: 4, M: 4, Segment: "loyal"},
			CLV:        &clv,
			Segments:   []string{"loyal"},
			Attributes: map[string]string{"tier": "gold"},
			Provenance: map[string]crmhub.FieldSource{"email": {Source: "main-store", ExternalID: "7039114952811234567"}},
			CreatedAt:  at, UpdatedAt: at.Add(time.Hour),
		}
		inTx(t, s, func(tx *store.Tx) error { return tx.UpsertCustomers(ctx, []crmhub.Customer{c}) })

		got, err := s.Customer(ctx, c.ID)
		require.NoError(t, err)
		want := c
		want.CreatedAt, want.UpdatedAt = at.UTC(), at.Add(time.Hour).UTC()
		wantJSON, _ := json.Marshal(want)
		gotJSON, _ := json.Marshal(got)
		require.JSONEq(t, string(wantJSON), string(gotJSON))

		_, err = s.Customer(ctx, "cus_missing")
		require.ErrorIs(t, err, crmhub.ErrNotFound)
	})
}

func TestUpsertCustomersKeepsIndexesInStep(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a := newCustomer("a@example.com", "+4915112345678")
		a.Identities = []crmhub.Identity{{Source: "shop", Type: "shopify", ExternalID: "1"}, {Source: "erp", ExternalID: "E1"}}
		b := newCustomer("shared@example.com", "")
		inTx(t, s, func(tx *store.Tx) error { return tx.UpsertCustomers(ctx, []crmhub.Customer{a, b}) })

		ids, err := s.CustomerIDsByEmail(ctx, "a@example.com")
		require.NoError(t, err)
		require.Equal(t, []string{a.ID}, ids)
		ids, err = s.CustomerIDsByPhone(ctx, "+4915112345678")
		require.NoError(t, err)
		require.Equal(t, []string{a.ID}, ids)

		// a changes email and drops its erp identity; b takes over shop/1.
		a.Email, a.Emails = "shared@example.com", []string{"shared@example.com"}
		a.Phone, a.Phones = "", nil
		a.Identities = a.Identities[:1]
		a.FirstName = "Sarah"
		b.Identities = []crmhub.Identity{{Source: "shop", Type: "shopify", ExternalID: "1"}}
		inTx(t, s, func(tx *store.Tx) error { return tx.UpsertCustomers(ctx, []crmhub.Customer{a}) })
		inTx(t, s, func(tx *store.Tx) error { return tx.UpsertCustomers(ctx, []crmhub.Customer{b}) })

		ids, err = s.CustomerIDsByEmail(ctx, "a@example.com")
		require.NoError(t, err)
		require.Empty(t, ids)
		ids, err = s.CustomerIDsByPhone(ctx, "+4915112345678")
		require.NoError(t, err)
		require.Empty(t, ids)
		ids, err = s.CustomerIDsByEmail(ctx, "shared@example.com")
		require.NoError(t, err)
		require.ElementsMatch(t, []string{a.ID, b.ID}, ids)

		owner, err := s.CustomerIDByIdentity(ctx, "shop", "1")
		require.NoError(t, err)
		require.Equal(t, b.ID, owner)
		_, err = s.CustomerIDByIdentity(ctx, "erp", "E1")
		require.ErrorIs(t, err, crmhub.ErrNotFound)

		got, err := s.Customers(ctx, []string{b.ID, "cus_missing", a.ID})
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.Equal(t, b.ID, got[0].ID, "results follow the order asked for")
		require.Equal(t, "Sarah", got[1].FirstName)
		require.Empty(t, got[1].Identities, "the identity moved to b")
		require.Len(t, got[0].Identities, 1)
	})
}

func TestUnitOfWorkIsAtomic(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		good := newCustomer("good@example.com", "")
		bad := newCustomer("", "")
		bad.Phones = []string{"050 123"} // not E.164
		err := s.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.MarkProcessed(ctx, "persist", "msg-1"); err != nil {
				return err
			}
			return tx.UpsertCustomers(ctx, []crmhub.Customer{good, bad})
		})
		require.ErrorIs(t, err, crmhub.ErrInvalid)
		_, err = s.Customer(ctx, good.ID)
		require.ErrorIs(t, err, crmhub.ErrNotFound, "a failed unit of work writes nothing")

		require.Panics(t, func() {
			_ = s.InTx(ctx, func(tx *store.Tx) error {
				_, _ = tx.MarkProcessed(ctx, "persist", "msg-1")
				panic("handler bug")
			})
		})

		// The rolled-back marks are gone: the message is still new.
		var first bool
		inTx(t, s, func(tx *store.Tx) error {
			var err error
			first, err = tx.MarkProcessed(ctx, "persist", "msg-1")
			return err
		})
		require.True(t, first)
		inTx(t, s, func(tx *store.Tx) error {
			var err error
			first, err = tx.MarkProcessed(ctx, "persist", "msg-1")
			return err
		})
		require.False(t, first, "a second mark of the same key reports a duplicate")
		inTx(t, s, func(tx *store.Tx) error {
			var err error
			first, err = tx.MarkProcessed(ctx, "enrich", "msg-1")
			return err
		})
		require.True(t, first, "marks are per handler")
	})
}

func TestInsertRawIsIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		rec := store.RawRecord{Source: "main-store", Entity: "customer", ExternalID: "706405506930370084",
			Version: "2026-10-28T18:41:03Z", Payload: []byte(`{"id":706405506930370084}`),
			Meta: map[string]string{"topic": "customers/update"}}
		var got []bool
		inTx(t, s, func(tx *store.Tx) (err error) {
			got, err = tx.InsertRaw(ctx, []store.RawRecord{rec, rec})
			return err
		})
		require.Equal(t, []bool{true, false}, got, "a repeat inside one batch lands once")
		inTx(t, s, func(tx *store.Tx) (err error) {
			got, err = tx.InsertRaw(ctx, []store.RawRecord{rec})
			return err
		})
		require.Equal(t, []bool{false}, got, "landing the same record twice is a no-op")

		changed := rec
		changed.Payload = []byte(`{"id":706405506930370084,"note":"x"}`)
		inTx(t, s, func(tx *store.Tx) (err error) {
			got, err = tx.InsertRaw(ctx, []store.RawRecord{changed})
			return err
		})
		require.Equal(t, []bool{true}, got)

		recs, err := s.RawRecords(ctx, "main-store", 0, 10)
		require.NoError(t, err)
		require.Len(t, recs, 2)
		require.Equal(t, rec.Payload, recs[0].Payload)
		require.Equal(t, "706405506930370084", recs[0].ExternalID)
		require.Equal(t, map[string]string{"topic": "customers/update"}, recs[0].Meta)
		require.Len(t, recs[0].ContentHash, 64)
		require.Less(t, recs[0].ID, recs[1].ID)
		more, err := s.RawRecords(ctx, "", recs[0].ID, 10)
		require.NoError(t, err)
		require.Len(t, more, 1)

		inTx(t, s, func(tx *store.Tx) error {
			_, err := tx.InsertRaw(ctx, []store.RawRecord{{Source: "x"}})
			require.ErrorContains(t, err, "required")
			return nil
		})
	})
}

func TestCheckpoints(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		_, err := s.Checkpoint(ctx, "main-store", "orders")
		require.ErrorIs(t, err, crmhub.ErrNotFound)
		inTx(t, s, func(tx *store.Tx) error { return tx.SaveCheckpoint(ctx, "main-store", "orders", `{"a":1}`) })
		inTx(t, s, func(tx *store.Tx) error { return tx.SaveCheckpoint(ctx, "main-store", "orders", `{"a":2}`) })
		inTx(t, s, func(tx *store.Tx) error { return tx.SaveCheckpoint(ctx, "main-store", "customers", `c`) })
		cp, err := s.Checkpoint(ctx, "main-store", "orders")
		require.NoError(t, err)
		require.Equal(t, `{"a":2}`, cp.Cursor)
		require.WithinDuration(t, time.Now(), cp.UpdatedAt, time.Minute)
		cps, err := s.Checkpoints(ctx)
		require.NoError(t, err)
		require.Len(t, cps, 2)
		require.Equal(t, "customers", cps[0].Stream)

		inTx(t, s, func(tx *store.Tx) error { return tx.DeleteCheckpoint(ctx, "main-store", "orders") })
		inTx(t, s, func(tx *store.Tx) error { return tx.DeleteCheckpoint(ctx, "main-store", "never-saved") })
		_, err = s.Checkpoint(ctx, "main-store", "orders")
		require.ErrorIs(t, err, crmhub.ErrNotFound)
		_, err = s.Checkpoint(ctx, "main-store", "customers")
		require.NoError(t, err, "other streams stay")
	})
}

func TestOrdersOlderVersionNeverWins(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c := newCustomer("buyer@example.com", "")
		inTx(t, s, func(tx *store.Tx) error { return tx.UpsertCustomers(ctx, []crmhub.Customer{c}) })
		t0 := time.Date(2026, 10, 28, 18, 40, 0, 0, time.UTC)
		o := crmhub.Order{Source: "main-store", ExternalID: "5123456789012345678", Number: "#1042", CustomerID: c.ID,
			FinancialStatus: "pending", Currency: "AED", Subtotal: decimal.RequireFromString("190.00"),
			Discounts: decimal.RequireFromString("10.00"), Tax: decimal.RequireFromString("9.005"),
			Shipping: decimal.RequireFromString("15.00"), Total: decimal.RequireFromString("204.01"),
			LineItems: []crmhub.LineItem{{SKU: "TEE-BLK-M", Title: "T-shirt", Quantity: 2, UnitPrice: decimal.RequireFromString("95.00")}},
			CreatedAt: t0, UpdatedAt: t0}
		var id string
		var written bool
		inTx(t, s, func(tx *store.Tx) (err error) {
			id, written, err = tx.UpsertOrder(ctx, o)
			return err
		})
		require.True(t, written)
		require.True(t, crmhub.HasIDPrefix(id, crmhub.OrderIDPrefix))

		paid := o
		paid.FinancialStatus = "paid"
		paid.UpdatedAt = t0.Add(time.Minute)
		paid.LineItems = append(paid.LineItems, crmhub.LineItem{SKU: "CAP", Quantity: 1, UnitPrice: decimal.RequireFromString("14.01")})
		stale := o
		stale.FinancialStatus = "voided"
		stale.UpdatedAt = t0.Add(-time.Minute)
		inTx(t, s, func(tx *store.Tx) error {
			gotID, written, err := tx.UpsertOrder(ctx, paid)
			require.Equal(t, id, gotID, "an update keeps the order's id")
			require.True(t, written)
			if err != nil {
				return err
			}
			_, written, err = tx.UpsertOrder(ctx, stale)
			require.False(t, written, "an older version is ignored")
			return err
		})

		got, err := s.Order(ctx, "main-store", "5123456789012345678")
		require.NoError(t, err)
		require.Equal(t, "paid", got.FinancialStatus)
		require.Equal(t, "9.005", got.Tax.String(), "money keeps every digit")
		require.True(t, got.Total.Equal(decimal.RequireFromString("204.01")))
		require.Len(t, got.LineItems, 2)
		require.Equal(t, "CAP", got.LineItems[1].SKU)
		require.Equal(t, t0.Add(time.Minute), got.UpdatedAt)
		require.Nil(t, got.CancelledAt)

		os, err := s.OrdersOfCustomer(ctx, c.ID)
		require.NoError(t, err)
		require.Len(t, os, 1)
		_, err = s.Order(ctx, "main-store", "nope")
		require.ErrorIs(t, err, crmhub.ErrNotFound)
	})
}

func TestEventsAreDeduplicated(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c := newCustomer("e@example.com", "")
		inTx(t, s, func(tx *store.Tx) error { return tx.UpsertCustomers(ctx, []crmhub.Customer{c}) })
		at := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
		e := crmhub.Event{Source: "ga4", ExternalID: "2026-11-01/cus", CustomerID: c.ID, Type: "session",
			OccurredAt: at, Attributes: map[string]string{"campaign": "black-friday"}}
		var n int
		inTx(t, s, func(tx *store.Tx) (err error) {
			n, err = tx.InsertEvents(ctx, []crmhub.Event{e, e})
			return err
		})
		require.Equal(t, 1, n)
		es, err := s.EventsOfCustomer(ctx, c.ID)
		require.NoError(t, err)
		require.Len(t, es, 1)
		require.Equal(t, "black-friday", es[0].Attributes["campaign"])
		require.Equal(t, at, es[0].OccurredAt)
	})
}

func TestDeadLetters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		dl := store.DeadLetter{Key: "msg-1/map", Handler: "map", Topic: "records.raw", Source: "erp",
			Entity: "customer", ExternalID: "C-1", Payload: []byte(`{"broken"`), Reason: "unexpected end of JSON",
			Metadata: map[string]string{"line": "7"}}
		var id int64
		inTx(t, s, func(tx *store.Tx) (err error) {
			id, err = tx.AddDeadLetter(ctx, dl)
			return err
		})
		dl.Reason = "still broken"
		dl.Attempts = 3
		inTx(t, s, func(tx *store.Tx) error {
			again, err := tx.AddDeadLetter(ctx, dl)
			require.Equal(t, id, again, "the same failing message keeps its row")
			return err
		})
		got, err := s.DeadLetter(ctx, id)
		require.NoError(t, err)
		require.Equal(t, 4, got.Attempts)
		require.Equal(t, "still broken", got.Reason)
		require.Equal(t, []byte(`{"broken"`), got.Payload)
		require.Equal(t, "7", got.Metadata["line"])
		require.False(t, got.LastSeen.Before(got.FirstSeen))

		list, err := s.DeadLetters(ctx, 0, 10)
		require.NoError(t, err)
		require.Len(t, list, 1)
		n, err := s.CountDeadLetters(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
		byKey, err := s.DeadLetterByKey(ctx, "msg-1/map")
		require.NoError(t, err)
		require.Equal(t, id, byKey.ID)
		_, err = s.DeadLetterByKey(ctx, "nope")
		require.ErrorIs(t, err, crmhub.ErrNotFound)
		inTx(t, s, func(tx *store.Tx) error { return tx.DeleteDeadLetter(ctx, id) })
		_, err = s.DeadLetter(ctx, id)
		require.ErrorIs(t, err, crmhub.ErrNotFound)
		err = s.InTx(ctx, func(tx *store.Tx) error { return tx.DeleteDeadLetter(ctx, id) })
		require.ErrorIs(t, err, crmhub.ErrNotFound)
	})
}

func TestMergeLog(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		m := crmhub.Merge{ID: crmhub.NewID(crmhub.MergeIDPrefix), SurvivorID: "cus_a", MergedIDs: []string{"cus_b", "cus_c"},
			Rule: "fuzzy", Score: 0.97, Actor: "system", Reason: "same passport at the counter",
			Evidence: []crmhub.Evidence{{Field: "last_name", Left: "Al Amiri", Right: "Alamiri", Score: 0.93, Weight: 4.1}}}
		inTx(t, s, func(tx *store.Tx) error { return tx.RecordMerge(ctx, m) })
		got, err := s.Merge(ctx, m.ID)
		require.NoError(t, err)
		require.Equal(t, m.MergedIDs, got.MergedIDs)
		require.Equal(t, m.Reason, got.Reason)
		require.Equal(t, m.Evidence, got.Evidence)
		require.False(t, got.Undone())

		for _, id := range []string{"cus_a", "cus_c"} {
			ms, err := s.MergesOf(ctx, id)
			require.NoError(t, err)
			require.Len(t, ms, 1, id)
		}
		inTx(t, s, func(tx *store.Tx) error { return tx.UndoMerge(ctx, m.ID, "ops@example.com") })
		err = s.InTx(ctx, func(tx *store.Tx) error { return tx.UndoMerge(ctx, m.ID, "ops@example.com") })
		require.ErrorIs(t, err, crmhub.ErrConflict)
		err = s.InTx(ctx, func(tx *store.Tx) error { return tx.UndoMerge(ctx, "mrg_nope", "x") })
		require.ErrorIs(t, err, crmhub.ErrNotFound)
		got, err = s.Merge(ctx, m.ID)
		require.NoError(t, err)
		require.True(t, got.Undone())
		require.Equal(t, "ops@example.com", got.UndoneBy)

		err = s.InTx(ctx, func(tx *store.Tx) error {
			return tx.RecordMerge(ctx, crmhub.Merge{ID: crmhub.NewID(crmhub.MergeIDPrefix), SurvivorID: "cus_a",
				MergedIDs: []string{"cus_a"}, Rule: "email", Actor: "system"})
		})
		require.ErrorIs(t, err, crmhub.ErrInvalid)
	})
}

func TestTokensAreStoredHashed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var tok store.Token
		var secret string
		inTx(t, s, func(tx *store.Tx) (err error) {
			tok, secret, err = tx.CreateToken(ctx, "mis-reporting", store.ScopeRead)
			return err
		})
		require.Greater(t, len(secret), 40)

		got, err := s.Authenticate(ctx, secret)
		require.NoError(t, err)
		require.Equal(t, tok.ID, got.ID)
		require.True(t, got.Allows(store.ScopeRead))
		require.False(t, got.Allows(store.ScopeWrite))
		_, err = s.Authenticate(ctx, secret+"x")
		require.ErrorIs(t, err, crmhub.ErrNotFound)

		dump := dumpTable(t, s, "api_tokens")
		require.NotContains(t, dump, secret, "the token itself is never stored")
		require.NotContains(t, dump, secret[len("crmhub_"):])

		inTx(t, s, func(tx *store.Tx) error { return tx.RevokeToken(ctx, tok.ID) })
		_, err = s.Authenticate(ctx, secret)
		require.ErrorIs(t, err, crmhub.ErrNotFound, "a revoked token no longer authenticates")
		toks, err := s.Tokens(ctx)
		require.NoError(t, err)
		require.Len(t, toks, 1)
		require.True(t, toks[0].RevokedAt.Valid)
		require.False(t, toks[0].Allows(store.ScopeRead))

		err = s.InTx(ctx, func(tx *store.Tx) error {
			_, _, err := tx.CreateToken(ctx, "x", "root")
			return err
		})
		require.ErrorIs(t, err, crmhub.ErrInvalid)
	})
}

func TestTokenScopes(t *testing.T) {
	tests := []struct {
		have, need string
		want       bool
	}{
		{store.ScopeRead, store.ScopeRead, true},
		{store.ScopeRead, store.ScopeWrite, false},
		{store.ScopeWrite, store.ScopeRead, true},
		{store.ScopeWrite, store.ScopeAdmin, false},
		{store.ScopeAdmin, store.ScopeWrite, true},
		{"bogus", store.ScopeRead, false},
		{store.ScopeAdmin, "bogus", false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, store.Token{Scope: tt.have}.Allows(tt.need), "%s needs %s", tt.have, tt.need)
	}
}

func TestCounts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a, b := newCustomer("a@x.io", ""), newCustomer("b@x.io", "")
		a.Identities = []crmhub.Identity{{Source: "s", ExternalID: "1"}}
		b.MergedInto = a.ID
		inTx(t, s, func(tx *store.Tx) error {
			if err := tx.UpsertCustomers(ctx, []crmhub.Customer{b, a}); err != nil {
				return err
			}
			_, err := tx.InsertRaw(ctx, []store.RawRecord{{Source: "s", Entity: "customer", ExternalID: "1", Payload: []byte("{}")}})
			return err
		})
		c, err := s.Counts(ctx)
		require.NoError(t, err)
		require.Equal(t, store.Counts{Customers: 1, Identities: 1, RawRecords: 1}, c)
		got, err := s.Customer(ctx, b.ID)
		require.NoError(t, err)
		require.Equal(t, a.ID, got.MergedInto, "a merged-away id keeps pointing at its survivor")
	})
}

func TestConcurrentUnitsOfWork(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const workers, each = 8, 25
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					c := newCustomer(fmt.Sprintf("w%d-%d@example.com", w, i), "")
					if err := s.InTx(ctx, func(tx *store.Tx) error {
						if _, err := tx.MarkProcessed(ctx, "persist", c.Email); err != nil {
							return err
						}
						return tx.UpsertCustomers(ctx, []crmhub.Customer{c})
					}); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		c, err := s.Counts(ctx)
		require.NoError(t, err)
		require.EqualValues(t, workers*each, c.Customers)
	})
}

// TestTwoProcessesShareOneSQLiteFile opens the same file twice, as two
// crmhub processes would, and writes from both at once: the busy timeout and
// immediate transactions must serialize them without errors.
func TestTwoProcessesShareOneSQLiteFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	var stores [2]*store.Store
	for i := range stores {
		s, err := store.Open(ctx, store.Options{Driver: store.DriverSQLite, DSN: path})
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		_, err = s.Migrate(ctx)
		require.NoError(t, err)
		stores[i] = s
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				c := newCustomer(fmt.Sprintf("p%d-%d@example.com", i, j), "")
				if err := s.InTx(ctx, func(tx *store.Tx) error { return tx.UpsertCustomers(ctx, []crmhub.Customer{c}) }); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	c, err := stores[0].Counts(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 100, c.Customers)
}

func TestOpenRejectsBadOptions(t *testing.T) {
	ctx := context.Background()
	for _, opts := range []store.Options{
		{Driver: "mysql", DSN: "x"},
		{Driver: store.DriverSQLite, DSN: ":memory:"},
		{Driver: store.DriverSQLite, DSN: "x.db?_journal_mode=DELETE"},
	} {
		_, err := store.Open(ctx, opts)
		require.Error(t, err, "%+v", opts)
	}
	_, err := store.Open(ctx, store.Options{Driver: store.DriverPostgres, DSN: "postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=1"})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "hunter2", "errors never echo the password")
}

// dumpTable renders every row of a table as text, to check what is stored.
func dumpTable(t *testing.T, s *store.Store, table string) string {
	t.Helper()
	out, err := store.DumpTable(context.Background(), s, table)
	require.NoError(t, err)
	return out
}

// TestRelaxedUnitsOfWork checks that a relaxed unit of work commits like any
// other and leaves the connection durable for the next one.
func TestRelaxedUnitsOfWork(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c := newCustomer("relaxed@example.com", "")
		require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
			return tx.UpsertCustomers(ctx, []crmhub.Customer{c})
		}, store.Relaxed()))
		_, err := s.Customer(ctx, c.ID)
		require.NoError(t, err)

		err = s.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.MarkProcessed(ctx, "persist", "r-1"); err != nil {
				return err
			}
			return errors.New("stage failed")
		}, store.Relaxed())
		require.Error(t, err)

		sync, err := store.SynchronousForTest(ctx, s)
		require.NoError(t, err)
		require.Equal(t, store.SyncDurable, sync, "the next unit of work is durable again")
	})
}

// TestSharedUnitsOfWork runs many concurrent units of work through one
// shared transaction: the ones that fail or panic are rolled back alone.
func TestSharedUnitsOfWork(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const n = 300
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.InTxShared(ctx, func(tx *store.Tx) error {
					if _, err := tx.MarkProcessed(ctx, "persist", fmt.Sprint("k", i)); err != nil {
						return err
					}
					c := newCustomer(fmt.Sprintf("shared%d@example.com", i), "")
					if err := tx.UpsertCustomers(ctx, []crmhub.Customer{c}); err != nil {
						return err
					}
					switch i % 10 {
					case 3:
						return fmt.Errorf("unit %d failed", i)
					case 7:
						panic(fmt.Sprintf("unit %d panicked", i))
					}
					return nil
				}, store.Relaxed())
			}()
		}
		wg.Wait()
		ok := 0
		for i, err := range errs {
			switch i % 10 {
			case 3:
				require.ErrorContains(t, err, "failed")
			case 7:
				require.ErrorContains(t, err, "panicked")
			default:
				require.NoError(t, err)
				ok++
			}
		}
		c, err := s.Counts(ctx)
		require.NoError(t, err)
		require.EqualValues(t, ok, c.Customers, "exactly the units that succeeded committed")
		// A failed unit's idempotency mark went with it: it is still new.
		var first bool
		require.NoError(t, s.InTx(ctx, func(tx *store.Tx) (err error) {
			first, err = tx.MarkProcessed(ctx, "persist", "k3")
			return err
		}))
		require.True(t, first)
		require.NoError(t, s.InTx(ctx, func(tx *store.Tx) (err error) {
			first, err = tx.MarkProcessed(ctx, "persist", "k4")
			return err
		}))
		require.False(t, first)
	})
}

// TestOnRollback covers the callbacks that let state outside the
// database follow a unit of work: they run when it does not commit, newest
// first, and never when it commits; in a shared transaction only the
// failed unit's run.
func TestOnRollback(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var ran []int
		require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
			tx.OnRollback(func() { ran = append(ran, 1) })
			return nil
		}))
		require.Empty(t, ran, "a commit runs none")

		require.Error(t, s.InTx(ctx, func(tx *store.Tx) error {
			tx.OnRollback(func() { ran = append(ran, 1) })
			tx.OnRollback(func() { ran = append(ran, 2) })
			return errors.New("fail")
		}))
		require.Equal(t, []int{2, 1}, ran, "a rollback runs them newest first")

		require.Panics(t, func() {
			_ = s.InTx(ctx, func(tx *store.Tx) error {
				tx.OnRollback(func() { ran = append(ran, 3) })
				panic("boom")
			})
		})
		require.Equal(t, []int{2, 1, 3}, ran, "a panic rolls back too")

		const units = 40
		var mu sync.Mutex
		undone := map[int]bool{}
		var wg sync.WaitGroup
		for i := range units {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.InTxShared(ctx, func(tx *store.Tx) error {
					tx.OnRollback(func() {
						mu.Lock()
						undone[i] = true
						mu.Unlock()
					})
					if i%3 == 0 {
						return fmt.Errorf("unit %d fails", i)
					}
					return nil
				})
				require.Equal(t, i%3 == 0, err != nil)
			}()
		}
		wg.Wait()
		for i := range units {
			require.Equal(t, i%3 == 0, undone[i], "unit %d", i)
		}
	})
}

// TestCheckpointsInTheBackground checks that committed pages reach the
// database file without the writer checkpointing: the checkpointer runs
// after commits, and the data is whole when the store is opened again.
func TestCheckpointsInTheBackground(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ckpt.db")
	s, err := store.Open(ctx, store.Options{Driver: store.DriverSQLite, DSN: path})
	require.NoError(t, err)
	_, err = s.Migrate(ctx)
	require.NoError(t, err)
	for range 20 {
		cs := make([]crmhub.Customer, 50)
		for i := range cs {
			cs[i] = newCustomer(fmt.Sprintf("c%s@example.com", crmhub.NewID("x")), "")
		}
		inTx(t, s, func(tx *store.Tx) error { return tx.UpsertCustomers(ctx, cs) })
	}
	require.Eventually(t, func() bool { return store.CheckpointRuns(s) > 0 }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, s.Close())

	s, err = store.Open(ctx, store.Options{Driver: store.DriverSQLite, DSN: path})
	require.NoError(t, err)
	defer s.Close()
	counts, err := s.Counts(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1000, counts.Customers)
}
