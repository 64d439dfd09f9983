package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/api"
	"github.com/crmhub/crmhub/store"
)

// listPage is the body of a list endpoint.
type listPage[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

// walk reads every page of a list path (with its query), limit records at
// a time, calling between after each page but the last, and returns the
// records in the order they came.
func walk[T any](t *testing.T, f *fixture, path string, limit int, between func()) []T {
	t.Helper()
	var out []T
	cursor := ""
	for {
		u, err := url.Parse(path)
		require.NoError(t, err)
		q := u.Query()
		q.Set("limit", fmt.Sprint(limit))
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		u.RawQuery = q.Encode()
		var p listPage[T]
		f.get(t, u.String(), &p)
		require.NotNil(t, p.Data, "data is a list, empty or not")
		require.LessOrEqual(t, len(p.Data), limit)
		out = append(out, p.Data...)
		if p.NextCursor == nil {
			return out
		}
		require.Len(t, p.Data, limit, "only the last page is short")
		cursor = *p.NextCursor
		if between != nil {
			between()
		}
	}
}

func idsOf(cs []crmhub.Customer) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

func person(first, last, email, phone string, segments ...string) crmhub.Customer {
	c := crmhub.Customer{ID: crmhub.NewID(crmhub.CustomerIDPrefix), FirstName: first, LastName: last, Segments: segments}
	if email != "" {
		c.Email, c.Emails = email, []string{email}
	}
	if phone != "" {
		c.Phone, c.Phones = phone, []string{phone}
	}
	return c
}

func upsert(t *testing.T, s *store.Store, cs ...crmhub.Customer) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error { return tx.UpsertCustomers(ctx, cs) }))
}

func TestListCustomers(t *testing.T) {
	f := newFixture(t, func(o *api.RESTOptions) { o.MaxPageSize = 3 })
	t0 := time.Date(2026, 5, 2, 10, 0, 0, 0, time.UTC)
	people := map[string]crmhub.Customer{
		"sara": person("Sara", "Al Amiri", "sara@example.com", "+971501234567", "loyal"),
		"omar": person("Omar", "Haddad", "omar@example.com", "+971509876543", "champions", "loyal"),
		"reza": person("رضا", "Karimi", "reza@example.ir", ""),
		"ali":  person("Ali", "Sarabi", "", "+4915112345678"),
	}
	for name, c := range people {
		c.UpdatedAt = t0
		if name == "reza" || name == "ali" {
			c.UpdatedAt = t0.Add(time.Hour)
		}
		people[name] = c
	}
	tomb := person("Sara", "Al Amiri", "sara@example.com", "", "loyal")
	tomb.MergedInto = people["sara"].ID
	upsert(t, f.store, append(slices.Collect(maps.Values(people)), tomb)...)

	tests := []struct {
		name, query string
		want        []string
	}{
		{"everyone live", "", []string{"sara", "omar", "reza", "ali"}},
		{"q in a name", "q=sara", []string{"sara", "ali"}},
		{"q in a non-latin name", "q=" + url.QueryEscape("رضا"), []string{"reza"}},
		{"q in an email", "q=example.ir", []string{"reza"}},
		{"q in a phone", "q=4915", []string{"ali"}},
		{"email normalized", "email=" + url.QueryEscape(" Sara@Example.COM "), []string{"sara"}},
		{"phone", "phone=" + url.QueryEscape("+971509876543"), []string{"omar"}},
		{"phone with an unencoded plus", "phone=+971509876543", []string{"omar"}},
		{"phone with Eastern Arabic digits", "phone=" + url.QueryEscape("+٩٧١٥٠٩٨٧٦٥٤٣"), []string{"omar"}},
		{"segment", "segment=loyal", []string{"sara", "omar"}},
		{"updated since", "updated_since=" + url.QueryEscape(t0.Add(time.Minute).Format(time.RFC3339)), []string{"reza", "ali"}},
		{"filters combine", "segment=loyal&q=haddad", []string{"omar"}},
		{"nothing matches", "email=nobody@example.com", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := []string{}
			for _, n := range tc.want {
				want = append(want, people[n].ID)
			}
			slices.Sort(want)
			got := walk[crmhub.Customer](t, f, "/api/v1/customers?"+tc.query, 2, nil)
			require.Equal(t, want, idsOf(got))
		})
	}

	t.Run("profiles come whole", func(t *testing.T) {
		var p listPage[crmhub.Customer]
		f.get(t, "/api/v1/customers?email=omar@example.com", &p)
		require.Len(t, p.Data, 1)
		require.Equal(t, people["omar"].Segments, p.Data[0].Segments)
		require.Equal(t, people["omar"].Phones, p.Data[0].Phones)
		require.Nil(t, p.NextCursor)
	})
	t.Run("limit is clamped", func(t *testing.T) {
		var p listPage[crmhub.Customer]
		f.get(t, "/api/v1/customers?limit=1000", &p)
		require.Len(t, p.Data, 3, "the fixture caps pages at 3")
		require.NotNil(t, p.NextCursor)
	})
	t.Run("bad filters", func(t *testing.T) {
		for _, q := range []string{"email=not-an-email", "phone=12", "updated_since=soon", "limit=0", "limit=-1",
			"cursor=djE6", "cursor=bm9wZQ", "q=a&q=b"} {
			resp, body := f.do(t, http.MethodGet, "/api/v1/customers?"+q, f.token[store.ScopeRead], nil)
			requireError(t, resp, body, http.StatusBadRequest, api.CodeInvalidParameter)
		}
	})
}

