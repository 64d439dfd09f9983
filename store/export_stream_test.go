package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

// exportFixture writes eight live profiles c0..c7 (every third in the
// "loyal" segment, every second with identities given out of order) and a
// tombstone merged into c0, and returns the live ids in id order and c0's.
func exportFixture(t *testing.T, s *store.Store) (live []string, c0 string) {
	t.Helper()
	ctx := context.Background()
	var cs []crmhub.Customer
	for i := range 8 {
		c := newCustomer(fmt.Sprintf("c%d@example.com", i), fmt.Sprintf("+97150123456%d", i))
		if i%3 == 0 {
			c.Segments = []string{"champions", "loyal"}
		}
		if i%2 == 0 {
			c.Identities = []crmhub.Identity{
				{Source: "main-store", Type: "shopify", ExternalID: fmt.Sprintf("70391149528%d", i)},
				{Source: "erp", Type: "webhook", ExternalID: fmt.Sprintf("C-%d", i)},
			}
		}
		cs = append(cs, c)
		live = append(live, c.ID)
	}
	dead := newCustomer("c0.old@example.com", "")
	dead.Segments = []string{"loyal"}
	dead.MergedInto = cs[0].ID
	cs = append(cs, dead)
	inTx(t, s, func(tx *store.Tx) error { return tx.UpsertCustomers(ctx, cs) })
	slices.Sort(live)
	return live, cs[0].ID
}

func collectCustomers(t *testing.T, s *store.Store, opts store.ExportOptions) []crmhub.Customer {
	t.Helper()
	var got []crmhub.Customer
	require.NoError(t, s.EachCustomer(context.Background(), opts, func(c crmhub.Customer) error {
		got = append(got, c)
		return nil
	}))
	return got
}

func idsOf(cs []crmhub.Customer) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

func TestEachCustomer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		live, c0 := exportFixture(t, s)

		// 1 and 3 cross page boundaries in the middle of the data, 4
		// divides it (the last page is full and the next one empty), 1000
		// holds it all.
		for _, page := range []int{1, 3, 4, 1000} {
			t.Run(fmt.Sprintf("page=%d", page), func(t *testing.T) {
				store.SetExportPageSize(t, page)
				got := collectCustomers(t, s, store.ExportOptions{})
				require.Equal(t, live, idsOf(got), "every live profile once, in id order, without the tombstone")
				for _, c := range got {
					want, err := s.Customer(ctx, c.ID)
					require.NoError(t, err)
					wantJSON, _ := json.Marshal(want)
					gotJSON, _ := json.Marshal(c)
					require.JSONEq(t, string(wantJSON), string(gotJSON), "an exported profile is what Customer returns")
				}
				require.Equal(t, []crmhub.Identity{
					{Source: "erp", Type: "webhook", ExternalID: "C-0"},
					{Source: "main-store", Type: "shopify", ExternalID: "703911495280"},
				}, got[slices.Index(idsOf(got), c0)].Identities, "identities sorted by source, external id")

				seg := collectCustomers(t, s, store.ExportOptions{Segment: "loyal"})
				require.Len(t, seg, 3, "c0, c3 and c6; not the tombstone")
				for _, c := range seg {
					require.Contains(t, c.Segments, "loyal")
				}
				require.True(t, slices.IsSorted(idsOf(seg)))
				require.Empty(t, collectCustomers(t, s, store.ExportOptions{Segment: "loy"}), "segments match whole")
			})
		}
	})
}

