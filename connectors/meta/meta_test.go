package meta_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/connectors/meta"
	"github.com/crmhub/crmhub/connectors/meta/metatest"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/pipeline/bus"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

const (
	appSecret   = "meta-app-secret"
	oldSecret   = "meta-app-secret-before-rotation"
	verifyToken = "verify-me"
	pageToken   = "EAAG-page-token"
	pageID      = "153125381133"
	// Lead ids beyond 2^53: a float64 would change them.
	leadA = "1296999999999999001"
	leadB = "1296999999999999002"
)

// pages is a receiver of one Meta source on a SQLite store with the
// SQLite bus, served over HTTP, and the fake Graph API it reads leads
// from.
type pages struct {
	store *store.Store
	graph *metatest.Graph
	url   string
	in    *failingIngester
}

// failingIngester fails while fail is set.
type failingIngester struct {
	meta.Ingester
	fail bool
}

func (f *failingIngester) Receive(ctx context.Context, d crmhub.Delivery, envs []crmhub.Envelope) (bool, error) {
	if f.fail {
		return false, errors.New("disk full")
	}
	return f.Ingester.Receive(ctx, d, envs)
}

func newPages(t testing.TB) *pages {
	t.Helper()
	s := storetest.SQLite(t)
	b, err := bus.Open(context.Background(), bus.Options{Driver: bus.DriverSQLite, DB: s.DB(), ReadDB: s.ReadDB()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	graph := metatest.NewGraph(pageToken, appSecret)
	gsrv := httptest.NewServer(graph)
	t.Cleanup(gsrv.Close)
	client, err := meta.NewClient(meta.ClientConfig{AccessToken: pageToken, AppSecret: appSecret, BaseURL: gsrv.URL})
	require.NoError(t, err)
	rules, err := meta.Mapping()
	require.NoError(t, err)
	in := &failingIngester{Ingester: pipeline.NewIngester(s, b, true)}
	rc, err := meta.New(in, nil, meta.Source{Name: "leads", AppSecrets: []string{appSecret, oldSecret},
		VerifyToken: verifyToken, PageID: pageID, Leads: client, Rules: rules, Options: mapping.Options{DefaultRegion: "AE"}})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle(meta.Pattern, http.MaxBytesHandler(rc, 64<<10))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &pages{store: s, graph: graph, url: srv.URL, in: in}
}

// lead is a lead as the Graph API answers it, after the recorded sample.
func lead(id, email, phone, name string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"created_time":"2026-10-02T08:49:14+0000","id":%q,"ad_id":"238499","form_id":"77001",
		"field_data":[{"name":"car_make","values":["Honda"]},{"name":"full_name","values":[%q]},
		{"name":"email","values":[%q]},{"name":"phone_number","values":[%q]}]}`, id, name, email, phone))
}

// notification is a leadgen delivery naming ids on page, with ids
// written as JSON numbers, as Meta writes them.
func notification(page string, ids ...string) []byte {
	var changes []string
	for _, id := range ids {
		changes = append(changes, fmt.Sprintf(`{"field":"leadgen","value":{"leadgen_id":%s,"page_id":%s,"form_id":77001,"adgroup_id":5,"ad_id":238499,"created_time":1790930954}}`, id, page))
	}
	return []byte(fmt.Sprintf(`{"object":"page","entry":[{"id":%s,"time":1790930955,"changes":[%s]}]}`, page, strings.Join(changes, ",")))
}

func (p *pages) post(t testing.TB, sig string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.url+"/webhooks/meta/leads", bytes.NewReader(body))
	require.NoError(t, err)
	if sig != "" {
		req.Header.Set(meta.HeaderSignature, sig)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// landed returns the raw records as entity/external id, in landing order.
func (p *pages) landed(t testing.TB) []string {
	t.Helper()
	var out []string
	rows, err := p.store.ReadDB().QueryContext(context.Background(), `SELECT entity, external_id FROM raw_records ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var entity, id string
		require.NoError(t, rows.Scan(&entity, &id))
		out = append(out, entity+"/"+id)
	}
	require.NoError(t, rows.Err())
	return out
}

func (p *pages) payload(t testing.TB, id string) string {
	t.Helper()
	var b []byte
	require.NoError(t, p.store.ReadDB().QueryRow(`SELECT payload FROM raw_records WHERE external_id = ?`, id).Scan(&b))
	return string(b)
}