// TestPagingWhileProfilesAreUpdated pages through every customer while a
// writer goroutine keeps updating all of them, each round giving every
// profile a new updated_at, in a new order, and a new name; between two
// pages the reader waits for the writer to finish a round. Every id must
// come exactly once.
func TestPagingWhileProfilesAreUpdated(t *testing.T) {
	f := newFixture(t)
	var cs []crmhub.Customer
	for i := range 60 {
		cs = append(cs, person("Sara", fmt.Sprint(i), fmt.Sprintf("p%d@example.com", i), ""))
	}
	upsert(t, f.store, cs...)

	ctx, cancel := context.WithCancel(context.Background())
	rounds := make(chan int)
	writerDone := make(chan error, 1)
	go func() {
		clock := time.Now().UTC()
		shuffle := rand.New(rand.NewPCG(1, 2))
		for round := 1; ; round++ {
			// A new order of updated_at every round: whatever order a
			// page was read in does not hold for the next one.
			for _, i := range shuffle.Perm(len(cs)) {
				clock = clock.Add(time.Millisecond)
				cs[i].UpdatedAt = clock
				cs[i].FirstName = fmt.Sprintf("Sara %d", round)
			}
			err := f.store.InTx(ctx, func(tx *store.Tx) error { return tx.UpsertCustomers(ctx, cs) })
			if err != nil {
				if ctx.Err() != nil {
					err = nil // stopped in the middle of a round
				}
				writerDone <- err
				return
			}
			select {
			case rounds <- round:
			case <-ctx.Done():
				writerDone <- nil
				return
			}
		}
	}()
	seen := 0
	got := walk[crmhub.Customer](t, f, "/api/v1/customers", 7, func() { seen = <-rounds })
	cancel()
	require.NoError(t, <-writerDone)

	require.Greater(t, seen, 3, "the writer updated every profile between pages")
	count := map[string]int{}
	for _, c := range got {
		count[c.ID]++
	}
	for _, c := range cs {
		require.Equal(t, 1, count[c.ID], "profile %s came %d times", c.ID, count[c.ID])
	}
	require.Len(t, got, len(cs))
}

