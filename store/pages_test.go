package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

// walkCustomers reads every page of CustomerPage, limit profiles at a
// time, calling between(page number) after each page, and returns the ids
// in the order they came.
func walkCustomers(t *testing.T, s *store.Store, f store.CustomerFilter, limit int, between func(int)) []string {
	t.Helper()
	var ids []string
	after := ""
	for page := 0; ; page++ {
		cs, err := s.CustomerPage(context.Background(), f, after, limit)
		require.NoError(t, err)
		require.LessOrEqual(t, len(cs), limit)
		for _, c := range cs {
			require.Greater(t, c.ID, after, "pages come in id order")
			ids = append(ids, c.ID)
			after = c.ID
		}
		if len(cs) < limit {
			return ids
		}
		if between != nil {
			between(page)
		}
	}
}

func TestCustomerPageFilters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		profile := func(first, last string, emails, phones, segments []string, updated time.Time) crmhub.Customer {
			c := crmhub.Customer{ID: crmhub.NewID(crmhub.CustomerIDPrefix), FirstName: first, LastName: last,
				Emails: emails, Phones: phones, Segments: segments, CreatedAt: t0, UpdatedAt: updated}
			if len(emails) > 0 {
				c.Email = emails[0]
			}
			if len(phones) > 0 {
				c.Phone = phones[0]
			}
			return c
		}
		byName := map[string]crmhub.Customer{
			"sara": profile("Sara", "Al Amiri", []string{"sara@example.com", "sara.work@example.ae"},
				[]string{"+971501234567"}, []string{"loyal"}, t0),
			"omar": profile("Omar", "Haddad", []string{"omar@example.com"}, []string{"+971509876543"},
				[]string{"champions", "loyal"}, t0.Add(time.Hour)),
			"ali": profile("Ali", "Sarabi", []string{"ali@example.org"}, nil, nil, t0.Add(2*time.Hour)),
			"zoe": profile("Zoe", "O_Neil", []string{"zoe@example.com"}, nil, []string{"new"}, t0.Add(3*time.Hour)),
		}
		tomb := profile("Sara", "Old", []string{"sara@example.com"}, nil, []string{"loyal"}, t0.Add(4*time.Hour))
		tomb.MergedInto = byName["sara"].ID
		cs := []crmhub.Customer{tomb}
		for _, c := range byName {
			cs = append(cs, c)
		}
		inTx(t, s, func(tx *store.Tx) error { return tx.UpsertCustomers(ctx, cs) })

		tests := []struct {
			name   string
			filter store.CustomerFilter
			want   []string
		}{
			{"everyone live", store.CustomerFilter{}, []string{"sara", "omar", "ali", "zoe"}},
			{"query in a name or an email", store.CustomerFilter{Query: "sara"}, []string{"sara", "ali"}},
			{"query ignores case", store.CustomerFilter{Query: "SARA"}, []string{"sara", "ali"}},
			{"query across first and last name", store.CustomerFilter{Query: "a al am"}, []string{"sara"}},
			{"query in a second email", store.CustomerFilter{Query: "example.ae"}, []string{"sara"}},
			{"query in a phone", store.CustomerFilter{Query: "9876"}, []string{"omar"}},
			{"underscore is no wildcard", store.CustomerFilter{Query: "o_n"}, []string{"zoe"}},
			{"percent is no wildcard", store.CustomerFilter{Query: "%"}, nil},
			{"email", store.CustomerFilter{Email: "sara.work@example.ae"}, []string{"sara"}},
			{"email of a tombstone too", store.CustomerFilter{Email: "sara@example.com"}, []string{"sara"}},
			{"phone", store.CustomerFilter{Phone: "+971509876543"}, []string{"omar"}},
			{"segment", store.CustomerFilter{Segment: "loyal"}, []string{"sara", "omar"}},
			{"segment is a whole element", store.CustomerFilter{Segment: "loy"}, nil},
			{"updated since", store.CustomerFilter{UpdatedSince: t0.Add(time.Hour)}, []string{"omar", "ali", "zoe"}},
			{"filters combine", store.CustomerFilter{Segment: "loyal", Query: "haddad"}, []string{"omar"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				var want []string
				for _, n := range tc.want {
					want = append(want, byName[n].ID)
				}
				slices.Sort(want)
				got := walkCustomers(t, s, tc.filter, 2, nil)
				require.Equal(t, want, got)
			})
		}

		page, err := s.CustomerPage(ctx, store.CustomerFilter{Phone: "+971501234567"}, "", 10)
		require.NoError(t, err)
		require.Len(t, page, 1)
		require.Equal(t, byName["sara"].Emails, page[0].Emails, "pages hold whole profiles")
		_, err = s.CustomerPage(ctx, store.CustomerFilter{}, "", 0)
		require.ErrorIs(t, err, crmhub.ErrInvalid)
	})
}

