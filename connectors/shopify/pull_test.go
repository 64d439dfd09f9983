package shopify_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/connectors/shopify"
	"github.com/crmhub/crmhub/connectors/shopify/shopifytest"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/store"
)

// ingestLander lands pulled pages through the pipeline's entry point,
// with their checkpoint, as crmhub sync does. fail, when set, is asked
// before each page.
type ingestLander struct {
	in     *pipeline.Ingester
	source string
	pages  int
	fail   func(page int) error
}

func (l *ingestLander) Land(ctx context.Context, envs []crmhub.Envelope, stream, cursor string) error {
	l.pages++
	if l.fail != nil {
		if err := l.fail(l.pages); err != nil {
			return err
		}
	}
	return l.in.Ingest(ctx, envs, &pipeline.Checkpoint{Source: l.source, Stream: stream, Cursor: cursor})
}

// puller is a customer pull of source main-store from a fake shop into
// a hub's store.
type puller struct {
	h      *hub
	shop   *shopifytest.Server
	client *shopify.Client
	land   *ingestLander
	pull   *shopify.CustomerPull
}

func newPuller(t testing.TB, h *hub, shop *shopifytest.Server, pageSize int) *puller {
	t.Helper()
	c, err := shopify.NewClient(shopify.ClientConfig{Shop: "example.myshopify.com", AccessToken: shop.Token(),
		BaseURL: shop.URL(), Timeout: time.Second, MinBackoff: 5 * time.Millisecond,
		MaxBackoff: 50 * time.Millisecond}, nil)
	require.NoError(t, err)
	l := &ingestLander{in: pipeline.NewIngester(h.store, h.bus, true), source: "main-store"}
	p, err := shopify.NewCustomerPull(c, l, h.store, shopify.PullConfig{Source: "main-store", PageSize: pageSize}, nil)
	require.NoError(t, err)
	return &puller{h: h, shop: shop, client: c, land: l, pull: p}
}

// landed counts the customer records of main-store in the raw table:
// all of them and distinct ids.
func landed(t testing.TB, s *store.Store) (rows, ids int64) {
	t.Helper()
	require.NoError(t, s.ReadDB().QueryRow(`SELECT COUNT(*), COUNT(DISTINCT external_id) FROM raw_records
		WHERE source = 'main-store' AND entity = 'customer'`).Scan(&rows, &ids))
	return rows, ids
}

func checkpoint(t testing.TB, s *store.Store) shopify.Cursor {
	t.Helper()
	cp, err := s.Checkpoint(context.Background(), "main-store", shopify.StreamCustomers)
	require.NoError(t, err)
	var c shopify.Cursor
	require.NoError(t, json.Unmarshal([]byte(cp.Cursor), &c))
	return c
}

var start = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func TestPullLandsEachCustomerOnceAndRerunChangesNothing(t *testing.T) {
	h := newHub(t, hubOptions{})
	shop := shopifytest.New(t, shopifytest.Options{RestoreRate: 1000})
	cs := shopifytest.Generate(5000, start)
	shop.Put(cs...)
	p := newPuller(t, h, shop, 250)

	got, err := p.pull.Run(context.Background(), nil)
	require.NoError(t, err)
	require.Equal(t, 5000, got.Records)
	rows, ids := landed(t, h.store)
	require.EqualValues(t, 5000, rows)
	require.EqualValues(t, 5000, ids)
	last := cs[len(cs)-1]
	require.Equal(t, shopify.Cursor{UpdatedAt: last.UpdatedAt, ID: strconv.FormatInt(last.ID, 10)}, checkpoint(t, h.store))

	before := rowCounts(t, h.store)
	again, err := p.pull.Run(context.Background(), nil)
	require.NoError(t, err)
	// The second pull re-reads only the overlap window before the
	// checkpoint, and the raw table keeps nothing of it twice.
	require.Less(t, again.Records, 5000)
	require.Positive(t, again.Records)
	require.Equal(t, before["raw_records"], rowCounts(t, h.store)["raw_records"])
	require.Equal(t, before["checkpoints"], rowCounts(t, h.store)["checkpoints"])
	require.Equal(t, shopify.Cursor{UpdatedAt: last.UpdatedAt, ID: strconv.FormatInt(last.ID, 10)}, checkpoint(t, h.store))

	// A customer changed since is pulled as a new version.
	changed := cs[10]
	changed.Email, changed.UpdatedAt = "new.address@example.com", last.UpdatedAt.Add(time.Hour)
	shop.Put(changed)
	_, err = p.pull.Run(context.Background(), nil)
	require.NoError(t, err)
	rows, ids = landed(t, h.store)
	require.EqualValues(t, 5001, rows)
	require.EqualValues(t, 5000, ids)
}

