package shopify_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/connectors/shopify"
)

// recordingIngester keeps what it was given.
type recordingIngester struct {
	mu    sync.Mutex
	calls [][]crmhub.Envelope
	keys  [][]string
}

func (r *recordingIngester) Receive(_ context.Context, d crmhub.Delivery, envs []crmhub.Envelope) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, envs)
	r.keys = append(r.keys, d.Keys)
	return true, nil
}

const (
	fuzzShop     = "example.myshopify.com"
	fuzzPrevious = "the-secret-being-rotated-out"
)

// FuzzWebhook feeds the receiver deliveries made of arbitrary bodies and
// headers, signed properly, signed and then tampered with, or carrying an
// arbitrary signature. It never panics; a delivery whose signature does
// not verify under a current or previous secret, or that names another
// shop, is refused with 401 and reaches nothing; a verified one with a
// topic lands as exactly one valid envelope carrying the body unchanged.
func FuzzWebhook(f *testing.F) {
	seeds := []struct {
		body, topic string
	}{
		{`{"id":706405506930370084,"email":"bob@example.com","updated_at":"2026-10-28T18:41:03-04:00"}`, "customers/update"},
		{`{"id":5123456789012345678,"customer":{"id":7039114952811},"updated_at":"2026-10-28T18:41:03Z","line_items":[]}`, "orders/create"},
		{`{"id":5123456789012345678}`, "orders/delete"},
		{`{"shop_id":954889,"shop_domain":"example.myshopify.com","customer":{"email":"a@b.c"},"orders_to_redact":[1]}`, "customers/redact"},
		{`{"data_request":{"id":9999},"customer":{"id":1}}`, "customers/data_request"},
		{`{"shop_id":954889}`, "shop/redact"},
		{`{"id":"not a number"}`, "products/update"},
		{`not json at all`, "customers/create"},
		{``, "orders/paid"},
		{`{"id":1e400}`, "customers/delete"},
	}
	for i, s := range seeds {
		f.Add([]byte(s.body), s.topic, "b54557e4-0001", "98880550-0001", fuzzShop, uint8(i), "")
	}
	f.Add([]byte(`{"id":1}`), "customers/update", "", "", "EXAMPLE.myshopify.com", uint8(0), "")
	f.Add([]byte(`{"id":1}`), "customers/update", "", "", "other.myshopify.com", uint8(0), "")
	f.Add([]byte(`{"id":1}`), "", "", "", "", uint8(0), "")
	f.Add([]byte(`{"id":1}`), "customers/update", "w", "e", "", uint8(2), "AAAA")
	f.Add([]byte(`{"id":1}`), "customers/update", "w", "e", "", uint8(2), "not base64 at all!")

	f.Fuzz(func(t *testing.T, body []byte, topic, webhookID, eventID, shopDomain string, mode uint8, sig string) {
		in := &recordingIngester{}
		wh, err := shopify.NewWebhooks(in, nil, shopify.WebhookSource{Name: "main-store", Shop: fuzzShop,
			Secrets: []string{secret, fuzzPrevious}})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.Handle(shopify.Pattern, wh)

		sent := bytes.Clone(body)
		verified := false
		switch mode % 4 {
		case 0: // signed with the current secret
			sig, verified = shopify.Sign(secret, body), true
		case 1: // signed with the previous secret, during a rotation
			sig, verified = shopify.Sign(fuzzPrevious, body), true
		case 2: // signed, then tampered with on the way
			sig = shopify.Sign(secret, body)
			if len(sent) == 0 {
				sent = []byte{' '}
			} else {
				sent[int(mode)%len(sent)] ^= 1 << (mode % 8)
			}
		default: // a signature of the sender's own making
			verified = sig == shopify.Sign(secret, body) || sig == shopify.Sign(fuzzPrevious, body)
		}
		req := httptest.NewRequest(http.MethodPost, "/webhooks/shopify/main-store", bytes.NewReader(sent))
		for k, v := range map[string]string{shopify.HeaderHMAC: sig, shopify.HeaderTopic: topic,
			shopify.HeaderWebhookID: webhookID, shopify.HeaderEventID: eventID, shopify.HeaderShopDomain: shopDomain} {
			req.Header[http.CanonicalHeaderKey(k)] = []string{v}
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)

		otherShop := shopDomain != "" && !strings.EqualFold(shopDomain, fuzzShop)
		switch {
		case !verified || otherShop:
			if rec.Code != http.StatusUnauthorized || len(in.calls) != 0 {
				t.Fatalf("a forged delivery (mode %d) was answered %d and landed %d times", mode%4, rec.Code, len(in.calls))
			}
		case topic == "":
			if rec.Code != http.StatusBadRequest || len(in.calls) != 0 {
				t.Fatalf("a delivery without a topic was answered %d and landed %d times", rec.Code, len(in.calls))
			}
		default:
			if rec.Code != http.StatusOK || len(in.calls) != 1 || len(in.calls[0]) != 1 {
				t.Fatalf("a verified delivery was answered %d and landed %v", rec.Code, in.calls)
			}
			env := in.calls[0][0]
			env.IdempotencyKey = env.DefaultIdempotencyKey()
			if err := env.Validate(); err != nil {
				t.Fatalf("landed an invalid envelope: %v", err)
			}
			if !bytes.Equal(env.Payload, body) {
				t.Fatal("the landed payload is not the body as it came")
			}
			if env.Source != "main-store" || env.SourceType != shopify.SourceType {
				t.Fatalf("landed under %s/%s", env.Source, env.SourceType)
			}
			if webhookID != "" && (len(in.keys[0]) == 0 || in.keys[0][0] != "webhook:"+webhookID) {
				t.Fatalf("delivery keys %v lack the webhook id", in.keys[0])
			}
		}
	})
}

// signQuery signs v as Shopify signs its redirects, written here apart
// from the code under test.
func signQuery(secret string, v url.Values) string {
	msg := v.Encode()
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(msg))
	return msg + "&hmac=" + hex.EncodeToString(mac.Sum(nil))
}

// FuzzVerifyQuery: VerifyQuery never panics on any query, accepts every
// query Shopify would sign, in any order of its parameters, and refuses
// one with a parameter added or the signature changed.
func FuzzVerifyQuery(f *testing.F) {
	f.Add("hush", "code=0907a61c0c8d55e99db179b68161bc00&shop=some-shop.myshopify.com&state=0.6784241404160823&timestamp=1337178173")
	f.Add("s", "host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvZXhhbXBsZQ%3D%3D&shop=a.myshopify.com")
	f.Add("s", "a=1&a=2&b=%zz&hmac=1&hmac=2")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, secret, raw string) {
		shopify.VerifyQuery(secret, raw)
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		v.Del("hmac")
		v.Del("signature")
		signed := signQuery(secret, v)
		if !shopify.VerifyQuery(secret, signed) {
			t.Fatalf("a signed query was refused: %q", signed)
		}
		// The same parameters, the signature first.
		msg, mac, _ := strings.Cut(signed, "&hmac=")
		if !shopify.VerifyQuery(secret, "hmac="+mac+"&"+msg) {
			t.Fatalf("a signed query in another order was refused: %q", signed)
		}
		if shopify.VerifyQuery(secret, signed+"&zz_added=1") {
			t.Fatalf("a query with an added parameter was accepted: %q", signed)
		}
		flipped := []byte(mac)
		flipped[0] = '0'
		if mac[0] == '0' {
			flipped[0] = '1'
		}
		if shopify.VerifyQuery(secret, msg+"&hmac="+string(flipped)) {
			t.Fatalf("a query with a changed signature was accepted: %q", signed)
		}
	})
}