func TestSubscriptionCheck(t *testing.T) {
	p := newPages(t)
	get := func(q url.Values) (int, string) {
		resp, err := http.Get(p.url + "/webhooks/meta/leads?" + q.Encode())
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get(url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {verifyToken}, "hub.challenge": {"1158201444"}})
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "1158201444", body, "the challenge is echoed as it is")

	code, _ = get(url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {"guess"}, "hub.challenge": {"1"}})
	require.Equal(t, http.StatusForbidden, code)
	code, _ = get(url.Values{"hub.mode": {"unsubscribe"}, "hub.verify_token": {verifyToken}, "hub.challenge": {"1"}})
	require.Equal(t, http.StatusForbidden, code)
	code, _ = get(url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {verifyToken}})
	require.Equal(t, http.StatusBadRequest, code)

	resp, err := http.Get(p.url + "/webhooks/meta/other?hub.mode=subscribe")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestDeliveryLandsTheLeadsItNames(t *testing.T) {
	p := newPages(t)
	p.graph.AddLead(leadA, lead(leadA, "Sara@Example.com", "+971 50 123 4567", "سارة العامري"))
	p.graph.AddLead(leadB, lead(leadB, "omar@example.com", "٠٥٠١٢٣٤٥٦٨", "Omar"))
	body := notification(pageID, leadA, leadB, leadA)
	code, answer := p.post(t, meta.Sign(appSecret, body), body)
	require.Equal(t, http.StatusOK, code, answer)
	require.JSONEq(t, `{"leads":2,"redelivery":false}`, answer, "a lead named twice is read once")
	require.ElementsMatch(t, []string{"customer/" + leadA, "customer/" + leadB}, p.landed(t))
	require.Equal(t, 1, p.graph.Requests(leadA))
	require.JSONEq(t, string(lead(leadA, "Sara@Example.com", "+971 50 123 4567", "سارة العامري")), p.payload(t, leadA),
		"the lead lands as the Graph API wrote it")

	// Meta delivers again, signed with the secret being rotated out: the
	// same leads land nothing new.
	code, answer = p.post(t, meta.Sign(oldSecret, body), body)
	require.Equal(t, http.StatusOK, code, answer)
	require.Len(t, p.landed(t), 2)

	// The built-in mapping reads the lead.
	rules, err := meta.Mapping()
	require.NoError(t, err)
	rec, err := mapping.JSONRecord([]byte(p.payload(t, leadB)))
	require.NoError(t, err)
	m, err := rules.Apply(rec, mapping.Options{DefaultRegion: "AE"})
	require.NoError(t, err)
	require.Equal(t, leadB, m.ExternalID)
	require.Equal(t, []string{"omar@example.com"}, m.Fields["email"])
	require.Equal(t, []string{"+971501234568"}, m.Fields["phone"], "Eastern Arabic digits, national format, default region")
	require.Equal(t, []string{"77001"}, m.Fields["attributes.meta_form_id"])
}

func TestForgedDeliveriesReadAndLandNothing(t *testing.T) {
	p := newPages(t)
	p.graph.AddLead(leadA, lead(leadA, "a@example.com", "", "A"))
	body := notification(pageID, leadA)
	good := meta.Sign(appSecret, body)
	for name, tc := range map[string]struct {
		sig  string
		body []byte
	}{
		"no signature":   {"", body},
		"wrong secret":   {meta.Sign("guess", body), body},
		"tampered body":  {good, notification(pageID, leadB)},
		"no prefix":      {strings.TrimPrefix(good, "sha256="), body},
		"sha1 signature": {"sha1=" + strings.TrimPrefix(good, "sha256=")[:40], body},
		"not hex":        {"sha256=zz", body},
	} {
		t.Run(name, func(t *testing.T) {
			code, _ := p.post(t, tc.sig, tc.body)
			require.Equal(t, http.StatusUnauthorized, code)
		})
	}
	require.Empty(t, p.landed(t))
	require.Zero(t, p.graph.Requests(leadA)+p.graph.Requests(leadB), "a forged delivery makes no Graph API request")
}

func TestGraphTroubleMakesMetaDeliverAgain(t *testing.T) {
	p := newPages(t)
	p.graph.AddLead(leadA, lead(leadA, "a@example.com", "", "A"))
	p.graph.AddLead(leadB, lead(leadB, "b@example.com", "", "B"))
	body := notification(pageID, leadA, leadB)
	sig := meta.Sign(appSecret, body)

	// An outage answer and a 429 with a short Retry-After are retried
	// within the delivery.
	p.graph.Then(leadA, metatest.Down, metatest.Answer{Status: http.StatusTooManyRequests, RetryAfter: "1", Body: `{}`})
	code, answer := p.post(t, sig, body)
	require.Equal(t, http.StatusOK, code, answer)
	require.Equal(t, 3, p.graph.Requests(leadA))
	require.Len(t, p.landed(t), 2)

	// A rate limit (code 4), a long Retry-After, an outage that outlasts
	// the retries, a refused token: nothing lands, and the answer makes
	// Meta deliver again.
	p2 := newPages(t)
	p2.graph.AddLead(leadA, lead(leadA, "a@example.com", "", "A"))
	p2.graph.AddLead(leadB, lead(leadB, "b@example.com", "", "B"))
	for name, answers := range map[string][]metatest.Answer{
		"rate limit":       {metatest.Throttled},
		"long retry-after": {{Status: http.StatusTooManyRequests, RetryAfter: "3600", Body: `{}`}},
		"outage":           {metatest.Down, metatest.Down, metatest.Down},
		"token refused":    {{Status: http.StatusBadRequest, Body: `{"error":{"message":"Error validating access token: Session has expired","type":"OAuthException","code":190,"error_subcode":463}}`}},
	} {
		t.Run(name, func(t *testing.T) {
			p2.graph.Then(leadB, answers...)
			code, answer := p2.post(t, sig, body)
			require.Equal(t, http.StatusServiceUnavailable, code, answer)
			require.Empty(t, p2.landed(t), "no lead of the delivery lands")
		})
	}
	code, answer = p2.post(t, sig, body)
	require.Equal(t, http.StatusOK, code, "delivered again once the Graph API answers: %s", answer)
	require.Len(t, p2.landed(t), 2)

	p2.in.fail = true
	p2.graph.AddLead("42", lead("42", "c@example.com", "", "C"))
	again := notification(pageID, "42")
	code, _ = p2.post(t, meta.Sign(appSecret, again), again)
	require.Equal(t, http.StatusServiceUnavailable, code, "a lead not stored is delivered again")
}