func TestInterruptedPullResumesToTheSameCounts(t *testing.T) {
	cs := shopifytest.Generate(3000, start)

	whole := newHub(t, hubOptions{})
	shop := shopifytest.New(t, shopifytest.Options{RestoreRate: 1000})
	shop.Put(cs...)
	_, err := newPuller(t, whole, shop, 100).pull.Run(context.Background(), nil)
	require.NoError(t, err)

	for _, stopAfter := range []int{1, 7, 29} {
		h := newHub(t, hubOptions{})
		p := newPuller(t, h, shop, 100)
		ctx, cancel := context.WithCancel(context.Background())
		_, err := p.pull.Run(ctx, func(pr shopify.Progress) {
			if pr.Pages == stopAfter {
				cancel()
			}
		})
		cancel()
		require.ErrorIs(t, err, context.Canceled)
		rows, _ := landed(t, h.store)
		require.EqualValues(t, stopAfter*100, rows, "stopped after %d pages", stopAfter)

		_, err = p.pull.Run(context.Background(), nil)
		require.NoError(t, err)
		wantRows, wantIDs := landed(t, whole.store)
		rows, ids := landed(t, h.store)
		require.Equal(t, wantRows, rows)
		require.Equal(t, wantIDs, ids)
		require.EqualValues(t, 3000, ids)
		require.Equal(t, checkpoint(t, whole.store), checkpoint(t, h.store))
	}
}

func TestThrottledPullNeverSendsAQueryTheBucketCannotAfford(t *testing.T) {
	h := newHub(t, hubOptions{})
	// A small bucket, half spent by someone else: the first query is
	// refused, and from then on the client knows the bucket.
	shop := shopifytest.New(t, shopifytest.Options{MaximumAvailable: 120, RestoreRate: 500, Drained: 100})
	shop.Put(shopifytest.Generate(1500, start)...)
	p := newPuller(t, h, shop, 50)

	got, err := p.pull.Run(context.Background(), nil)
	require.NoError(t, err)
	require.Equal(t, 1500, got.Records)
	st := shop.Stats()
	require.Equal(t, 1, st.Throttled, "%+v", st)
	require.Zero(t, st.Violations, "%+v", st)
	require.Equal(t, 30, st.Pages)
	status, ok := p.client.Throttle()
	require.True(t, ok)
	require.Equal(t, 120.0, status.MaximumAvailable)
	_, ids := landed(t, h.store)
	require.EqualValues(t, 1500, ids)
}

