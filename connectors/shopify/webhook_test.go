package shopify_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/api"
	"github.com/crmhub/crmhub/config"
	"github.com/crmhub/crmhub/connectors/shopify"
	"github.com/crmhub/crmhub/internal/syncbuf"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/pipeline/bus"
	"github.com/crmhub/crmhub/pipeline/identity"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

const (
	secret      = "test-client-secret-not-real"
	otherSecret = "another-shops-secret"
)

// hub is a webhook receiver on a real SQLite store and bus, served over
// HTTP by the api server's handler.
type hub struct {
	store *store.Store
	bus   bus.PubSub
	url   string
	logs  *syncbuf.Buffer
}

type hubOptions struct {
	sources []shopify.WebhookSource
	maxBody int64
}

func newHub(t testing.TB, o hubOptions) *hub {
	t.Helper()
	if o.sources == nil {
		o.sources = []shopify.WebhookSource{
			{Name: "main-store", Shop: "example.myshopify.com", Secrets: []string{secret}},
			{Name: "other-store", Secrets: []string{otherSecret}},
		}
	}
	s := storetest.SQLite(t)
	b, err := bus.Open(context.Background(), bus.Options{Driver: bus.DriverSQLite, DB: s.DB(), ReadDB: s.ReadDB(),
		PollInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	wh, err := shopify.NewWebhooks(pipeline.NewIngester(s, b, true), log, o.sources...)
	require.NoError(t, err)
	srv, err := api.New(api.Options{Addr: "127.0.0.1:0", MaxBodyBytes: o.maxBody, Logger: log})
	require.NoError(t, err)
	srv.Handle(shopify.Pattern, wh)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &hub{store: s, bus: b, url: ts.URL, logs: logs}
}

// delivery is one webhook POST as Shopify makes it.
type delivery struct {
	source, topic, webhookID, eventID string
	body                              []byte
	// sig overrides the signature; "-" leaves the header out.
	sig string
}

func signed(source, topic string, body []byte) delivery {
	return delivery{source: source, topic: topic, body: body, webhookID: newID(), eventID: newID(), sig: shopify.Sign(secret, body)}
}

var ids atomic.Int64

func newID() string { return fmt.Sprintf("b54557e4-%012d", ids.Add(1)) }

func (h *hub) post(t testing.TB, d delivery) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+"/webhooks/shopify/"+d.source, bytes.NewReader(d.body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(shopify.HeaderTopic, d.topic)
	req.Header.Set(shopify.HeaderShopDomain, "example.myshopify.com")
	req.Header.Set(shopify.HeaderAPIVersion, "2026-01")
	if d.webhookID != "" {
		req.Header.Set(shopify.HeaderWebhookID, d.webhookID)
	}
	if d.eventID != "" {
		req.Header.Set(shopify.HeaderEventID, d.eventID)
	}
	if d.sig != "-" {
		req.Header.Set(shopify.HeaderHMAC, d.sig)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// rowCounts counts the rows of every table of the store, bus tables
// included.
func rowCounts(t testing.TB, s *store.Store) map[string]int64 {
	t.Helper()
	rows, err := s.ReadDB().Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	require.NoError(t, err)
	var tables []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		tables = append(tables, n)
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	out := map[string]int64{}
	for _, tbl := range tables {
		var n int64
		require.NoError(t, s.ReadDB().QueryRow(`SELECT COUNT(*) FROM "`+tbl+`"`).Scan(&n))
		out[tbl] = n
	}
	return out
}

func rawCount(t testing.TB, s *store.Store) int64 {
	t.Helper()
	c, err := s.Counts(context.Background())
	require.NoError(t, err)
	return c.RawRecords
}

// recorded returns the recorded webhook payloads with their topics, or
// skips the test when the shared data is absent (a fresh clone).
func recorded(t testing.TB) []delivery {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "data", "shopify", "webhooks")
	topics := map[string]string{
		"customers_create.shopify-test-notification.json":   "customers/create",
		"customers_create.older-sample.webhookdb-spec.json": "customers/update",
		"customers_data_request.json":                       "customers/data_request",
		"customers_redact.json":                             "customers/redact",
		"shop_redact.json":                                  "shop/redact",
		"orders_create.shopify-test-notification.json":      "orders/create",
		"order_rest_resource_example.webhookdb-spec.json":   "orders/updated",
		"products_create.shopify-test-notification.json":    "products/create",
	}
	var out []delivery
	for name, topic := range topics {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			t.Skipf("recorded Shopify webhooks not found in %s (they live in ../shared/data)", dir)
		}
		require.NoError(t, err)
		out = append(out, signed("main-store", topic, b))
	}
	return out
}

func TestSignMatchesShopify(t *testing.T) {
	// Vectors computed independently, see ../shared/data/shopify/HMAC_NOTES.md.
	require.Equal(t, "VnKUjZsLuN5iZWjn5EntcBVCF9kMN43LglzCE1/GSeY=", shopify.Sign("hush", []byte(`{"id":1}`)))
	dir := filepath.Join("..", "..", "..", "shared", "data", "shopify", "webhooks")
	for name, want := range map[string]string{
		"orders_create.shopify-test-notification.json": "puGuKCkeFwnNRKrBa8NavRlGSyzvBHBiRtyBte3YxDA=",
		"customers_redact.json":                        "McylbcwE2mFiumU0P4i7T7Am0sjUwVj/hN13KN0v1OA=",
	} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			t.Skip("recorded Shopify webhooks not found")
		}
		require.NoError(t, err)
		require.Equal(t, want, shopify.Sign(secret, b), name)
	}
}

