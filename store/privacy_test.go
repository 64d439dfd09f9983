package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

func TestSuppressionEntries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sup, err := s.Suppressor(ctx)
		require.NoError(t, err)
		again, err := s.Suppressor(ctx)
		require.NoError(t, err)
		email := sup.Email("sara@example.com")
		require.Equal(t, email, again.Email("sara@example.com"), "the key is the store's, stable")
		require.NotContains(t, email, "sara")
		require.NotEqual(t, email, sup.Hash(store.SuppressPhone, "sara@example.com"), "the kind is part of the entry")
		require.NotEqual(t, sup.Record("shop", "customer", "1001"), sup.Record("shop", "order", "1001"))
		require.NotEqual(t, sup.Record("shop", "customer", "1"), sup.Record("shop", "custome", "r1"),
			"fields are separated, not concatenated")

		other := storetest.SQLite(t)
		otherSup, err := other.Suppressor(ctx)
		require.NoError(t, err)
		require.NotEqual(t, email, otherSup.Email("sara@example.com"), "each store hashes under its own key")

		phone := sup.Phone("+971501234567")
		inTx(t, s, func(tx *store.Tx) error {
			return tx.Suppress(ctx, "prv_1", map[string]string{email: store.SuppressEmail, phone: store.SuppressPhone})
		})
		inTx(t, s, func(tx *store.Tx) error {
			return tx.Suppress(ctx, "prv_2", map[string]string{email: store.SuppressEmail})
		})
		hit, err := s.Suppressed(ctx, []string{email, sup.Email("omar@example.com"), phone})
		require.NoError(t, err)
		require.Equal(t, map[string]bool{email: true, phone: true}, hit)

		inTx(t, s, func(tx *store.Tx) error { return tx.CountDropped(ctx, []string{email}) })
		inTx(t, s, func(tx *store.Tx) error { return tx.CountDropped(ctx, []string{email, phone, email}) })
		st, err := s.SuppressionStats(ctx)
		require.NoError(t, err)
		require.Equal(t, store.SuppressionStats{Entries: 2, Dropped: 4}, st, "every drop counts, two in one batch too")
	})
}

func TestPrivacyRequests(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var first store.PrivacyRequest
		inTx(t, s, func(tx *store.Tx) error {
			var fresh bool
			var err error
			first, fresh, err = tx.AddPrivacyRequest(ctx, store.PrivacyRequest{Origin: "key-1",
				Kind: string(crmhub.PrivacyDataRequest), Source: "shop", ExternalID: "9999"})
			require.True(t, fresh)
			return err
		})
		require.True(t, crmhub.HasIDPrefix(first.ID, crmhub.PrivacyIDPrefix))
		require.Equal(t, store.PrivacyReceived, first.Status)
		inTx(t, s, func(tx *store.Tx) error {
			again, fresh, err := tx.AddPrivacyRequest(ctx, store.PrivacyRequest{Origin: "key-1", Kind: "redact"})
			require.False(t, fresh, "the same origin is the same request")
			require.Equal(t, first.ID, again.ID)
			require.Equal(t, string(crmhub.PrivacyDataRequest), again.Kind)
			return err
		})
		err := s.InTx(ctx, func(tx *store.Tx) error {
			_, _, err := tx.AddPrivacyRequest(ctx, store.PrivacyRequest{Kind: "redact"})
			return err
		})
		require.ErrorIs(t, err, crmhub.ErrInvalid)

		export := []byte(`{"profiles":[{"email":"sara@example.com"}]}`)
		inTx(t, s, func(tx *store.Tx) error {
			return tx.FinishPrivacyRequest(ctx, first.ID, store.PrivacyDone, []byte(`{"profiles":["cus_1"]}`), export, "")
		})
		got, err := s.PrivacyRequest(ctx, first.ID)
		require.NoError(t, err)
		require.Equal(t, store.PrivacyDone, got.Status)
		require.JSONEq(t, string(export), string(got.Export))
		require.JSONEq(t, `{"profiles":["cus_1"]}`, string(got.Summary))
		require.True(t, got.FinishedAt.Valid)

		var second store.PrivacyRequest
		inTx(t, s, func(tx *store.Tx) (err error) {
			second, _, err = tx.AddPrivacyRequest(ctx, store.PrivacyRequest{Origin: "key-2", Kind: "redact"})
			return err
		})
		inTx(t, s, func(tx *store.Tx) error {
			return tx.FinishPrivacyRequest(ctx, second.ID, store.PrivacyFailed, nil, nil, "store unavailable")
		})
		list, err := s.PrivacyRequests(ctx, "", 10)
		require.NoError(t, err)
		require.Len(t, list, 2)
		require.Equal(t, first.ID, list[0].ID)
		require.Nil(t, list[0].Export, "lists leave exports out")
		require.Equal(t, "store unavailable", list[1].Error)
		rest, err := s.PrivacyRequests(ctx, first.ID, 10)
		require.NoError(t, err)
		require.Len(t, rest, 1)

		exports, err := s.PrivacyExports(ctx)
		require.NoError(t, err)
		require.Len(t, exports, 1)
		inTx(t, s, func(tx *store.Tx) error {
			n, err := tx.DropPrivacyExports(ctx, []string{first.ID})
			require.EqualValues(t, 1, n)
			return err
		})
		got, err = s.PrivacyRequest(ctx, first.ID)
		require.NoError(t, err)
		require.Nil(t, got.Export)
		require.Equal(t, store.PrivacyDone, got.Status, "the request stays")
		_, err = s.PrivacyRequest(ctx, "prv_nope")
		require.ErrorIs(t, err, crmhub.ErrNotFound)
	})
}