// TestEachCustomerJSONIsJSONMarshal: the NDJSON lines EachCustomerJSON
// writes from the stored documents are json.Marshal of the profiles
// EachCustomer reads, byte for byte, with every kind of field, with the
// segment and time filters, and for a document in another shape.
func TestEachCustomerJSONIsJSONMarshal(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		exportFixture(t, s)
		rich := newCustomer("<nadia&co>@example.com", "+971509999999")
		rich.FirstName, rich.LastName = "نادية", "O'Brien <\"Jr\">"
		rich.Birthday = crmhub.Date{Year: 1990, Month: 2, Day: 28}
		rich.Addresses = []crmhub.Address{{Line1: "12 Marina Walk", City: "Dubai", CountryCode: "AE"}}
		rich.Tags = []string{"vip", "newsletter"}
		rich.Segments = []string{"loyal"}
		rich.Attributes = map[string]string{"tier": "gold", "customer_no": "C-1\u2028"}
		clv := decimal.RequireFromString("1234.50")
		rich.CLV = &clv
		rich.RFM = &crmhub.RFM{R: 5, F: 4, M: 3, Segment: "Loyal"}
		rich.Provenance = map[string]crmhub.FieldSource{"email": {Source: "erp", ExternalID: "C-9"}}
		rich.Identities = []crmhub.Identity{{Source: "erp", Type: "webhook", ExternalID: "C-9"}}
		rich.CreatedAt = time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
		rich.UpdatedAt = time.Date(2026, 11, 2, 3, 4, 5, 0, time.UTC)
		bare := crmhub.Customer{ID: crmhub.NewID(crmhub.CustomerIDPrefix), Email: "bare@example.com", Emails: []string{"bare@example.com"}}
		inTx(t, s, func(tx *store.Tx) error { return tx.UpsertCustomers(ctx, []crmhub.Customer{rich, bare}) })

		check := func(t *testing.T, opts store.ExportOptions) {
			t.Helper()
			var want []byte
			for _, c := range collectCustomers(t, s, opts) {
				j, err := json.Marshal(c)
				require.NoError(t, err)
				want = append(append(want, j...), '\n')
				// One profile read alone is the same JSON.
				one, into, err := s.CustomerJSON(ctx, c.ID)
				require.NoError(t, err)
				require.Empty(t, into)
				require.Equal(t, string(j), string(one))
			}
			var got []byte
			require.NoError(t, s.EachCustomerJSON(ctx, opts, func(line []byte) error {
				got = append(got, line...)
				return nil
			}))
			require.NotEmpty(t, want)
			require.Equal(t, string(want), string(got))
		}
		store.SetExportPageSize(t, 3)
		check(t, store.ExportOptions{})
		check(t, store.ExportOptions{Segment: "loyal"})
		gone := newCustomer("gone@example.com", "")
		gone.MergedInto = rich.ID
		inTx(t, s, func(tx *store.Tx) error { return tx.UpsertCustomers(ctx, []crmhub.Customer{gone}) })
		doc, into, err := s.CustomerJSON(ctx, gone.ID)
		require.NoError(t, err)
		require.Nil(t, doc, "a merged-away profile has no JSON of its own")
		require.Equal(t, rich.ID, into)
		_, _, err = s.CustomerJSON(ctx, "cus_nobody")
		require.ErrorIs(t, err, crmhub.ErrNotFound)
		check(t, store.ExportOptions{UpdatedSince: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)})

		// A document written in another order is decoded and encoded.
		update := `UPDATE customers SET doc = ? WHERE id = ?`
		if s.Driver() == store.DriverPostgres {
			update = `UPDATE customers SET doc = $1 WHERE id = $2`
		}
		_, err = s.DB().ExecContext(ctx, update, `{"email":"bare@example.com","id":""}`, bare.ID)
		require.NoError(t, err)
		check(t, store.ExportOptions{})
	})
}

func TestEachCustomerUpdatedSince(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		store.SetExportPageSize(t, 2)
		t0 := time.Date(2026, 10, 28, 18, 41, 3, 0, time.UTC)
		var cs []crmhub.Customer
		for i, at := range []time.Time{t0.Add(-time.Hour), t0, t0.Add(time.Millisecond), t0.Add(-time.Nanosecond * 1000), t0.Add(48 * time.Hour)} {
			c := newCustomer(fmt.Sprintf("u%d@example.com", i), "")
			c.CreatedAt, c.UpdatedAt = t0.Add(-72*time.Hour), at
			cs = append(cs, c)
		}
		inTx(t, s, func(tx *store.Tx) error { return tx.UpsertCustomers(ctx, cs) })
		want := []string{cs[1].ID, cs[2].ID, cs[4].ID}
		slices.Sort(want)
		// A zone other than UTC names the same instant.
		got := collectCustomers(t, s, store.ExportOptions{UpdatedSince: t0.In(time.FixedZone("GST", 4*3600))})
		require.Equal(t, want, idsOf(got), "updated at or after the time, to the microsecond")
	})
}

func TestEachCustomerStopsOnError(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		live, _ := exportFixture(t, s)
		store.SetExportPageSize(t, 3)
		errFull := errors.New("disk full")
		var seen []string
		err := s.EachCustomer(context.Background(), store.ExportOptions{}, func(c crmhub.Customer) error {
			seen = append(seen, c.ID)
			if len(seen) == 4 {
				return errFull
			}
			return nil
		})
		require.ErrorIs(t, err, errFull, "fn's error comes back as it is")
		require.Equal(t, live[:4], seen, "and nothing is visited after it")

		ctx, cancel := context.WithCancel(context.Background())
		err = s.EachCustomer(ctx, store.ExportOptions{}, func(crmhub.Customer) error {
			cancel()
			return nil
		})
		require.ErrorIs(t, err, context.Canceled)

		// EachCustomerJSON reads ahead of fn: it stops all the same, and
		// ends its transaction, so that a writer can go on.
		var lines int
		err = s.EachCustomerJSON(context.Background(), store.ExportOptions{}, func([]byte) error {
			if lines++; lines == 4 {
				return errFull
			}
			return nil
		})
		require.ErrorIs(t, err, errFull)
		require.Equal(t, 4, lines)
		ctx, cancel = context.WithCancel(context.Background())
		err = s.EachCustomerJSON(ctx, store.ExportOptions{}, func([]byte) error {
			cancel()
			return nil
		})
		require.ErrorIs(t, err, context.Canceled)
		inTx(t, s, func(tx *store.Tx) error {
			return tx.UpsertCustomers(context.Background(), []crmhub.Customer{newCustomer("after@example.com", "")})
		})
	})
}

