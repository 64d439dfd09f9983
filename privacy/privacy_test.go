package privacy_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/connectors/shopify"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/pipeline/bus"
	"github.com/crmhub/crmhub/pipeline/identity"
	"github.com/crmhub/crmhub/privacy"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// erpMapping maps the test ERP's customers.
const erpMapping = `entity: customer
id: customer_no
fields:
  email: {from: email, transform: "trim|email"}
  phone: {from: mobile, transform: phone}
  first_name: {from: first, transform: name}
  last_name: {from: last, transform: name}
`

// world is a store, its bus and the running map and persist stages, with
// a shop source (the built-in Shopify mappings and privacy reader) and an
// ERP source.
type world struct {
	store *store.Store
	in    *pipeline.Ingester
	svc   *privacy.Service
}

func newWorld(t *testing.T, driver string, destinations ...string) *world {
	t.Helper()
	s := storetest.Open(t, driver)
	ctx, cancel := context.WithCancel(context.Background())
	b, err := bus.Open(ctx, bus.Options{Driver: driver, DB: s.DB(), ReadDB: s.ReadDB(), PollInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	byEntity, err := shopify.Mappings()
	require.NoError(t, err)
	erp, err := mapping.Parse("erp.yaml", []byte(erpMapping))
	require.NoError(t, err)
	sources := map[string]pipeline.MapSource{
		"shop": {ByEntity: byEntity, Privacy: shopify.ReadPrivacy,
			Source: identity.Source{Name: "shop", Type: shopify.SourceType, DefaultRegion: "AE"}},
		"erp": {Rules: erp, Source: identity.Source{Name: "erp", Type: "webhook", DefaultRegion: "AE"}},
	}
	cfg := identity.Config{Email: true, Phone: true}
	st := pipeline.NewStages(s, sources, identity.NewResolver(cfg), nil)
	svc := privacy.New(s, privacy.Options{Regions: map[string]string{"shop": "AE", "erp": "AE"},
		Destinations: destinations, Messages: pipeline.MessageEraser(b), Survivorship: cfg.Survivorship})
	st.SetPrivacy(svc)
	p, err := pipeline.New(s, b, pipeline.Options{MaxRetries: 1, RetryInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	st.Register(p)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case <-p.Running():
	case <-time.After(30 * time.Second):
		t.Fatal("pipeline did not start")
	}
	t.Cleanup(func() {
		cancel()
		<-done
		_ = b.Close()
	})
	return &world{store: s, in: pipeline.NewIngester(s, b, true), svc: svc}
}

// settled is how many messages have left the pipeline: resolved or
// dead-lettered.
func (w *world) settled(t *testing.T) int64 {
	t.Helper()
	ctx := context.Background()
	n, err := w.store.CountProcessed(ctx, pipeline.HandlerPersist)
	require.NoError(t, err)
	c, err := w.store.Counts(ctx)
	require.NoError(t, err)
	return n + c.DeadLetters
}

// ingest lands envs and waits until want more messages have left the
// pipeline.
func (w *world) ingest(t *testing.T, want int, envs ...crmhub.Envelope) {
	t.Helper()
	base := w.settled(t)
	require.NoError(t, w.in.Ingest(context.Background(), envs, nil))
	require.Eventually(t, func() bool { return w.settled(t) >= base+int64(want) },
		60*time.Second, 20*time.Millisecond, "waiting for %d records", want)
}

// request delivers a privacy webhook and waits until the request is done.
func (w *world) request(t *testing.T, topic, body string) store.PrivacyRequest {
	t.Helper()
	// As the webhook receiver lands it: under the topic and a delivery id.
	env := crmhub.Envelope{Source: "shop", SourceType: shopify.SourceType, Entity: crmhub.EntityPrivacy,
		ExternalID: fmt.Sprintf("%s:webhook:%d", topic, time.Now().UnixNano()), Payload: []byte(body)}
	ctx := context.Background()
	before, err := w.store.PrivacyRequests(ctx, "", 1000)
	require.NoError(t, err)
	marks, err := w.store.CountProcessed(ctx, pipeline.HandlerPersist)
	require.NoError(t, err)
	// Waiting on the request's status: an erasure deletes dead letters,
	// which the settled count includes.
	require.NoError(t, w.in.Ingest(context.Background(), []crmhub.Envelope{env}, nil))
	var got store.PrivacyRequest
	require.Eventually(t, func() bool {
		reqs, err := w.store.PrivacyRequests(context.Background(), "", 1000)
		if err != nil || len(reqs) <= len(before) {
			return false
		}
		got = reqs[len(reqs)-1]
		return got.Status != store.PrivacyReceived
	}, 60*time.Second, 20*time.Millisecond)
	require.Equal(t, store.PrivacyDone, got.Status, got.Error)
	// The stage marks the message handled after the request is done.
	require.Eventually(t, func() bool {
		n, err := w.store.CountProcessed(ctx, pipeline.HandlerPersist)
		return err == nil && n > marks
	}, 60*time.Second, 20*time.Millisecond)
	got, err = w.store.PrivacyRequest(ctx, got.ID)
	require.NoError(t, err)
	return got
}

const (
	saraShopID = "7039114952811000001"
	omarShopID = "7039114952811000002"
	saraOrder  = "5123456789012345678"
)

func shopCustomer(id, email, phone, first, last, updated string) crmhub.Envelope {
	body := fmt.Sprintf(`{"id":%s,"email":%q,"phone":%q,"first_name":%q,"last_name":%q,"updated_at":%q,`+
		`"addresses":[],"default_address":{"address1":"12 Marina Walk","city":"Dubai","country_code":"AE"}}`,
		id, email, phone, first, last, updated)
	return crmhub.Envelope{Source: "shop", SourceType: shopify.SourceType, Entity: crmhub.EntityCustomer,
		ExternalID: id, Version: updated, Payload: []byte(body)}
}

func erpCustomer(id, body string) crmhub.Envelope {
	return crmhub.Envelope{Source: "erp", SourceType: "webhook", Entity: crmhub.EntityCustomer, ExternalID: id,
		Payload: []byte(body)}
}

// seedSara lands Sara in both sources, a record of hers that fails to map,
// an order of hers, and Omar, who must come through untouched.
func seedSara(t *testing.T, w *world) {
	t.Helper()
	order := crmhub.Envelope{Source: "shop", SourceType: shopify.SourceType, Entity: crmhub.EntityOrder,
		ExternalID: saraOrder, Version: "2026-03-02T10:00:00+04:00", Payload: []byte(`{"id":` + saraOrder +
			`,"name":"#1042","email":"sara@example.com","currency":"AED","total_price":"204.00","subtotal_price":"190.00",` +
			`"created_at":"2026-03-02T10:00:00+04:00","updated_at":"2026-03-02T10:00:00+04:00",` +
			`"customer":{"id":` + saraShopID + `,"email":"sara@example.com"},` +
			`"billing_address":{"name":"Sara Al Amiri","phone":"+971501234567"},"line_items":[]}`)}
	w.ingest(t, 5,
		shopCustomer(saraShopID, "sara@example.com", "+971501234567", "Sara", "Al Amiri", "2026-03-01T10:00:00+04:00"),
		erpCustomer("C-1042", `{"customer_no":"C-1042","email":" SARA@EXAMPLE.COM ","mobile":"050 123 4567","first":"Sara","last":"Al Amiri"}`),
		// No customer number: it goes to the dead letters.
		erpCustomer("C-BROKEN", `{"email":"sara@example.com","last":"Al Amiri"}`),
		order,
		shopCustomer(omarShopID, "omar@example.com", "+971509999999", "Omar", "Haddad", "2026-03-01T10:00:00+04:00"),
	)
	ids, err := w.store.CustomerIDsByEmail(context.Background(), "sara@example.com")
	require.NoError(t, err)
	require.Len(t, ids, 1, "Sara's shop and ERP records are one profile")
}

// saraNeedles are her email, phone and name in every form the sources
// sent them.
var saraNeedles = []string{"sara@example.com", "971501234567", "050 123 4567", "Amiri"}

func redactBody(email string) string {
	return `{"shop_id":954889,"shop_domain":"example.myshopify.com","customer":{"id":` + saraShopID +
		`,"email":"` + email + `","phone":"+971501234567"},"orders_to_redact":[` + saraOrder + `]}`
}

// TestRedactLeavesNoRowOfThePerson: after customers/redact no row of any
// table (read from the schema, bus tables included) holds Sara's email,
// phone, name or Shopify id; on SQLite not even the files' bytes do. Her
// records delivered again, from the same or another source, are dropped.
func TestRedactLeavesNoRowOfThePerson(t *testing.T) {
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t, driver, "klaviyo", "shopify-tags")
			seedSara(t, w)
			w.request(t, "customers/data_request", `{"customer":{"id":`+saraShopID+`,"email":"sara@example.com"},"data_request":{"id":9999}}`)
			require.NotEmpty(t, storetest.Find(t, w.store, saraNeedles...), "the seed holds her")

			_, err := w.store.Order(ctx, "shop", saraOrder)
			require.NoError(t, err, "her order is stored")
			rec := w.request(t, "customers/redact", redactBody("sara@example.com"))
			require.Empty(t, storetest.Find(t, w.store, saraNeedles...))
			_, err = w.store.Order(ctx, "shop", saraOrder)
			require.ErrorIs(t, err, crmhub.ErrNotFound, "her order is erased")
			require.Equal(t, []string{"erasure_tasks.subject: " + saraShopID, "erasure_tasks.subject: " + saraShopID},
				storetest.Find(t, w.store, saraShopID), "her Shopify id is left only for the destinations' erasures")
			if driver == store.DriverSQLite {
				requireNotInFiles(t, w.store, "sara@example.com", "Al Amiri")
			}
			sum, err := privacy.ReadSummary(rec)
			require.NoError(t, err)
			require.Len(t, sum.Profiles, 1)
			require.Positive(t, sum.Messages, "the bus messages kept in the store went too")
			require.Equal(t, 2, sum.ErasureTasks, "one per destination")
			require.EqualValues(t, 1, sum.Rows["privacy_exports"], "the earlier data request's export went too")

			tasks, err := w.store.ErasureTasks(ctx, "klaviyo", store.ErasurePending, 0, 10)
			require.NoError(t, err)
			require.Len(t, tasks, 1)
			require.Equal(t, sum.Profiles[0], tasks[0].CustomerID)
			var subject privacy.TaskSubject
			require.NoError(t, json.Unmarshal(tasks[0].Subject, &subject))
			require.Equal(t, []string{sha256Hex("sara@example.com")}, subject.EmailSHA256)
			require.Equal(t, []string{sha256Hex("971501234567")}, subject.PhoneSHA256)
			require.ElementsMatch(t, []crmhub.Identity{{Source: "erp", Type: "webhook", ExternalID: "C-1042"},
				{Source: "shop", Type: shopify.SourceType, ExternalID: saraShopID}}, subject.Identities)

			// The same webhook again, and a newer version of her: dropped
			// on arrival, counted.
			raw := rawCount(t, w.store)
			require.NoError(t, w.in.Ingest(ctx, []crmhub.Envelope{
				shopCustomer(saraShopID, "sara@example.com", "+971501234567", "Sara", "Al Amiri", "2026-03-01T10:00:00+04:00"),
				shopCustomer(saraShopID, "sara@example.com", "+971501234567", "Sara", "Al Amiri", "2026-04-01T10:00:00+04:00"),
			}, nil))
			require.EqualValues(t, 2, w.in.Dropped())
			require.Equal(t, raw, rawCount(t, w.store))
			// Another source's record of her, which only her email tells:
			// dropped by the persist stage, its landing deleted.
			w.ingest(t, 1, erpCustomer("C-2001", `{"customer_no":"C-2001","email":"sara@example.com","last":"Al Amiri"}`))
			require.Empty(t, storetest.Find(t, w.store, saraNeedles...))
			stats, err := w.store.SuppressionStats(ctx)
			require.NoError(t, err)
			require.EqualValues(t, 3, stats.Dropped)

			// Omar is untouched.
			omar, err := w.store.CustomerIDsByEmail(ctx, "omar@example.com")
			require.NoError(t, err)
			require.Len(t, omar, 1)
			require.NotEmpty(t, storetest.Find(t, w.store, "omar@example.com", "Haddad"))
		})
	}
}