func TestErasureTasks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var req store.PrivacyRequest
		inTx(t, s, func(tx *store.Tx) (err error) {
			req, _, err = tx.AddPrivacyRequest(ctx, store.PrivacyRequest{Origin: "o", Kind: "redact"})
			return err
		})
		tasks := []store.ErasureTask{
			{RequestID: req.ID, Destination: "klaviyo", CustomerID: "cus_1", Subject: []byte(`{"email_sha256":["ab"]}`)},
			{RequestID: req.ID, Destination: "shopify-tags", CustomerID: "cus_1"},
		}
		inTx(t, s, func(tx *store.Tx) error { return tx.AddErasureTasks(ctx, tasks) })
		inTx(t, s, func(tx *store.Tx) error { return tx.AddErasureTasks(ctx, tasks[:1]) })

		all, err := s.ErasureTasks(ctx, "", "", 0, 10)
		require.NoError(t, err)
		require.Len(t, all, 2, "a task is recorded once")
		pending, err := s.ErasureTasks(ctx, "klaviyo", store.ErasurePending, 0, 10)
		require.NoError(t, err)
		require.Len(t, pending, 1)
		k := pending[0]
		require.JSONEq(t, `{"email_sha256":["ab"]}`, string(k.Subject))

		inTx(t, s, func(tx *store.Tx) error { return tx.FinishErasureTask(ctx, k.ID, fmt.Errorf("klaviyo answered 503")) })
		pending, err = s.ErasureTasks(ctx, "klaviyo", store.ErasurePending, 0, 10)
		require.NoError(t, err)
		require.Len(t, pending, 1, "a failed attempt leaves the task pending")
		require.Equal(t, 1, pending[0].Attempts)
		require.Equal(t, "klaviyo answered 503", pending[0].LastError)

		inTx(t, s, func(tx *store.Tx) error { return tx.FinishErasureTask(ctx, k.ID, nil) })
		done, err := s.ErasureTasks(ctx, "klaviyo", store.ErasureDone, 0, 10)
		require.NoError(t, err)
		require.Len(t, done, 1)
		require.JSONEq(t, `{}`, string(done[0].Subject), "a done task forgets whom it was about")
		require.Equal(t, 2, done[0].Attempts)
		err = s.InTx(ctx, func(tx *store.Tx) error { return tx.FinishErasureTask(ctx, 999999, nil) })
		require.ErrorIs(t, err, crmhub.ErrNotFound)
	})
}

// person is a profile with everything that hangs off it, for the erasure
// tests.
type person struct {
	c      crmhub.Customer
	merged crmhub.Customer // a profile merged into c
	order  string
	raw    int64
	dead   int64
}

