package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/connectors/shopify"
	"github.com/crmhub/crmhub/connectors/webhook"
	"github.com/crmhub/crmhub/internal/syncbuf"
	"github.com/crmhub/crmhub/store"
)

// shopConfig is a config with one source, the shop main-store, whose
// keys a test may add to.
const shopConfig = `store: {driver: sqlite, dsn: crmhub.db}
bus: {driver: sqlite}
http: {listen: "127.0.0.1:0"}
log: {level: info, format: text}
sources:
  - name: main-store
    type: shopify
    shop: example.myshopify.com
    access_token: ${CRMHUB_TEST_SHOPIFY_TOKEN}
    webhook_secret: ${CRMHUB_TEST_WEBHOOK_SECRET}
`

// runConfig is shopConfig with a webhook secret being rotated out.
const runConfig = shopConfig + `    webhook_secrets_previous: ["${CRMHUB_TEST_WEBHOOK_SECRET_OLD}"]
`

// tagsDestination is a destinations section with the shopify destination
// shopify-tags on main-store, whose keys a test may add to.
const tagsDestination = `destinations:
  - name: shopify-tags
    type: shopify
    source: main-store
`

// running is a `crmhub run` in a goroutine.
type running struct {
	cancel context.CancelFunc
	code   chan int
	stderr *syncbuf.Buffer
	addr   string
}

func startRun(t *testing.T, path string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, code: make(chan int, 1), stderr: &syncbuf.Buffer{}}
	go func() { r.code <- run(ctx, []string{"run", "-c", path}, &bytes.Buffer{}, r.stderr) }()
	listening := regexp.MustCompile(`msg="http server listening".* addr=(\S+)`)
	require.Eventually(t, func() bool {
		m := listening.FindStringSubmatch(r.stderr.String())
		if m != nil {
			r.addr = m[1]
		}
		return m != nil
	}, 60*time.Second, 10*time.Millisecond, "crmhub run did not start: %s", r.stderr)
	return r
}

// stop cancels the run, as SIGINT and SIGTERM do through main's context,
// and returns its exit code.
func (r *running) stop(t *testing.T) int {
	t.Helper()
	r.cancel()
	select {
	case code := <-r.code:
		return code
	case <-time.After(30 * time.Second):
		t.Fatalf("crmhub run did not stop within 30s: %s", r.stderr)
		return -1
	}
}