func TestTransientFailuresAreRetried(t *testing.T) {
	for _, tc := range []struct {
		name    string
		faults  []shopifytest.Fault
		atLeast time.Duration
	}{
		{"429 with Retry-After", []shopifytest.Fault{shopifytest.TooManyRequests(time.Second)}, time.Second},
		{"500", []shopifytest.Fault{shopifytest.ServerError(http.StatusInternalServerError)}, 0},
		{"502 then 503", []shopifytest.Fault{shopifytest.ServerError(http.StatusBadGateway),
			shopifytest.ServerError(http.StatusServiceUnavailable)}, 0},
		{"slower than the timeout", []shopifytest.Fault{shopifytest.Slow(2 * time.Second)}, time.Second},
		{"5xx with a body that is not JSON", []shopifytest.Fault{{Status: http.StatusBadGateway, Body: "<html>bad gateway</html>"}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t, hubOptions{})
			shop := shopifytest.New(t, shopifytest.Options{})
			shop.Put(shopifytest.Generate(120, start)...)
			p := newPuller(t, h, shop, 50)
			shop.Fail(tc.faults...)
			t0 := time.Now()
			got, err := p.pull.Run(context.Background(), nil)
			require.NoError(t, err)
			require.GreaterOrEqual(t, time.Since(t0), tc.atLeast)
			require.Equal(t, 120, got.Records)
			require.Equal(t, 3+len(tc.faults), shop.Stats().Requests)
			_, ids := landed(t, h.store)
			require.EqualValues(t, 120, ids)
		})
	}
}

func TestAccessProblemsAreReportedNotRetried(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  shopifytest.Options
		fault []shopifytest.Fault
		token string
		want  []string
	}{
		{name: "401 rejected token", token: "shpat_revoked", want: []string{"401", "access_token"}},
		{name: "403 missing scope", fault: []shopifytest.Fault{shopifytest.Forbidden("read_customers")},
			want: []string{"403", "read_customers"}},
		{name: "ACCESS_DENIED in GraphQL", opts: shopifytest.Options{Scopes: []string{"read_orders"}},
			want: []string{"Access denied", "read_customers"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t, hubOptions{})
			shop := shopifytest.New(t, tc.opts)
			shop.Put(shopifytest.Generate(10, start)...)
			shop.Fail(tc.fault...)
			token := shop.Token()
			if tc.token != "" {
				token = tc.token
			}
			c, err := shopify.NewClient(shopify.ClientConfig{AccessToken: token, BaseURL: shop.URL(),
				MinBackoff: time.Millisecond}, nil)
			require.NoError(t, err)
			p, err := shopify.NewCustomerPull(c, &ingestLander{in: pipeline.NewIngester(h.store, h.bus, true),
				source: "main-store"}, h.store, shopify.PullConfig{Source: "main-store"}, nil)
			require.NoError(t, err)
			_, err = p.Run(context.Background(), nil)
			require.Error(t, err)
			require.True(t, crmhub.IsPermanent(err), "%v", err)
			var ae *shopify.APIError
			require.ErrorAs(t, err, &ae)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			require.NotContains(t, err.Error(), token)
			require.Equal(t, 1, shop.Stats().Requests)
			rows, _ := landed(t, h.store)
			require.Zero(t, rows)
		})
	}
}

func TestCheckpointNeverPassesUncommittedRecords(t *testing.T) {
	h := newHub(t, hubOptions{})
	shop := shopifytest.New(t, shopifytest.Options{})
	cs := shopifytest.Generate(500, start)
	shop.Put(cs...)
	p := newPuller(t, h, shop, 100)
	refused := errors.New("disk full")
	p.land.fail = func(page int) error {
		if page == 3 {
			return refused
		}
		return nil
	}
	got, err := p.pull.Run(context.Background(), nil)
	require.ErrorIs(t, err, refused)
	require.Equal(t, 2, got.Pages)
	cp := checkpoint(t, h.store)
	// The checkpoint is the last customer of page 2, and every customer
	// up to it is landed; none after it is.
	require.Equal(t, shopify.Cursor{UpdatedAt: cs[199].UpdatedAt, ID: "7039114952811000200"}, cp)
	rows, ids := landed(t, h.store)
	require.EqualValues(t, 200, rows)
	require.EqualValues(t, 200, ids)

	p.land.fail = nil
	_, err = p.pull.Run(context.Background(), nil)
	require.NoError(t, err)
	_, ids = landed(t, h.store)
	require.EqualValues(t, 500, ids)
}