// TestRedactByEmailAlone: a redact payload may carry only an email.
func TestRedactByEmailAlone(t *testing.T) {
	w := newWorld(t, store.DriverSQLite)
	seedSara(t, w)
	w.request(t, "customers/redact", `{"customer":{"email":"Sara@Example.com"},"orders_to_redact":[]}`)
	require.Empty(t, storetest.Find(t, w.store, "sara@example.com", "971501234567", "Amiri"))
}

func requireNotInFiles(t *testing.T, s *store.Store, needles ...string) {
	t.Helper()
	var path string
	require.NoError(t, s.ReadDB().QueryRow("SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&path))
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		for _, n := range needles {
			require.False(t, bytes.Contains(bytes.ToLower(b), []byte(strings.ToLower(n))), "%s holds %q", f, n)
		}
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func rawCount(t *testing.T, s *store.Store) int64 {
	t.Helper()
	c, err := s.Counts(context.Background())
	require.NoError(t, err)
	return c.RawRecords
}

// TestDataRequestExport: customers/data_request stores an export of
// everything held on the person, and of nobody else.
func TestDataRequestExport(t *testing.T) {
	storeDrivers(t, func(t *testing.T, driver string) {
		w := newWorld(t, driver)
		seedSara(t, w)
		rec := w.request(t, "customers/data_request", `{"customer":{"id":`+saraShopID+
			`,"email":"sara@example.com","phone":"+971501234567"},"orders_requested":[`+saraOrder+`],"data_request":{"id":9999}}`)
		require.Equal(t, "9999", rec.ExternalID)
		require.Equal(t, "shop", rec.Source)
		var ex privacy.Export
		require.NoError(t, json.Unmarshal(rec.Export, &ex))
		require.Equal(t, rec.ID, ex.Request.ID)
		require.False(t, ex.Suppressed)

		require.Len(t, ex.Profiles, 1)
		p := ex.Profiles[0]
		require.Equal(t, []string{"sara@example.com"}, p.Emails)
		require.Equal(t, []string{"+971501234567"}, p.Phones)
		require.Len(t, p.Identities, 2)
		require.NotEmpty(t, p.Provenance, "the source of every field")
		require.Contains(t, []string{"shop", "erp"}, p.Provenance["email"].Source)

		require.Len(t, ex.Records, 2)
		require.Equal(t, "erp", ex.Records[0].Source)
		require.Equal(t, []string{"sara@example.com"}, ex.Records[0].Fields["emails"])
		require.Equal(t, "shop", ex.Records[1].Source)

		kinds := map[string]int{}
		for _, r := range ex.RawRecords {
			kinds[r.Entity]++
			require.NotEmpty(t, r.Payload, "JSON payloads are kept as JSON")
		}
		require.Equal(t, map[string]int{"customer": 3, "order": 1, "privacy": 1}, kinds,
			"her customer records (the broken one too), her order and this request")
		require.Len(t, ex.DeadLetters, 1)
		require.Equal(t, "C-BROKEN", ex.DeadLetters[0].ExternalID)
		require.Len(t, ex.Orders, 1)
		require.Equal(t, saraOrder, ex.Orders[0].ExternalID)

		all, err := json.Marshal(ex)
		require.NoError(t, err)
		require.NotContains(t, string(all), "omar@example.com", "nobody else's data")
		require.NotContains(t, string(all), "Haddad")

		sum, err := privacy.ReadSummary(rec)
		require.NoError(t, err)
		require.Equal(t, 1, sum.Exported["profiles"])
		require.Equal(t, 5, sum.Exported["raw_records"])
	})
}

// TestDataRequestAboutAnErasedPerson says so, with nothing else.
func TestDataRequestAboutAnErasedPerson(t *testing.T) {
	w := newWorld(t, store.DriverSQLite)
	seedSara(t, w)
	w.request(t, "customers/redact", redactBody("sara@example.com"))
	rec := w.request(t, "customers/data_request", `{"customer":{"email":"sara@example.com"},"data_request":{"id":10000}}`)
	var ex privacy.Export
	require.NoError(t, json.Unmarshal(rec.Export, &ex))
	require.True(t, ex.Suppressed)
	require.Empty(t, ex.Profiles)
	require.Empty(t, ex.Orders)
	require.Len(t, ex.RawRecords, 1, "the request itself")
}

// TestShopRedactErasesTheSource: shop/redact erases what the shop brought;
// a profile that another source's record also makes is derived again from
// that record alone.
func TestShopRedactErasesTheSource(t *testing.T) {
	storeDrivers(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		w := newWorld(t, driver, "klaviyo")
		seedSara(t, w)
		rec := w.request(t, "shop/redact", `{"shop_id":954889,"shop_domain":"example.myshopify.com"}`)
		sum, err := privacy.ReadSummary(rec)
		require.NoError(t, err)

		require.Empty(t, storetest.Find(t, w.store, saraShopID, omarShopID, "omar@example.com", "Haddad", "12 Marina Walk"),
			"nothing the shop alone brought is left")
		var n int
		for _, table := range []string{"raw_records", "identities", "identity_records", "orders", "checkpoints"} {
			require.NoError(t, w.store.ReadDB().QueryRowContext(ctx,
				w.rebind("SELECT COUNT(*) FROM "+table+" WHERE source = ?"), "shop").Scan(&n))
			require.Zero(t, n, table)
		}
		ids, err := w.store.CustomerIDsByEmail(ctx, "sara@example.com")
		require.NoError(t, err)
		require.Len(t, ids, 1, "Sara stays through her ERP record")
		require.Equal(t, []string{ids[0]}, sum.Rederived)
		sara, err := w.store.Customer(ctx, ids[0])
		require.NoError(t, err)
		require.Equal(t, []crmhub.Identity{{Source: "erp", Type: "webhook", ExternalID: "C-1042"}}, sara.Identities)
		require.Empty(t, sara.Addresses, "the address came from the shop")
		for field, from := range sara.Provenance {
			require.Equal(t, "erp", from.Source, field)
		}
		require.Len(t, sum.Profiles, 1, "Omar, whom only the shop knew, is erased")
		require.Equal(t, 1, sum.ErasureTasks)
		stats, err := w.store.SuppressionStats(ctx)
		require.NoError(t, err)
		require.Zero(t, stats.Entries, "a shop may come back: nothing is suppressed")
	})
}

func (w *world) rebind(q string) string {
	if w.store.Driver() == store.DriverPostgres {
		return strings.Replace(q, "?", "$1", 1)
	}
	return q
}

func storeDrivers(t *testing.T, f func(t *testing.T, driver string)) {
	for _, d := range storetest.Drivers {
		t.Run(d, func(t *testing.T) { f(t, d) })
	}
}