func TestGetCustomer(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	at := time.Date(2026, 5, 2, 10, 0, 0, 0, time.UTC)
	sara := person("Sara", "Al Amiri", "sara@example.com", "+971501234567", "loyal")
	sara.Identities = []crmhub.Identity{{Source: "erp", Type: "webhook", ExternalID: "C-1042"},
		{Source: "main-store", Type: "shopify", ExternalID: "7039114952811"}}
	sara.Provenance = map[string]crmhub.FieldSource{"email": {Source: "main-store", ExternalID: "7039114952811", At: at}}
	old := person("Sara", "Amiri", "sara@example.com", "")
	older := person("S.", "Amiri", "", "+971501234567")
	old.MergedInto, older.MergedInto = sara.ID, old.ID
	upsert(t, f.store, sara, old, older)
	m := crmhub.Merge{ID: crmhub.NewID(crmhub.MergeIDPrefix), SurvivorID: sara.ID, MergedIDs: []string{old.ID},
		Rule: "email", Score: 1, Actor: "system", CreatedAt: at,
		Evidence: []crmhub.Evidence{{Field: "email", Left: "sara@example.com", Right: "sara@example.com", Score: 1}}}
	require.NoError(t, f.store.InTx(ctx, func(tx *store.Tx) error { return tx.RecordMerge(ctx, m) }))

	type detail struct {
		crmhub.Customer
		Merges []crmhub.Merge `json:"merges"`
	}
	var got detail
	f.get(t, "/api/v1/customers/"+sara.ID, &got)
	// The body is spliced from the stored profile: the same bytes as
	// encoding the profile and its merges.
	stored, err := f.store.Customer(ctx, sara.ID)
	require.NoError(t, err)
	merges, err := f.store.MergesOf(ctx, sara.ID)
	require.NoError(t, err)
	want, err := json.Marshal(detail{Customer: stored, Merges: merges})
	require.NoError(t, err)
	_, body := f.do(t, http.MethodGet, "/api/v1/customers/"+sara.ID, f.token[store.ScopeRead], nil)
	require.Equal(t, string(want)+"\n", string(body))
	require.Equal(t, sara.ID, got.ID)
	require.Equal(t, sara.Identities, got.Identities)
	require.Equal(t, sara.Provenance, got.Provenance)
	require.Len(t, got.Merges, 1)
	require.Equal(t, m.ID, got.Merges[0].ID)
	require.Equal(t, []string{old.ID}, got.Merges[0].MergedIDs)
	require.Equal(t, m.Evidence, got.Merges[0].Evidence)

	t.Run("a merged-away id redirects to the live profile", func(t *testing.T) {
		for _, id := range []string{old.ID, older.ID} {
			for suffix, query := range map[string]string{"": "", "/timeline": "?limit=5"} {
				resp, body := f.do(t, http.MethodGet, "/api/v1/customers/"+id+suffix+query, f.token[store.ScopeRead], nil)
				require.Equal(t, http.StatusPermanentRedirect, resp.StatusCode, "%s", body)
				want := "/api/v1/customers/" + sara.ID + suffix + query
				require.Equal(t, want, resp.Header.Get("Location"))
				require.Equal(t, "no-store", resp.Header.Get("Cache-Control"), "a merge can be undone")
				require.JSONEq(t, fmt.Sprintf(`{"id":%q,"merged_into":%q,"location":%q}`, id, sara.ID, want), string(body))
			}
		}
	})
	t.Run("clients that follow redirects get the survivor", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodGet, f.url+"/api/v1/customers/"+older.ID, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+f.token[store.ScopeRead])
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "/api/v1/customers/"+sara.ID, resp.Request.URL.Path)
	})
}

func TestCustomerTimeline(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	t0 := time.Date(2026, 5, 2, 10, 0, 0, 0, time.UTC)
	sara := person("Sara", "Al Amiri", "sara@example.com", "")
	sara.Identities = []crmhub.Identity{{Source: "main-store", Type: "shopify", ExternalID: "c-1"}}
	other := person("Omar", "Haddad", "omar@example.com", "")
	upsert(t, f.store, sara, other)

	// Orders at hours 0, 2, 4, events at hours 1, 3, 5 and one at hour 4
	// as well; Omar has an event of his own.
	want := map[string]time.Time{}
	require.NoError(t, f.store.InTx(ctx, func(tx *store.Tx) error {
		for i := range 3 {
			at := t0.Add(time.Duration(2*i) * time.Hour)
			id, _, err := tx.UpsertOrder(ctx, crmhub.Order{Source: "main-store", ExternalID: fmt.Sprint("o-", i),
				CustomerExternalID: "c-1", Currency: "AED", Total: decimal.RequireFromString("95.00"),
				CreatedAt: at, UpdatedAt: at})
			if err != nil {
				return err
			}
			want[id] = at
		}
		var es []crmhub.Event
		for _, h := range []int{1, 3, 4, 5} {
			es = append(es, crmhub.Event{ID: crmhub.NewID(crmhub.EventIDPrefix), Source: "ga4", CustomerID: sara.ID,
				Type: "page_view", OccurredAt: t0.Add(time.Duration(h) * time.Hour)})
			want[es[len(es)-1].ID] = es[len(es)-1].OccurredAt
		}
		es = append(es, crmhub.Event{ID: crmhub.NewID(crmhub.EventIDPrefix), Source: "ga4", CustomerID: other.ID,
			Type: "page_view", OccurredAt: t0})
		_, err := tx.InsertEvents(ctx, es)
		return err
	}))

	type entry struct {
		Kind  string        `json:"kind"`
		At    time.Time     `json:"at"`
		Order *crmhub.Order `json:"order"`
		Event *crmhub.Event `json:"event"`
	}
	got := walk[entry](t, f, "/api/v1/customers/"+sara.ID+"/timeline", 2, nil)
	require.Len(t, got, len(want))
	seen := map[string]bool{}
	for i, e := range got {
		var id string
		switch e.Kind {
		case "order":
			require.NotNil(t, e.Order)
			require.Nil(t, e.Event)
			id = e.Order.ID
		case "event":
			require.NotNil(t, e.Event)
			require.Nil(t, e.Order)
			id = e.Event.ID
		default:
			t.Fatalf("entry %d: kind %q", i, e.Kind)
		}
		require.Contains(t, want, id, "only Sara's orders and events")
		require.False(t, seen[id], "entry %s listed twice", id)
		seen[id] = true
		require.True(t, want[id].Equal(e.At))
		if i > 0 {
			require.False(t, e.At.After(got[i-1].At), "newest first")
		}
	}

	resp, body := f.do(t, http.MethodGet, "/api/v1/customers/cus_nobody/timeline", f.token[store.ScopeRead], nil)
	requireError(t, resp, body, http.StatusNotFound, api.CodeNotFound)
	resp, body = f.do(t, http.MethodGet, "/api/v1/customers/"+sara.ID+"/timeline?cursor=djE6bm9wZQ", f.token[store.ScopeRead], nil)
	requireError(t, resp, body, http.StatusBadRequest, api.CodeInvalidParameter)
}