func TestPulledAndWebhookCustomersMapToOneProfile(t *testing.T) {
	h := newHub(t, hubOptions{})
	shop := shopifytest.New(t, shopifytest.Options{})
	cs := shopifytest.Generate(20, start)
	shop.Put(cs...)
	stop := runPipeline(t, h)
	defer stop()
	_, err := newPuller(t, h, shop, 250).pull.Run(context.Background(), nil)
	require.NoError(t, err)
	// The webhook of customer 0, one minute newer, under its numeric id.
	body := []byte(`{"id":7039114952811000001,"email":"customer0@example.com","first_name":"Sara",` +
		`"last_name":"Al Amiri","tags":"","updated_at":"2026-03-01T14:01:00+04:00"}`)
	require.Equal(t, http.StatusOK, h.post(t, signed("main-store", "customers/update", body)))
	waitProcessed(t, h.store, 21)
	settle(t, h.store)
	c, err := h.store.Counts(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, 20, c.Customers)
	require.EqualValues(t, 20, c.Identities)
	require.Zero(t, c.DeadLetters)
}

// TestRecordedGraphQLCustomersMap feeds the customers of a recorded
// GraphQL Admin API answer through the conversion and the built-in
// mapping.
func TestRecordedGraphQLCustomersMap(t *testing.T) {
	path := filepath.Join("..", "..", "..", "shared", "data", "shopify", "graphql", "customers_first10_pagination.response.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("recorded Shopify payloads not found at %s (they live in ../shared/data)", path)
	}
	require.NoError(t, err)
	h := newHub(t, hubOptions{})
	fake := &recordedQuerier{answer: b}
	l := &ingestLander{in: pipeline.NewIngester(h.store, h.bus, true), source: "main-store"}
	p, err := shopify.NewCustomerPull(fake, l, h.store, shopify.PullConfig{Source: "main-store"}, nil)
	require.NoError(t, err)
	got, err := p.Run(context.Background(), nil)
	require.NoError(t, err)
	require.Equal(t, 10, got.Records)

	byEntity, err := shopify.Mappings()
	require.NoError(t, err)
	rules := byEntity[crmhub.EntityCustomer]
	var payload []byte
	require.NoError(t, h.store.ReadDB().QueryRow(`SELECT payload FROM raw_records WHERE source = 'main-store'
		AND entity = 'customer' AND external_id = '544365967'`).Scan(&payload))
	rec, err := mapping.JSONRecord(payload)
	require.NoError(t, err)
	m, err := rules.Apply(rec, mapping.Options{DefaultRegion: "US"})
	require.NoError(t, err)
	require.Equal(t, "544365967", m.ExternalID)
	require.Equal(t, "2005-06-16T15:57:11Z", m.Version)
	require.Equal(t, []string{"bob@example.com"}, m.Fields["email"])
	require.Equal(t, []string{"+13125551212"}, m.Fields["phone"])
	require.Equal(t, []string{"Bob"}, m.Fields["first_name"])
	require.Empty(t, m.Rejected)
}

// recordedQuerier answers the first query with a recorded data document
// and the next with an empty last page (the recording says there are
// more).
type recordedQuerier struct{ answer []byte }

func (q *recordedQuerier) Query(_ context.Context, _ string, _, out any) error {
	b := q.answer
	q.answer = []byte(`{"customers":{"edges":[],"pageInfo":{"hasNextPage":false,"endCursor":null}}}`)
	return json.Unmarshal(b, out)
}

func TestCustomerID(t *testing.T) {
	for _, tc := range []struct{ gid, want string }{
		{"gid://shopify/Customer/706405506930370084", "706405506930370084"},
		{"gid://shopify/Customer/1", "1"},
		{"gid://shopify/Order/1", ""},
		{"gid://shopify/Customer/", ""},
		{"gid://shopify/Customer/12a", ""},
		{"706405506930370084", ""},
	} {
		t.Run(tc.gid, func(t *testing.T) {
			got, err := shopify.CustomerID(tc.gid)
			if tc.want == "" {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