// TestCustomerPageWhileUpdating walks the profiles while, between every
// two pages, all of them are updated (each gets a new updated_at, in a new
// order every time) and one is created; between the first pages one that the
// walk has not reached yet is merged away.
func TestCustomerPageWhileUpdating(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var cs []crmhub.Customer
		for i := range 20 {
			cs = append(cs, newCustomer(fmt.Sprintf("p%d@example.com", i), ""))
		}
		inTx(t, s, func(tx *store.Tx) error { return tx.UpsertCustomers(ctx, cs) })

		mergedAway := map[string]bool{}
		var created []string
		clock := time.Now().UTC()
		shuffle := rand.New(rand.NewPCG(1, 2))
		got := walkCustomers(t, s, store.CustomerFilter{}, 3, func(page int) {
			// A new order of updated_at every time.
			for _, i := range shuffle.Perm(len(cs)) {
				clock = clock.Add(time.Second)
				cs[i].UpdatedAt = clock
				cs[i].FirstName = fmt.Sprintf("Sara %d", page)
			}
			// In the first pages, merge away a profile from the end of the
			// id order, which the walk has not reached yet.
			if page < 3 {
				last := len(cs) - 1 - page
				cs[last].MergedInto = cs[0].ID
				mergedAway[cs[last].ID] = true
			}
			nc := newCustomer(fmt.Sprintf("new%d@example.com", page), "")
			created = append(created, nc.ID)
			inTx(t, s, func(tx *store.Tx) error { return tx.UpsertCustomers(ctx, append(slices.Clone(cs), nc)) })
		})

		seen := map[string]int{}
		for _, id := range got {
			seen[id]++
		}
		for _, c := range cs {
			if mergedAway[c.ID] {
				require.Zero(t, seen[c.ID], "a profile merged away before the walk reached it is not listed")
				continue
			}
			require.Equal(t, 1, seen[c.ID], "profile %s listed %d times", c.ID, seen[c.ID])
		}
		for _, id := range created {
			require.LessOrEqual(t, seen[id], 1, "a profile created during the walk is listed at most once")
		}
		require.NotEmpty(t, mergedAway, "the walk crossed pages")
	})
}

func TestOrderPage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		sara := withIdentities(newCustomer("sara@example.com", ""), "c-sara")
		omar := withIdentities(newCustomer("omar@example.com", ""), "c-omar")
		inTx(t, s, func(tx *store.Tx) error { return tx.UpsertCustomers(ctx, []crmhub.Customer{sara, omar}) })

		// Orders o-0..o-5 alternate between Sara and Omar, an hour apart;
		// o-4 is deleted.
		type fixture struct {
			owner   string
			updated time.Time
			deleted bool
		}
		orders := map[string]fixture{}
		inTx(t, s, func(tx *store.Tx) error {
			for i := range 6 {
				cust, owner := "c-sara", sara.ID
				if i%2 == 1 {
					cust, owner = "c-omar", omar.ID
				}
				at := t0.Add(time.Duration(i) * time.Hour)
				id, _, err := tx.UpsertOrder(ctx, shopOrder(fmt.Sprintf("o-%d", i), cust, at))
				if err != nil {
					return err
				}
				orders[id] = fixture{owner: owner, updated: at, deleted: i == 4}
			}
			_, err := tx.DeleteOrder(ctx, "main-store", "o-4", t0.Add(10*time.Hour))
			return err
		})

		tests := []struct {
			name   string
			filter store.OrderFilter
			keep   func(fixture) bool
		}{
			{"every order", store.OrderFilter{}, func(fixture) bool { return true }},
			{"of a customer", store.OrderFilter{CustomerID: sara.ID}, func(f fixture) bool { return f.owner == sara.ID }},
			{"updated since", store.OrderFilter{UpdatedSince: t0.Add(2 * time.Hour)},
				func(f fixture) bool { return !f.updated.Before(t0.Add(2 * time.Hour)) }},
			{"both", store.OrderFilter{CustomerID: omar.ID, UpdatedSince: t0.Add(2 * time.Hour)},
				func(f fixture) bool { return f.owner == omar.ID && !f.updated.Before(t0.Add(2*time.Hour)) }},
			{"unknown customer", store.OrderFilter{CustomerID: "cus_nobody"}, func(fixture) bool { return false }},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				var want []string
				for id, f := range orders {
					if !f.deleted && tc.keep(f) {
						want = append(want, id)
					}
				}
				slices.Sort(want)
				var got []string
				for after := ""; ; {
					page, err := s.OrderPage(ctx, tc.filter, after, 2)
					require.NoError(t, err)
					for _, o := range page {
						require.Greater(t, o.ID, after, "pages come in id order")
						require.Equal(t, orders[o.ID].owner, o.CustomerID, "orders carry the profile they belong to")
						require.Len(t, o.LineItems, 1)
						got = append(got, o.ID)
						after = o.ID
					}
					if len(page) < 2 {
						break
					}
				}
				require.Equal(t, want, got)
			})
		}
		_, err := s.OrderPage(ctx, store.OrderFilter{}, "", -1)
		require.ErrorIs(t, err, crmhub.ErrInvalid)
	})
}