func TestRecordedDeliveriesLandExactlyOnce(t *testing.T) {
	h := newHub(t, hubOptions{})
	ds := recorded(t)
	for _, d := range ds {
		require.Equal(t, http.StatusOK, h.post(t, d), d.topic)
	}
	recs, err := h.store.RawRecords(context.Background(), "", 0, 100)
	require.NoError(t, err)
	require.Len(t, recs, len(ds), "one raw record per delivery")
	byTopic := map[string]store.RawRecord{}
	for _, r := range recs {
		byTopic[r.Meta["topic"]] = r
		require.Equal(t, "main-store", r.Source)
		require.Equal(t, "2026-01", r.Meta["api_version"])
		require.NotEmpty(t, r.Meta["webhook_id"])
	}
	want := map[string]struct{ entity, id, version string }{
		"customers/create":       {"customer", "706405506930370000", "2021-12-31T19:00:00-05:00"},
		"customers/update":       {"customer", "706405506930370084", "2012-08-24T14:01:46-04:00"},
		"customers/redact":       {"privacy", "customers/redact:191167", ""},
		"customers/data_request": {"privacy", "customers/data_request:9999", ""},
		"shop/redact":            {"privacy", "shop/redact:954889", ""},
		"orders/create":          {"order", "820982911946154508", ""},
		"products/create":        {"unknown", "", ""},
	}
	for topic, w := range want {
		r, ok := byTopic[topic]
		require.True(t, ok, topic)
		require.Equal(t, w.entity, r.Entity, topic)
		if w.id != "" {
			require.Equal(t, w.id, r.ExternalID, topic+": ids keep every digit")
		}
		if w.version != "" {
			require.Equal(t, w.version, r.Version, topic)
		}
	}
	for _, d := range ds {
		require.Equal(t, d.body, byTopic[d.topic].Payload, "the raw body is kept byte for byte")
	}

	// Shopify's retries: the same delivery again changes nothing at all.
	before := rowCounts(t, h.store)
	for _, d := range ds {
		require.Equal(t, http.StatusOK, h.post(t, d), d.topic)
	}
	require.Equal(t, before, rowCounts(t, h.store))
}

func TestForgedDeliveriesGet401AndLeaveNoTrace(t *testing.T) {
	h := newHub(t, hubOptions{})
	body := []byte(`{"id":706405506930370084,"email":"forged.person@example.com","first_name":"Forged","updated_at":"2026-01-02T03:04:05Z"}`)
	before := rowCounts(t, h.store)
	forgeries := []func(d delivery) delivery{
		func(d delivery) delivery { d.sig = shopify.Sign("wrong-secret", d.body); return d },
		func(d delivery) delivery { // one flipped byte after signing
			b := bytes.Clone(d.body)
			b[rand.IntN(len(b))] ^= 0x01
			d.body = b
			return d
		},
		func(d delivery) delivery { d.sig = "-"; return d },
		func(d delivery) delivery { d.source = "other-store"; return d }, // signed for main-store
		func(d delivery) delivery { d.sig = shopify.Sign(otherSecret, d.body); return d },
		func(d delivery) delivery { d.sig = "not base64!"; return d },
		func(d delivery) delivery { d.sig = d.sig[:20]; return d },
		func(d delivery) delivery { d.body = append(bytes.Clone(d.body), ' '); return d },
	}
	var wg sync.WaitGroup
	codes := make([]int, 1000)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < len(codes); i += 8 {
				d := forgeries[i%len(forgeries)](signed("main-store", "customers/create", body))
				codes[i] = h.post(t, d)
			}
		})
	}
	wg.Wait()
	for i, c := range codes {
		require.Equal(t, http.StatusUnauthorized, c, "forgery %d", i)
	}
	require.Equal(t, before, rowCounts(t, h.store), "no row in any table")
	logs := h.logs.String()
	require.Contains(t, logs, "signature mismatch")
	for _, leak := range []string{"forged.person", "Forged", secret, otherSecret} {
		require.NotContains(t, logs, leak, "logs carry neither the body nor a secret")
	}

	// A source that does not exist is not found, and nothing is written.
	d := signed("no-such-store", "customers/create", body)
	require.Equal(t, http.StatusNotFound, h.post(t, d))
	require.Equal(t, before, rowCounts(t, h.store))
}

