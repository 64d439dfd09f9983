package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/connectors/meta"
	"github.com/crmhub/crmhub/connectors/meta/metatest"
	"github.com/crmhub/crmhub/store"
)

// TestRunReceivesMetaLeads: crmhub run answers Meta's subscription check
// for a meta source, and a signed leadgen webhook becomes a profile, its
// lead read from the (fake) Graph API with the source's token.
func TestRunReceivesMetaLeads(t *testing.T) {
	const token = "EAAG-test-page-token"
	t.Setenv("CRMHUB_TEST_META_APP_SECRET", "meta-app-secret")
	t.Setenv("CRMHUB_TEST_META_VERIFY_TOKEN", "verify-me")
	t.Setenv("CRMHUB_TEST_META_TOKEN", token)
	graph := metatest.NewGraph(token, "meta-app-secret")
	gsrv := httptest.NewServer(graph)
	defer gsrv.Close()
	graph.AddLead("1296999999999999001", []byte(`{"created_time":"2026-10-02T08:49:14+0000","id":"1296999999999999001",
		"form_id":"77001","field_data":[{"name":"full_name","values":["نادية حداد"]},
		{"name":"email","values":["Nadia@Example.com"]},{"name":"phone_number","values":["050 123 4599"]}]}`))

	dir := t.TempDir()
	path := writeFile(t, dir, "crmhub.yaml", `store: {driver: sqlite, dsn: crmhub.db}
bus: {driver: sqlite}
http: {listen: "127.0.0.1:0"}
log: {level: info, format: text}
sources:
  - name: leads
    type: meta
    app_secret: ${CRMHUB_TEST_META_APP_SECRET}
    verify_token: ${CRMHUB_TEST_META_VERIFY_TOKEN}
    access_token: ${CRMHUB_TEST_META_TOKEN}
    page_id: "153125381133"
    base_url: `+gsrv.URL+`
    default_region: AE
`)
	r := startRun(t, path)
	q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {"verify-me"}, "hub.challenge": {"8675309"}}
	code, body := r.call(t, http.MethodGet, "/webhooks/meta/leads?"+q.Encode(), "", "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "8675309", body)

	delivery := []byte(`{"object":"page","entry":[{"id":153125381133,"time":1790930955,"changes":[{"field":"leadgen",
		"value":{"leadgen_id":1296999999999999001,"page_id":153125381133,"form_id":77001,"created_time":1790930954}}]}]}`)
	post := func(sig string) int {
		req, err := http.NewRequest(http.MethodPost, "http://"+r.addr+"/webhooks/meta/leads", bytes.NewReader(delivery))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(meta.HeaderSignature, sig)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusUnauthorized, post(meta.Sign("guess", delivery)))
	require.Equal(t, http.StatusOK, post(meta.Sign("meta-app-secret", delivery)))

	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{Driver: store.DriverSQLite, DSN: filepath.Join(dir, "crmhub.db")})
	require.NoError(t, err)
	defer s.Close()
	require.Eventually(t, func() bool {
		c, err := s.Counts(ctx)
		return err == nil && c.Customers == 1
	}, 60*time.Second, 10*time.Millisecond, "%s", r.stderr)
	ids, err := s.CustomerIDsByEmail(ctx, "nadia@example.com")
	require.NoError(t, err)
	require.Len(t, ids, 1)
	nadia, err := s.Customer(ctx, ids[0])
	require.NoError(t, err)
	require.Equal(t, []string{"+971501234599"}, nadia.Phones)
	require.Equal(t, "1296999999999999001", nadia.Identities[0].ExternalID, "the lead id, exact")
	require.Equal(t, "meta", nadia.Identities[0].Type)
	require.Equal(t, exitOK, r.stop(t), r.stderr.String())
	require.NotContains(t, r.stderr.String(), token)
	require.NotContains(t, r.stderr.String(), "meta-app-secret")
}