// call makes a request of the running crmhub, with token when it is not
// empty, and returns the status and the body.
func (r *running) call(t *testing.T, method, path, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+r.addr+path, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// metrics scrapes GET /metrics.
func (r *running) metrics(t *testing.T) string {
	t.Helper()
	code, m := r.call(t, http.MethodGet, "/metrics", "", "")
	require.Equal(t, http.StatusOK, code, m)
	return m
}

func (r *running) deliver(t *testing.T, secret, webhookID string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+r.addr+"/webhooks/shopify/main-store", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set(shopify.HeaderTopic, "customers/create")
	req.Header.Set(shopify.HeaderWebhookID, webhookID)
	req.Header.Set(shopify.HeaderShopDomain, "example.myshopify.com")
	req.Header.Set(shopify.HeaderHMAC, shopify.Sign(secret, body))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestRunReceivesShopifyWebhooksIntoProfiles(t *testing.T) {
	t.Setenv("CRMHUB_TEST_SHOPIFY_TOKEN", "shpat_test_token")
	t.Setenv("CRMHUB_TEST_WEBHOOK_SECRET", "new-webhook-secret")
	t.Setenv("CRMHUB_TEST_WEBHOOK_SECRET_OLD", "old-webhook-secret")
	dir := t.TempDir()
	path := writeFile(t, dir, "crmhub.yaml", runConfig)
	ctx := context.Background()

	r := startRun(t, path)
	resp, err := http.Get("http://" + r.addr + "/healthz")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	customer := func(id int, email string) []byte {
		return fmt.Appendf(nil, `{"id":%d,"email":%q,"first_name":"Sara","last_name":"Al Amiri","phone":"+971501234567",`+
			`"updated_at":"2026-03-01T10:00:00+04:00","addresses":[]}`, id, email)
	}
	require.Equal(t, http.StatusUnauthorized, r.deliver(t, "forged", "w-0", customer(1, "x@example.com")))
	require.Equal(t, http.StatusOK, r.deliver(t, "new-webhook-secret", "w-1", customer(7039114952811000001, "sara@example.com")))

	s, err := store.Open(ctx, store.Options{Driver: store.DriverSQLite, DSN: filepath.Join(dir, "crmhub.db")})
	require.NoError(t, err)
	defer s.Close()
	var customerID string
	require.Eventually(t, func() bool {
		err := s.ReadDB().QueryRowContext(ctx, `SELECT customer_id FROM identities
			WHERE source = 'main-store' AND external_id = '7039114952811000001'`).Scan(&customerID)
		return err == nil
	}, 60*time.Second, 20*time.Millisecond, "the webhook became a profile")
	c, err := s.Customer(ctx, customerID)
	require.NoError(t, err)
	require.Equal(t, "sara@example.com", c.Email)
	require.Equal(t, "+971501234567", c.Phone)

	// A delivery answered 200 right before the stop is not lost: it is in
	// the landing table, and the next run makes a profile of it.
	require.Equal(t, http.StatusOK, r.deliver(t, "old-webhook-secret", "w-2", customer(7039114952811000002, "omar@example.com")))
	require.Equal(t, exitOK, r.stop(t), r.stderr.String())
	require.Contains(t, r.stderr.String(), "crmhub stopped")
	counts, err := s.Counts(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, counts.RawRecords)

	r = startRun(t, path)
	require.Eventually(t, func() bool {
		var n int
		err := s.ReadDB().QueryRowContext(ctx, `SELECT COUNT(*) FROM identities WHERE source = 'main-store'`).Scan(&n)
		return err == nil && n == 2
	}, 60*time.Second, 20*time.Millisecond)
	require.Equal(t, exitOK, r.stop(t), r.stderr.String())
	for _, leak := range []string{"sara@example.com", "omar@example.com", "Al Amiri", "new-webhook-secret", "old-webhook-secret"} {
		require.NotContains(t, r.stderr.String(), leak, "logs carry no customer data and no secret")
	}
}

// TestRunReceivesSignedRecordsOfAWebhookSource: an ERP posts its customers,
// signed with the source's secret, to POST /webhooks/in/erp; they become
// profiles through the source's mapping, a forged delivery is refused, and
// a record the mapping finds no id in ends in the dead letters.
func TestRunReceivesSignedRecordsOfAWebhookSource(t *testing.T) {
	t.Setenv("CRMHUB_TEST_ERP_SECRET", "erp-secret")
	dir := t.TempDir()
	writeFile(t, dir, "erp.yaml", `entity: customer
id: customer_no
version: updated
fields:
  name: {from: name, transform: name}
  email: {from: email, transform: "trim|email"}
  phone: {from: mobile, transform: phone}
`)
	path := writeFile(t, dir, "crmhub.yaml", `store: {driver: sqlite, dsn: crmhub.db}
bus: {driver: sqlite}
http: {listen: "127.0.0.1:0"}
log: {level: info, format: text}
sources:
  - name: erp
    type: webhook
    secret: ${CRMHUB_TEST_ERP_SECRET}
    mapping: erp.yaml
    default_region: AE
`)
	r := startRun(t, path)
	post := func(secret string, body []byte) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, "http://"+r.addr+"/webhooks/in/erp", bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(webhook.DefaultSignatureHeader, webhook.Sign(secret, body))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	records := []byte(`[{"customer_no":"C-1","name":"سارة العامري","email":"SARA@example.com","mobile":"٠٥٠١٢٣٤٥٦٧","updated":"2026-05-01T10:00:00Z"},
{"customer_no":"C-2","name":"Omar Haddad","email":"omar@example.com","updated":"2026-05-01T10:00:00Z"},
{"name":"no customer number"}]`)
	require.Equal(t, http.StatusUnauthorized, post("guess", records))
	require.Equal(t, http.StatusOK, post("erp-secret", records))

	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{Driver: store.DriverSQLite, DSN: filepath.Join(dir, "crmhub.db")})
	require.NoError(t, err)
	defer s.Close()
	require.Eventually(t, func() bool {
		c, err := s.Counts(ctx)
		return err == nil && c.Customers == 2 && c.DeadLetters == 1
	}, 60*time.Second, 10*time.Millisecond, "%s", r.stderr)
	ids, err := s.CustomerIDsByEmail(ctx, "sara@example.com")
	require.NoError(t, err)
	require.Len(t, ids, 1)
	sara, err := s.Customer(ctx, ids[0])
	require.NoError(t, err)
	require.Equal(t, []string{"+971501234567"}, sara.Phones, "Eastern Arabic digits and the source's region")
	require.Equal(t, exitOK, r.stop(t), r.stderr.String())
	require.NotContains(t, r.stderr.String(), "erp-secret")
}
