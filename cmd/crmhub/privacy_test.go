package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/connectors/shopify"
	"github.com/crmhub/crmhub/connectors/shopify/shopifytest"
	"github.com/crmhub/crmhub/privacy"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

const privacyConfig = shopConfig + `    base_url: BASE_URL
    default_region: AE
` + tagsDestination + `    push: [tags]
`

// post delivers a signed webhook of topic to the running server.
func (r *running) post(t *testing.T, secret, topic, webhookID string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+r.addr+"/webhooks/shopify/main-store", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set(shopify.HeaderTopic, topic)
	req.Header.Set(shopify.HeaderWebhookID, webhookID)
	req.Header.Set(shopify.HeaderShopDomain, "example.myshopify.com")
	req.Header.Set(shopify.HeaderHMAC, shopify.Sign(secret, body))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// waitRequests waits until n privacy requests are done and returns them.
func waitRequests(t *testing.T, s *store.Store, n int) []store.PrivacyRequest {
	t.Helper()
	var reqs []store.PrivacyRequest
	require.Eventually(t, func() bool {
		var err error
		reqs, err = s.PrivacyRequests(context.Background(), "", 100)
		if err != nil || len(reqs) < n {
			return false
		}
		for _, r := range reqs {
			if r.Status != store.PrivacyDone {
				return false
			}
		}
		return true
	}, 60*time.Second, 20*time.Millisecond, "waiting for %d privacy requests", n)
	return reqs
}

// TestPrivacyWebhooksEraseAndSyncDoesNotBringBack runs crmhub as an
// operator would: a sync from the shop, then crmhub run receiving the
// shop's signed privacy webhooks. After customers/redact no table holds
// the person; a replayed customers/create webhook and a following sync
// that pulls her again do not bring her back.
func TestPrivacyWebhooksEraseAndSyncDoesNotBringBack(t *testing.T) {
	const secret = "privacy-webhook-secret"
	shop := shopifytest.New(t, shopifytest.Options{RestoreRate: 1000})
	start := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	sara := shopifytest.Customer{ID: 7039114952811000001, FirstName: "Sara", LastName: "Al Amiri", Email: "sara@example.com",
		Phone: "+971501234567", State: "ENABLED", Locale: "en", CreatedAt: start, UpdatedAt: start,
		Address: &shopifytest.Address{Address1: "12 Marina Walk", City: "Dubai", CountryCode: "AE"}}
	omar := shopifytest.Customer{ID: 7039114952811000002, FirstName: "Omar", LastName: "Haddad", Email: "omar@example.com",
		Phone: "+971509999999", State: "ENABLED", Locale: "en", CreatedAt: start, UpdatedAt: start}
	shop.Put(sara, omar)
	t.Setenv("CRMHUB_TEST_SHOPIFY_TOKEN", shop.Token())
	t.Setenv("CRMHUB_TEST_WEBHOOK_SECRET", secret)
	dir := t.TempDir()
	path := writeFile(t, dir, "crmhub.yaml", strings.Replace(privacyConfig, "BASE_URL", shop.URL(), 1))

	r := runCLI(t, "sync", "main-store", "-c", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "2 new to the raw table; 2 profiles (+2)")

	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{Driver: store.DriverSQLite, DSN: filepath.Join(dir, "crmhub.db")})
	require.NoError(t, err)
	defer s.Close()
	needles := []string{"sara@example.com", "971501234567", "Al Amiri", "Marina Walk"}
	require.NotEmpty(t, storetest.Find(t, s, needles...))

	srv := startRun(t, path)
	dataRequest := []byte(`{"shop_id":954889,"shop_domain":"example.myshopify.com","customer":{"id":7039114952811000001,` +
		`"email":"sara@example.com","phone":"+971501234567"},"orders_requested":[],"data_request":{"id":9999}}`)
	require.Equal(t, http.StatusOK, srv.post(t, secret, "customers/data_request", "w-data", dataRequest))
	reqs := waitRequests(t, s, 1)

	// The operator fetches the export.
	r = runCLI(t, "privacy", "requests", "-c", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, reqs[0].ID)
	require.Contains(t, r.stdout, "data_request")
	out := filepath.Join(dir, "export.json")
	r = runCLI(t, "privacy", "export", "--request", reqs[0].ID, "-o", out, "-c", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	var ex privacy.Export
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	fi, err := os.Stat(out)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the export is for its owner only")
	require.NoError(t, json.Unmarshal(b, &ex))
	require.Len(t, ex.Profiles, 1)
	require.Equal(t, "sara@example.com", ex.Profiles[0].Email)
	require.Equal(t, "9999", ex.Request.RequestID)

	redact := []byte(`{"shop_id":954889,"shop_domain":"example.myshopify.com","customer":{"id":7039114952811000001,` +
		`"email":"sara@example.com","phone":"+971501234567"},"orders_to_redact":[]}`)
	require.Equal(t, http.StatusOK, srv.post(t, secret, "customers/redact", "w-redact", redact))
	waitRequests(t, s, 2)

	// Her customers/create, delivered again under a new webhook id, is
	// answered 200 and dropped.
	create := []byte(`{"id":7039114952811000001,"email":"sara@example.com","phone":"+971501234567","first_name":"Sara",` +
		`"last_name":"Al Amiri","updated_at":"2026-03-01T10:00:00+04:00","addresses":[]}`)
	require.Equal(t, http.StatusOK, srv.post(t, secret, "customers/create", "w-replay", create))
	require.Equal(t, exitOK, srv.stop(t), srv.stderr.String())
	for _, leak := range append(needles, secret) {
		require.NotContains(t, srv.stderr.String(), leak, "logs carry no customer data and no secret")
	}
	require.Empty(t, storetest.Find(t, s, needles...))
	stats, err := s.SuppressionStats(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, stats.Dropped)

	// Shopify still has her, changed since the last sync: the next sync
	// pulls her and drops her.
	sara.UpdatedAt = time.Now().UTC().Truncate(time.Second)
	shop.Put(sara)
	r = runCLI(t, "sync", "main-store", "-c", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "0 new to the raw table; 1 profiles (+0)")
	require.Empty(t, storetest.Find(t, s, needles...))
	stats, err = s.SuppressionStats(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, stats.Dropped)

	// The operator erases Omar from the command line, with the same code.
	r = runCLI(t, "privacy", "redact", "--email", "Omar@Example.com", "-c", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "redact done: 1 profile")
	require.Empty(t, storetest.Find(t, s, "omar@example.com", "971509999999", "Haddad"))
	r = runCLI(t, "privacy", "tasks", "--destination", "shopify-tags", "-c", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Equal(t, 2, strings.Count(r.stdout, `"destination":"shopify-tags"`), "one task per erased person: %s", r.stdout)

	// A data request about her now says she was erased.
	r = runCLI(t, "privacy", "export", "--email", "sara@example.com", "-c", path)
	require.Equal(t, exitOK, r.code, r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &ex))
	require.True(t, ex.Suppressed)
	require.Empty(t, ex.Profiles)
}

func TestPrivacyCommandMistakesExitTwo(t *testing.T) {
	_, cfg := importFixture(t)
	for _, args := range [][]string{
		{"privacy", "redact"},
		{"privacy", "redact", "--record", "no-colon"},
		{"privacy", "export", "--request", "prv_x", "--email", "a@example.com"},
		{"privacy", "export", "--request", "prv_nope"},
		{"privacy", "redact", "--customer", "cus_nope"},
	} {
		r := runCLI(t, append(args, "-c", cfg)...)
		require.Equal(t, exitUsage, r.code, "%v: %s", args, r.stderr)
	}
}
