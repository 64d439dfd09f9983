package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/connectors/webhook"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/pipeline/bus"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

const (
	secret    = "erp-shared-secret"
	oldSecret = "erp-secret-before-rotation"
)

const erpMapping = `entity: customer
id: customer_no
version: updated
fields:
  name: {from: name, transform: name}
  email: {from: email, transform: "trim|email"}
`

// erp is a receiver of one webhook source on a SQLite store with the
// SQLite bus, served over HTTP.
type erp struct {
	store *store.Store
	url   string
}

func newERP(t testing.TB) *erp {
	t.Helper()
	s := storetest.SQLite(t)
	b, err := bus.Open(context.Background(), bus.Options{Driver: bus.DriverSQLite, DB: s.DB(), ReadDB: s.ReadDB()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	rules, err := mapping.Parse("erp.yaml", []byte(erpMapping))
	require.NoError(t, err)
	rc, err := webhook.New(pipeline.NewIngester(s, b, true), nil,
		webhook.Source{Name: "erp", Secrets: []string{secret, oldSecret}, Rules: rules})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle(webhook.Pattern, http.MaxBytesHandler(rc, 64<<10))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &erp{store: s, url: srv.URL}
}

// post delivers body to source with the given signature header, content
// type and idempotency key; it returns the status and the answer.
func (e *erp) post(t testing.TB, source, sig, contentType, key string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+"/webhooks/in/"+source, bytes.NewReader(body))
	require.NoError(t, err)
	if sig != "" {
		req.Header.Set(webhook.DefaultSignatureHeader, sig)
	}
	req.Header.Set("Content-Type", contentType)
	if key != "" {
		req.Header.Set(webhook.HeaderIdempotencyKey, key)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// landed returns the external ids of the raw records, in landing order.
func (e *erp) landed(t testing.TB) []string {
	t.Helper()
	var ids []string
	rows, err := e.store.ReadDB().QueryContext(context.Background(), `SELECT external_id FROM raw_records ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	return ids
}

func TestReceiverLandsSignedRecords(t *testing.T) {
	e := newERP(t)
	one := []byte(`{"customer_no":"C-1","name":"Sara Al Amiri","email":"SARA@example.com","updated":"2026-05-01T10:00:00Z"}`)
	code, body := e.post(t, "erp", webhook.Sign(secret, one), "application/json", "", one)
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"records":1,"redelivery":false}`, body)

	array := []byte(`[{"customer_no":"C-2","name":"Omar"},{"customer_no":"C-3","name":"Nadia"}]`)
	code, body = e.post(t, "erp", webhook.Sign(oldSecret, array), "application/json", "", array)
	require.Equal(t, http.StatusOK, code, "the previous secret is accepted during a rotation: %s", body)
	require.JSONEq(t, `{"records":2,"redelivery":false}`, body)

	ndjson := []byte("{\"customer_no\":\"C-4\"}\n\n{\"name\":\"no id\"}\n")
	sig := webhook.Sign(secret, ndjson)
	code, body = e.post(t, "erp", strings.TrimPrefix(sig, "sha256="), "application/x-ndjson; charset=utf-8", "", ndjson)
	require.Equal(t, http.StatusOK, code, "the hex alone is a signature too: %s", body)
	ids := e.landed(t)
	require.Len(t, ids, 5)
	require.Equal(t, []string{"C-1", "C-2", "C-3", "C-4"}, ids[:4])
	require.True(t, strings.HasPrefix(ids[4], "sha256:"),
		"a record without an id lands under its content hash, for the map stage to dead-letter: %s", ids[4])

	var version string
	require.NoError(t, e.store.ReadDB().QueryRow(`SELECT version FROM raw_records WHERE external_id = 'C-1'`).Scan(&version))
	require.Equal(t, "2026-05-01T10:00:00Z", version)
}

func TestReceiverRefusesForgeriesAndLeavesNoTrace(t *testing.T) {
	e := newERP(t)
	body := []byte(`{"customer_no":"C-1","name":"Sara"}`)
	good := webhook.Sign(secret, body)
	for name, tc := range map[string]struct {
		sig  string
		body []byte
	}{
		"no signature":     {"", body},
		"wrong secret":     {webhook.Sign("guess", body), body},
		"tampered body":    {good, []byte(`{"customer_no":"C-1","name":"Mallory"}`)},
		"not hex":          {"sha256=zz", body},
		"truncated":        {good[:20], body},
		"shopify's base64": {"qmFy0QmVnaW5zSGVyZQ==", body},
	} {
		t.Run(name, func(t *testing.T) {
			code, _ := e.post(t, "erp", tc.sig, "application/json", "", tc.body)
			require.Equal(t, http.StatusUnauthorized, code)
		})
	}
	for i := range 1000 {
		forged := fmt.Appendf(nil, `{"customer_no":"F-%d"}`, i)
		code, _ := e.post(t, "erp", webhook.Sign(fmt.Sprint("guess-", i), forged), "application/json", "", forged)
		require.Equal(t, http.StatusUnauthorized, code)
	}
	require.Empty(t, e.landed(t), "nothing of a refused delivery is written")

	code, _ := e.post(t, "nobody", good, "application/json", "", body)
	require.Equal(t, http.StatusNotFound, code)
}

func TestReceiverRefusesBodiesThatAreNotRecords(t *testing.T) {
	e := newERP(t)
	many := "[" + strings.Repeat(`{"customer_no":"C"},`, webhook.MaxRecords) + `{"customer_no":"C"}]`
	for name, body := range map[string]string{
		"not JSON":        `customer_no=C-1`,
		"a string":        `"C-1"`,
		"array of scalar": `[1,2]`,
		"broken array":    `[{"customer_no":"C-1"}`,
		"empty array":     `[]`,
		"too many":        many,
	} {
		t.Run(name, func(t *testing.T) {
			code, answer := e.post(t, "erp", webhook.Sign(secret, []byte(body)), "application/json", "", []byte(body))
			require.Equal(t, http.StatusBadRequest, code, answer)
		})
	}
	bad := []byte("{\"customer_no\":\"C-1\"}\nnot json\n")
	code, answer := e.post(t, "erp", webhook.Sign(secret, bad), "application/x-ndjson", "", bad)
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, answer, "line 2")
	big := bytes.Repeat([]byte(" "), 70<<10)
	code, _ = e.post(t, "erp", webhook.Sign(secret, big), "application/json", "", big)
	require.Equal(t, http.StatusRequestEntityTooLarge, code)
	require.Empty(t, e.landed(t))
}

func TestReceiverDeduplicatesRedeliveries(t *testing.T) {
	e := newERP(t)
	body := []byte(`[{"customer_no":"C-1","updated":"1"},{"customer_no":"C-2","updated":"1"}]`)
	for range 3 {
		code, answer := e.post(t, "erp", webhook.Sign(secret, body), "application/json", "delivery-7", body)
		require.Equal(t, http.StatusOK, code, answer)
	}
	_, answer := e.post(t, "erp", webhook.Sign(secret, body), "application/json", "delivery-7", body)
	require.JSONEq(t, `{"records":2,"redelivery":true}`, answer)
	// Without a key, the same records again land nothing new either: the
	// raw table keeps one copy of a record's content.
	code, _ := e.post(t, "erp", webhook.Sign(secret, body), "application/json", "", body)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, []string{"C-1", "C-2"}, e.landed(t))
}

func FuzzReceiver(f *testing.F) {
	e := newERP(f)
	f.Add([]byte(`{"customer_no":"C-1"}`), true, "application/json")
	f.Add([]byte("{\"customer_no\":\"C-1\"}\n{}"), true, "application/x-ndjson")
	f.Add([]byte(`[{"a":1},2]`), false, "text/plain")
	f.Fuzz(func(t *testing.T, body []byte, signed bool, contentType string) {
		sig := "sha256=00"
		if signed {
			sig = webhook.Sign(secret, body)
		}
		req, err := http.NewRequest(http.MethodPost, e.url+"/webhooks/in/erp", bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set(webhook.DefaultSignatureHeader, sig)
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Skipf("the client sends no such request: %v", err) // a Content-Type no client can send
		}
		_ = resp.Body.Close()
		switch {
		case !signed:
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		case resp.StatusCode >= 500:
			t.Fatalf("status %d for a signed body", resp.StatusCode)
		}
	})
}