func seedPerson(t *testing.T, s *store.Store, email, phone, lastName, source, extID string) person {
	t.Helper()
	ctx := context.Background()
	p := person{c: newCustomer(email, phone), merged: newCustomer("", "")}
	p.c.LastName = lastName
	p.merged.FirstName, p.merged.LastName = "", lastName
	p.c.Identities = []crmhub.Identity{{Source: source, Type: "shopify", ExternalID: extID}}
	p.merged.MergedInto = p.c.ID
	doc, err := json.Marshal(map[string]any{"fields": map[string]any{"emails": []string{email}, "last_name": []string{lastName}}})
	require.NoError(t, err)
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	inTx(t, s, func(tx *store.Tx) error {
		if err := tx.UpsertCustomers(ctx, []crmhub.Customer{p.c, p.merged}); err != nil {
			return err
		}
		if _, err := tx.PutIdentityRecord(ctx, store.IdentityRecord{RecordKey: store.RecordKey{Source: source, ExternalID: extID},
			Doc: doc, Feat: "f"}); err != nil {
			return err
		}
		if err := tx.AddSplit(ctx, store.Split{ID: crmhub.NewID(crmhub.SplitIDPrefix), Sides: [][]store.RecordKey{
			{{Source: source, ExternalID: extID}}, {{Source: "erp", ExternalID: "other-" + extID}}}}, "ops"); err != nil {
			return err
		}
		if err := tx.AddLink(ctx, store.Link{A: store.RecordKey{Source: source, ExternalID: extID},
			B: store.RecordKey{Source: "erp", ExternalID: "linked-" + extID}}, "ops"); err != nil {
			return err
		}
		if err := tx.RecordMerge(ctx, crmhub.Merge{ID: crmhub.NewID(crmhub.MergeIDPrefix), SurvivorID: p.c.ID,
			MergedIDs: []string{p.merged.ID}, Rule: "email", Actor: "system",
			Evidence: []crmhub.Evidence{{Field: "last_name", Left: lastName, Right: lastName, Score: 1}}}); err != nil {
			return err
		}
		var err error
		if p.order, _, err = tx.UpsertOrder(ctx, crmhub.Order{Source: source, ExternalID: "o-" + extID, CustomerID: p.c.ID,
			Currency: "AED", Total: decimal.RequireFromString("10.00"),
			LineItems: []crmhub.LineItem{{SKU: "TEE", Quantity: 1, UnitPrice: decimal.RequireFromString("10.00")}},
			CreatedAt: at, UpdatedAt: at}); err != nil {
			return err
		}
		if _, err := tx.InsertEvents(ctx, []crmhub.Event{{Source: "ga4", ExternalID: "e-" + extID, CustomerID: p.c.ID,
			Type: "session", OccurredAt: at, Attributes: map[string]string{"email": email}}}); err != nil {
			return err
		}
		raw := []store.RawRecord{{Source: source, Entity: "customer", ExternalID: extID, Payload: []byte(`{"email":"` + email + `"}`)}}
		if _, err := tx.InsertRaw(ctx, raw); err != nil {
			return err
		}
		p.raw = raw[0].ID
		p.dead, err = tx.AddDeadLetter(ctx, store.DeadLetter{Key: "dl-" + extID, Handler: "map", Topic: "records.raw",
			Source: source, Entity: "customer", ExternalID: extID, Payload: raw[0].Payload, Reason: "broken"})
		return err
	})
	return p
}