func TestLeadThatCannotBeReadIsKept(t *testing.T) {
	p := newPages(t)
	p.graph.AddLead(leadA, lead(leadA, "a@example.com", "", "A"))
	body := notification(pageID, leadA, leadB) // leadB was deleted
	code, answer := p.post(t, meta.Sign(appSecret, body), body)
	require.Equal(t, http.StatusOK, code, answer)
	require.JSONEq(t, `{"leads":1,"unavailable":1,"redelivery":false}`, answer)
	require.ElementsMatch(t, []string{"customer/" + leadA, string(meta.EntityUnavailableLead) + "/" + leadB}, p.landed(t))
	notice := p.payload(t, leadB)
	require.Contains(t, notice, `"leadgen_id":"`+leadB+`"`)
	require.Contains(t, notice, "does not exist")
	require.Contains(t, notice, "code 100")
}

func TestLeadsOfOtherPagesAndFieldsAreIgnored(t *testing.T) {
	p := newPages(t)
	p.graph.AddLead(leadA, lead(leadA, "a@example.com", "", "A"))
	other := notification("999", leadA)
	code, answer := p.post(t, meta.Sign(appSecret, other), other)
	require.Equal(t, http.StatusOK, code, answer)
	require.JSONEq(t, `{"leads":0,"ignored":1,"redelivery":false}`, answer)
	feed := []byte(`{"object":"page","entry":[{"id":"1","time":2,"changes":[{"field":"feed","value":{"item":"status"}}]}]}`)
	code, answer = p.post(t, meta.Sign(appSecret, feed), feed)
	require.Equal(t, http.StatusOK, code, answer)
	require.JSONEq(t, `{"leads":0,"ignored":1,"redelivery":false}`, answer)
	require.Empty(t, p.landed(t))
	require.Zero(t, p.graph.Requests(leadA))
}

func TestMalformedNotificationsAreRefused(t *testing.T) {
	p := newPages(t)
	for _, body := range []string{``, `[]`, `{"object":"page"}`, `{"object":"page","entry":[{"changes":[{"field":"leadgen","value":{}}]}]}`,
		`{"object":"page","entry":[{"changes":[{"field":"leadgen","value":{"leadgen_id":"12; DROP"}}]}]}`,
		`{"object":"page","entry":[{"changes":[{"field":"leadgen","value":{"leadgen_id":1.5e3}}]}]}`} {
		code, answer := p.post(t, meta.Sign(appSecret, []byte(body)), []byte(body))
		require.Equal(t, http.StatusBadRequest, code, "%s: %s", body, answer)
	}
	require.Empty(t, p.landed(t))
}

// TestRecordedNotification reads Meta's documented delivery.
func TestRecordedNotification(t *testing.T) {
	body, err := os.ReadFile("../../../shared/data/meta/leadgen_webhook.docs-sample.json")
	require.NoError(t, err)
	n, err := meta.ParseNotification(body)
	require.NoError(t, err)
	require.Equal(t, "page", n.Object)
	require.Equal(t, []meta.Notice{
		{LeadID: "123123123123", PageID: "123123123", FormID: "12312312312", AdID: "12312312312", CreatedTime: 1440120384},
		{LeadID: "123123123124", PageID: "123123123", FormID: "12312312312", AdID: "12312312312", CreatedTime: 1440120384},
	}, n.Leads)
}

func FuzzReceiver(f *testing.F) {
	p := newPages(f)
	p.graph.AddLead(leadA, lead(leadA, "a@example.com", "", "A"))
	f.Add(notification(pageID, leadA), true)
	f.Add([]byte(`{"object":"page","entry":[{"changes":[{"field":"leadgen","value":{"leadgen_id":"1"}}]}]}`), true)
	f.Add([]byte(`{"object":"page","entry":null}`), false)
	f.Fuzz(func(t *testing.T, body []byte, signed bool) {
		sig := "sha256=00"
		if signed {
			sig = meta.Sign(appSecret, body)
		}
		code, answer := p.post(t, sig, body)
		switch {
		case !signed:
			require.Equal(t, http.StatusUnauthorized, code)
		case code >= 500:
			t.Fatalf("status %d for a signed body: %s", code, answer)
		}
	})
}