func TestReplaysWithSameAndNewWebhookIDsYieldNoDuplicate(t *testing.T) {
	h := newHub(t, hubOptions{})
	ds := recorded(t)
	for _, d := range ds {
		require.Equal(t, http.StatusOK, h.post(t, d))
	}
	stop := runPipeline(t, h)
	defer stop()
	waitProcessed(t, h.store, 4) // the two customer and the two order payloads
	settle(t, h.store)
	first := rowCounts(t, h.store)

	for range 3 {
		for _, d := range ds {
			require.Equal(t, http.StatusOK, h.post(t, d), "same webhook id")
			d.webhookID = newID()
			require.Equal(t, http.StatusOK, h.post(t, d), "new webhook id, same event")
			d.webhookID, d.eventID = newID(), newID()
			require.Equal(t, http.StatusOK, h.post(t, d), "new webhook and event ids")
		}
	}
	settle(t, h.store)
	after := rowCounts(t, h.store)
	for _, tbl := range []string{"raw_records", "customers", "identities", "identity_records", "dead_letters", "processed"} {
		require.Equal(t, first[tbl], after[tbl], tbl)
	}
	require.EqualValues(t, len(ds), after["raw_records"])
	require.EqualValues(t, 2, after["identities"], "two shop customers")
	require.EqualValues(t, 1, after["customers"], "the same email: one profile")
}

func TestStaleRetriesNeverOverwriteNewerVersions(t *testing.T) {
	// The stored record and the profile must show the newest version
	// whatever the order of arrival (for orders see
	// TestStaleOrderRetriesNeverOverwriteNewerVersions).
	h := newHub(t, hubOptions{})
	const customers, versions = 50, 10
	names := []string{"Amal", "Bilal", "Carmen", "Dara", "Elif", "Farid", "Goli", "Hana", "Idris", "Jana"}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type version struct {
		cust, v int
		body    []byte
	}
	var all []version
	for c := range customers {
		for v := range versions {
			body := fmt.Sprintf(`{"id":%d,"email":"person%d@example.com","first_name":%q,"last_name":"Customer","updated_at":%q}`,
				7039114952811000000+c, c, names[v], base.Add(time.Duration(v)*time.Minute).Format(time.RFC3339))
			all = append(all, version{c, v, []byte(body)})
		}
	}
	rng := rand.New(rand.NewPCG(7, 11))
	var plan []delivery
	for _, x := range all {
		plan = append(plan, signed("main-store", "customers/update", x.body))
	}
	// Stale retries: older versions again, as new deliveries and as
	// Shopify's retries of the very same delivery.
	for len(plan) < 1000 {
		d := plan[rng.IntN(len(all))]
		if rng.IntN(2) == 0 {
			d.webhookID, d.eventID = newID(), newID()
		}
		plan = append(plan, d)
	}
	rng.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })

	stop := runPipeline(t, h)
	defer stop()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < len(plan); i += 8 {
				if c := h.post(t, plan[i]); c != http.StatusOK {
					t.Errorf("delivery %d: status %d", i, c)
				}
			}
		})
	}
	wg.Wait()
	waitProcessed(t, h.store, customers*versions)
	settle(t, h.store)

	ctx := context.Background()
	newest := base.Add((versions - 1) * time.Minute).Format(time.RFC3339)
	for c := range customers {
		ext := fmt.Sprint(7039114952811000000 + c)
		var customerID, version string
		require.NoError(t, h.store.ReadDB().QueryRowContext(ctx, `SELECT i.customer_id, r.version FROM identities i
			JOIN identity_records r ON r.source = i.source AND r.external_id = i.external_id
			WHERE i.source = 'main-store' AND i.external_id = ?`, ext).Scan(&customerID, &version))
		require.Equal(t, newest, version, "customer %s", ext)
		cust, err := h.store.Customer(ctx, customerID)
		require.NoError(t, err)
		require.Equal(t, names[versions-1], cust.FirstName, "customer %s shows its newest version", ext)
	}
	counts := rowCounts(t, h.store)
	require.EqualValues(t, customers, counts["customers"])
	require.EqualValues(t, customers*versions, counts["raw_records"], "each version landed once")
	require.Zero(t, counts["dead_letters"])
}