func TestEraseLeavesNoRowOfThePerson(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sara := seedPerson(t, s, "sara@example.com", "+971501234567", "Amiri", "shop", "7039114952811000001")
		omar := seedPerson(t, s, "omar@example.com", "+971509999999", "Haddad", "shop", "7039114952811000002")
		require.NotEmpty(t, storetest.Find(t, s, "sara@example.com"), "the seed holds the person")

		var res store.EraseResult
		err := s.InTx(ctx, func(tx *store.Tx) (err error) {
			res, err = tx.Erase(ctx, store.Erasure{Customers: []string{sara.c.ID}, RawRecords: []int64{sara.raw},
				DeadLetters: []int64{sara.dead}})
			return err
		}, store.SecureDelete())
		require.NoError(t, err)
		require.ElementsMatch(t, []string{sara.c.ID, sara.merged.ID}, res.Customers, "profiles merged into the person go too")
		for _, table := range []string{"customers", "customer_emails", "customer_phones", "identities", "identity_records",
			"identity_splits", "identity_links", "merges", "merge_members", "orders", "line_items", "events",
			"raw_records", "dead_letters"} {
			require.Positive(t, res.Rows[table], table)
		}
		require.Empty(t, storetest.Find(t, s, "sara@example.com", "+971501234567", "Amiri", "7039114952811000001"))
		_, err = s.Scrub(ctx, []string{"customers", "raw_records"})
		require.NoError(t, err)

		// The other person is untouched.
		got, err := s.Customer(ctx, omar.c.ID)
		require.NoError(t, err)
		require.Equal(t, "omar@example.com", got.Email)
		os, err := s.OrdersOfCustomer(ctx, omar.c.ID)
		require.NoError(t, err)
		require.Len(t, os, 1)
		ms, err := s.MergesOf(ctx, omar.c.ID)
		require.NoError(t, err)
		require.Len(t, ms, 1)
		_, err = s.DeadLetter(ctx, omar.dead)
		require.NoError(t, err)
		recs, err := s.IdentityRecordsOfCustomers(ctx, []string{omar.c.ID})
		require.NoError(t, err)
		require.Len(t, recs, 1)

		err = s.InTx(ctx, func(tx *store.Tx) (err error) {
			res, err = tx.Erase(ctx, store.Erasure{Customers: []string{sara.c.ID}, RawRecords: []int64{sara.raw}})
			return err
		})
		require.NoError(t, err)
		require.Empty(t, res.Rows, "erasing again finds nothing")
	})
}

func TestEraseSource(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		shop := seedPerson(t, s, "sara@example.com", "", "Amiri", "shop", "1")
		erp := seedPerson(t, s, "omar@example.com", "", "Haddad", "erp", "C-1")
		// A profile with records of both sources.
		both := newCustomer("both@example.com", "")
		both.Identities = []crmhub.Identity{{Source: "shop", ExternalID: "2"}, {Source: "erp", ExternalID: "C-2"}}
		inTx(t, s, func(tx *store.Tx) error {
			if err := tx.SaveCheckpoint(ctx, "shop", "customers", `{"id":"1"}`); err != nil {
				return err
			}
			if _, err := tx.ClaimDelivery(ctx, "shop", []string{"webhook:1"}); err != nil {
				return err
			}
			return tx.UpsertCustomers(ctx, []crmhub.Customer{both})
		})

		var se store.SourceErasure
		inTx(t, s, func(tx *store.Tx) (err error) {
			se, err = tx.EraseSource(ctx, "shop")
			return err
		})
		require.ElementsMatch(t, []string{shop.c.ID, both.ID}, se.Profiles)
		for _, table := range []string{"raw_records", "dead_letters", "orders", "line_items", "identity_records",
			"identities", "checkpoints", "deliveries"} {
			require.Positive(t, se.Erased[table], table)
		}
		var n int
		require.NoError(t, s.ReadDB().QueryRowContext(ctx, "SELECT COUNT(*) FROM identities WHERE source = 'shop'").Scan(&n))
		require.Zero(t, n)
		left, err := s.Customer(ctx, both.ID)
		require.NoError(t, err)
		require.Equal(t, []crmhub.Identity{{Source: "erp", ExternalID: "C-2"}}, left.Identities,
			"profiles stay for the caller; their other sources' records stay")
		_, err = s.DeadLetter(ctx, erp.dead)
		require.NoError(t, err, "other sources keep their data")
		_, err = s.Checkpoint(ctx, "shop", "customers")
		require.ErrorIs(t, err, crmhub.ErrNotFound)
	})
}

func TestDeleteRawOf(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		inTx(t, s, func(tx *store.Tx) error {
			_, err := tx.InsertRaw(ctx, []store.RawRecord{
				{Source: "erp", Entity: "customer", ExternalID: "C-1", Payload: []byte("v1")},
				{Source: "erp", Entity: "customer", ExternalID: "C-1", Payload: []byte("v2")},
				{Source: "erp", Entity: "order", ExternalID: "C-1", Payload: []byte("order")},
				{Source: "erp", Entity: "customer", ExternalID: "C-2", Payload: []byte("other")},
			})
			return err
		})
		inTx(t, s, func(tx *store.Tx) error {
			n, err := tx.DeleteRawOf(ctx, "erp", "C-1", []string{"customer", "lead"})
			require.EqualValues(t, 2, n, "every version of the record, of the given entities only")
			return err
		})
		left, err := s.RawRecords(ctx, "", 0, 10)
		require.NoError(t, err)
		require.Len(t, left, 2)
	})
}