func TestListOrders(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	t0 := time.Date(2026, 5, 2, 10, 0, 0, 0, time.UTC)
	sara := person("Sara", "Al Amiri", "sara@example.com", "")
	sara.Identities = []crmhub.Identity{{Source: "main-store", Type: "shopify", ExternalID: "c-sara"}}
	omar := person("Omar", "Haddad", "omar@example.com", "")
	omar.Identities = []crmhub.Identity{{Source: "main-store", Type: "shopify", ExternalID: "c-omar"}}
	upsert(t, f.store, sara, omar)
	owner := map[string]string{}
	updated := map[string]time.Time{}
	require.NoError(t, f.store.InTx(ctx, func(tx *store.Tx) error {
		for i := range 5 {
			cust, id := "c-sara", sara.ID
			if i%2 == 1 {
				cust, id = "c-omar", omar.ID
			}
			at := t0.Add(time.Duration(i) * time.Hour)
			oid, _, err := tx.UpsertOrder(ctx, crmhub.Order{Source: "main-store", ExternalID: fmt.Sprint("o-", i),
				CustomerExternalID: cust, Currency: "AED", Total: decimal.RequireFromString("95.00"),
				LineItems: []crmhub.LineItem{{SKU: "TEE", Quantity: 1, UnitPrice: decimal.RequireFromString("95.00")}},
				CreatedAt: at, UpdatedAt: at})
			if err != nil {
				return err
			}
			owner[oid], updated[oid] = id, at
		}
		return nil
	}))
	idsWhere := func(keep func(id string) bool) []string {
		var ids []string
		for id := range owner {
			if keep(id) {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		return ids
	}
	orderIDs := func(os []crmhub.Order) []string {
		var ids []string
		for _, o := range os {
			require.Equal(t, owner[o.ID], o.CustomerID)
			require.Len(t, o.LineItems, 1)
			ids = append(ids, o.ID)
		}
		return ids
	}
	since := t0.Add(2 * time.Hour)
	tests := []struct {
		name, query string
		keep        func(id string) bool
	}{
		{"all", "", func(string) bool { return true }},
		{"of a customer", "customer_id=" + omar.ID, func(id string) bool { return owner[id] == omar.ID }},
		{"updated since", "updated_since=" + url.QueryEscape(since.Format(time.RFC3339)),
			func(id string) bool { return !updated[id].Before(since) }},
		{"unknown customer", "customer_id=cus_nobody", func(string) bool { return false }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := walk[crmhub.Order](t, f, "/api/v1/orders?"+tc.query, 2, nil)
			require.Equal(t, idsWhere(tc.keep), orderIDs(got))
		})
	}
}