// TestEachCustomerSeesOneSnapshot commits writes between two pages of an
// iteration: a new profile, a merge of a profile not yet visited, a rename.
// The iteration sees none of them.
func TestEachCustomerSeesOneSnapshot(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		live, _ := exportFixture(t, s)
		store.SetExportPageSize(t, 2)
		before, err := s.Customers(ctx, live)
		require.NoError(t, err)

		var got []crmhub.Customer
		err = s.EachCustomer(ctx, store.ExportOptions{}, func(c crmhub.Customer) error {
			got = append(got, c)
			if len(got) != 1 {
				return nil
			}
			latecomer := newCustomer("late@example.com", "")
			merged, renamed := before[5], before[6]
			merged.MergedInto = live[0]
			renamed.FirstName = "Sarah"
			return s.InTx(ctx, func(tx *store.Tx) error {
				return tx.UpsertCustomers(ctx, []crmhub.Customer{latecomer, merged, renamed})
			})
		})
		require.NoError(t, err)
		require.Equal(t, live, idsOf(got), "no profile gained or lost while the iteration ran")
		require.Equal(t, "Sara", got[6].FirstName, "the profile as it was when the iteration began")

		after := collectCustomers(t, s, store.ExportOptions{})
		require.Len(t, after, len(live), "one new, one merged away")
		require.NotContains(t, idsOf(after), live[5])
	})
}

func TestEachOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		store.SetExportPageSize(t, 2)
		c := newCustomer("buyer@example.com", "")
		inTx(t, s, func(tx *store.Tx) error { return tx.UpsertCustomers(ctx, []crmhub.Customer{c}) })
		t0 := time.Date(2026, 10, 28, 18, 40, 0, 0, time.UTC)
		var ids []string
		inTx(t, s, func(tx *store.Tx) error {
			for i := range 5 {
				o := crmhub.Order{Source: "main-store", ExternalID: fmt.Sprint(5123456789012345670 + i), Number: fmt.Sprintf("#104%d", i),
					FinancialStatus: "paid", Currency: "AED", Subtotal: decimal.RequireFromString("190.00"),
					Tax: decimal.RequireFromString("9.005"), Total: decimal.RequireFromString("199.005"),
					CreatedAt: t0.Add(time.Duration(i) * time.Hour)}
				if i != 3 {
					o.CustomerID = c.ID // order 3 is a guest checkout
				}
				for j := range i {
					o.LineItems = append(o.LineItems, crmhub.LineItem{SKU: fmt.Sprintf("SKU-%d", j), Quantity: j + 1,
						UnitPrice: decimal.RequireFromString("95.00")})
				}
				if i == 4 {
					cancelled := t0.Add(50 * time.Hour)
					o.CancelledAt = &cancelled
				}
				id, _, err := tx.UpsertOrder(ctx, o)
				if err != nil {
					return err
				}
				ids = append(ids, id)
			}
			return nil
		})
		slices.Sort(ids)

		var got []crmhub.Order
		require.NoError(t, s.EachOrder(ctx, store.ExportOptions{}, func(o crmhub.Order) error {
			got = append(got, o)
			return nil
		}))
		require.Len(t, got, 5)
		for i, o := range got {
			require.Equal(t, ids[i], o.ID, "in id order")
			want, err := s.Order(ctx, o.Source, o.ExternalID)
			require.NoError(t, err)
			wantJSON, _ := json.Marshal(want)
			gotJSON, _ := json.Marshal(o)
			require.JSONEq(t, string(wantJSON), string(gotJSON), "an exported order is what Order returns")
			require.NotNil(t, o.LineItems, "no line items is [], not null")
		}
		items := 0
		for _, o := range got {
			items += len(o.LineItems)
		}
		require.Equal(t, 0+1+2+3+4, items)

		var recent []crmhub.Order
		require.NoError(t, s.EachOrder(ctx, store.ExportOptions{UpdatedSince: t0.Add(3 * time.Hour)}, func(o crmhub.Order) error {
			recent = append(recent, o)
			return nil
		}))
		require.Len(t, recent, 2)

		err := s.EachOrder(ctx, store.ExportOptions{Segment: "loyal"}, func(crmhub.Order) error { return nil })
		require.ErrorIs(t, err, crmhub.ErrInvalid)
	})
}

// TestEachCustomerInUnitOfWork iterates inside a unit of work, which sees
// its own uncommitted writes.
func TestEachCustomerInUnitOfWork(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		c := newCustomer("tx@example.com", "")
		inTx(t, s, func(tx *store.Tx) error {
			if err := tx.UpsertCustomers(ctx, []crmhub.Customer{c}); err != nil {
				return err
			}
			n := 0
			err := tx.EachCustomer(ctx, store.ExportOptions{}, func(crmhub.Customer) error { n++; return nil })
			require.Equal(t, 1, n)
			return err
		})
	})
}