func TestRotationAcceptsBothSecrets(t *testing.T) {
	h := newHub(t, hubOptions{sources: []shopify.WebhookSource{
		{Name: "main-store", Secrets: []string{"new-secret", "old-secret"}},
		{Name: "rotated", Secrets: []string{"new-secret"}},
	}})
	body := func(i int) []byte { return fmt.Appendf(nil, `{"id":%d,"email":"r%d@example.com"}`, i, i) }
	d := signed("main-store", "customers/create", body(1))
	d.sig = shopify.Sign("old-secret", d.body)
	require.Equal(t, http.StatusOK, h.post(t, d), "the previous secret during rotation")
	d = signed("main-store", "customers/create", body(2))
	d.sig = shopify.Sign("new-secret", d.body)
	require.Equal(t, http.StatusOK, h.post(t, d), "the new secret")
	d = signed("main-store", "customers/create", body(3))
	d.sig = shopify.Sign("older-still", d.body)
	require.Equal(t, http.StatusUnauthorized, h.post(t, d))

	// Once the rotation is over, the old secret is refused.
	d = signed("rotated", "customers/create", body(4))
	d.sig = shopify.Sign("old-secret", d.body)
	require.Equal(t, http.StatusUnauthorized, h.post(t, d))
	require.EqualValues(t, 2, rawCount(t, h.store))
}

func TestBodyOverTheLimitIs413(t *testing.T) {
	h := newHub(t, hubOptions{maxBody: 1024})
	big := []byte(`{"id":1,"note":"` + strings.Repeat("x", 2000) + `"}`)
	before := rowCounts(t, h.store)
	require.Equal(t, http.StatusRequestEntityTooLarge, h.post(t, signed("main-store", "customers/create", big)))

	// Without a Content-Length the limit holds while reading.
	req, err := http.NewRequest(http.MethodPost, h.url+"/webhooks/shopify/main-store", io.MultiReader(bytes.NewReader(big)))
	require.NoError(t, err)
	req.Header.Set(shopify.HeaderTopic, "customers/create")
	req.Header.Set(shopify.HeaderHMAC, shopify.Sign(secret, big))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	require.Equal(t, before, rowCounts(t, h.store))

	small := []byte(`{"id":2,"email":"fits@example.com"}`)
	require.Equal(t, http.StatusOK, h.post(t, signed("main-store", "customers/create", small)))
}

func TestMalformedPayloadIsAcceptedAndDeadLettered(t *testing.T) {
	h := newHub(t, hubOptions{})
	stop := runPipeline(t, h)
	defer stop()
	// Signed, so Shopify sent it: it is accepted and kept, and the
	// pipeline puts it in the dead letters for someone to look at.
	d := signed("main-store", "customers/update", []byte(`{"email":"no-id@example.com"`))
	require.Equal(t, http.StatusOK, h.post(t, d))
	require.EqualValues(t, 1, rawCount(t, h.store))
	require.Eventually(t, func() bool {
		c, err := h.store.Counts(context.Background())
		return err == nil && c.DeadLetters == 1
	}, 20*time.Second, 20*time.Millisecond)
}

// runPipeline runs the map and persist stages with the built-in Shopify
// mappings for main-store.
func runPipeline(t testing.TB, h *hub) (stop func()) {
	t.Helper()
	byEntity, err := shopify.Mappings()
	require.NoError(t, err)
	sources := map[string]pipeline.MapSource{"main-store": {ByEntity: byEntity,
		Source: identity.Source{Name: "main-store", Type: shopify.SourceType, DefaultRegion: "AE"}}}
	cfg := config.IdentityConfig{Match: []config.MatchRule{{Field: "email"}, {Field: "phone"}}, MaxProfilesPerKey: 5}
	st := pipeline.NewStages(h.store, sources, identity.NewResolver(identity.ConfigFrom(cfg)), nil)
	p, err := pipeline.New(h.store, h.bus, pipeline.Options{})
	require.NoError(t, err)
	require.NoError(t, st.Warm(context.Background()))
	st.Register(p)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	<-p.Running()
	return func() {
		cancel()
		require.NoError(t, <-done)
	}
}

// waitProcessed waits until the persist stage has handled n distinct
// messages.
func waitProcessed(t testing.TB, s *store.Store, n int64) {
	t.Helper()
	require.Eventually(t, func() bool {
		got, err := s.CountProcessed(context.Background(), pipeline.HandlerPersist)
		return err == nil && got >= n
	}, 60*time.Second, 20*time.Millisecond)
}

// settle waits until the bus has no message left for the stages: the
// counts of every table stop moving.
func settle(t testing.TB, s *store.Store) {
	t.Helper()
	prev := rowCounts(t, s)
	stable := 0
	require.Eventually(t, func() bool {
		cur := rowCounts(t, s)
		if fmt.Sprint(cur) == fmt.Sprint(prev) {
			stable++
		} else {
			stable = 0
		}
		prev = cur
		return stable >= 5
	}, 60*time.Second, 50*time.Millisecond)
}

var _ shopify.Ingester = (*pipeline.Ingester)(nil)
