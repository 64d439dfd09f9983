package crmhub_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
)

func TestCustomerJSONRoundTripKeepsBigIDsAndMoney(t *testing.T) {
	clv := decimal.RequireFromString("1460.00")
	c := crmhub.Customer{
		ID:        crmhub.NewID(crmhub.CustomerIDPrefix),
		Email:     "sara@example.com",
		Emails:    []string{"sara@example.com"},
		Phone:     "+971501234567",
		Phones:    []string{"+971501234567"},
		FirstName: "Sara", LastName: "Al Amiri",
		Birthday:   crmhub.Date{Year: 1991, Month: 3, Day: 14},
		Identities: []crmhub.Identity{{Source: "main-store", Type: "shopify", ExternalID: "706405506930370084"}},
		Stats: &crmhub.Stats{OrdersCount: 4, TotalSpent: decimal.RequireFromString("812.40"), Currency: "AED",
			AOV: decimal.RequireFromString("203.10")},
		RFM:       &crmhub.RFM{R: 5, F: 4, M: 4, Segment: "loyal"},
		CLV:       &clv,
		CreatedAt: time.Date(2025, 11, 2, 9, 12, 0, 0, time.UTC),
		UpdatedAt: time.Date(2026, 10, 28, 18, 41, 3, 0, time.UTC),
	}
	require.NoError(t, c.Validate())

	b, err := json.Marshal(c)
	require.NoError(t, err)
	s := string(b)
	for _, want := range []string{
		`"external_id":"706405506930370084"`, `"total_spent":"812.4"`, `"clv":"1460"`,
		`"birthday":"1991-03-14"`,
	} {
		require.Contains(t, s, want)
	}
	require.NotContains(t, s, "provenance", "empty maps are omitted")

	var back crmhub.Customer
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, c.Identities, back.Identities)
	require.True(t, c.CLV.Equal(*back.CLV))
	require.True(t, c.Stats.TotalSpent.Equal(back.Stats.TotalSpent))
	require.Equal(t, c.Birthday, back.Birthday)
}

func TestCustomerValidate(t *testing.T) {
	valid := func() crmhub.Customer {
		return crmhub.Customer{ID: crmhub.NewID(crmhub.CustomerIDPrefix), Email: "a@b.co", Emails: []string{"a@b.co"},
			Phone: "+4915112345678", Phones: []string{"+4915112345678"}}
	}
	tests := []struct {
		name   string
		mutate func(*crmhub.Customer)
		want   string
	}{
		{"valid", func(*crmhub.Customer) {}, ""},
		{"foreign id", func(c *crmhub.Customer) { c.ID = "12345" }, "want cus_"},
		{"primary email missing from list", func(c *crmhub.Customer) { c.Emails = nil }, "primary email"},
		{"phone not E.164", func(c *crmhub.Customer) { c.Phone = "0501234567"; c.Phones = []string{"0501234567"} }, "E.164"},
		{"impossible birthday", func(c *crmhub.Customer) { c.Birthday = crmhub.Date{Year: 2023, Month: 2, Day: 29} }, "calendar date"},
		{"identity without id", func(c *crmhub.Customer) { c.Identities = []crmhub.Identity{{Source: "s"}} }, "external id"},
		{"duplicate identity", func(c *crmhub.Customer) {
			c.Identities = []crmhub.Identity{{Source: "s", ExternalID: "1"}, {Source: "s", ExternalID: "1"}}
		}, "twice"},
		{"bad country", func(c *crmhub.Customer) { c.Addresses = []crmhub.Address{{CountryCode: "uae"}} }, "ISO 3166"},
		{"bad rfm", func(c *crmhub.Customer) { c.RFM = &crmhub.RFM{R: 0, F: 1, M: 1} }, "1..5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mutate(&c)
			err := c.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
			require.ErrorIs(t, err, crmhub.ErrInvalid)
			require.True(t, crmhub.IsPermanent(err))
		})
	}
}

func TestOrderValidate(t *testing.T) {
	o := crmhub.Order{ID: crmhub.NewID(crmhub.OrderIDPrefix), Source: "main-store", ExternalID: "5123456789012345678",
		Currency: "AED", Total: decimal.RequireFromString("204.00"),
		LineItems: []crmhub.LineItem{{SKU: "TEE", Quantity: 2, UnitPrice: decimal.RequireFromString("95.00")}}}
	require.NoError(t, o.Validate())

	bad := o
	bad.Currency = "dirham"
	require.ErrorIs(t, bad.Validate(), crmhub.ErrInvalid)
	bad = o
	bad.Refunded = decimal.RequireFromString("-1")
	require.ErrorContains(t, bad.Validate(), "refunded is negative")
	bad = o
	bad.LineItems = []crmhub.LineItem{{Quantity: -1}}
	require.ErrorContains(t, bad.Validate(), "line item 0")
}

func TestOrderJSONHasMoneyAsStrings(t *testing.T) {
	var o crmhub.Order
	in := `{"id":"ord_x","external_id":"5123456789012345678","total":"204.00","subtotal":"190.00",
		"line_items":[{"sku":"TEE","quantity":2,"unit_price":"95.00"}]}`
	require.NoError(t, json.Unmarshal([]byte(in), &o))
	require.Equal(t, "5123456789012345678", o.ExternalID)
	require.Equal(t, "204", o.Total.String())
	b, err := json.Marshal(o)
	require.NoError(t, err)
	require.Contains(t, string(b), `"unit_price":"95"`)
	require.Contains(t, string(b), `"cancelled_at":null`)
}

func TestDate(t *testing.T) {
	d, err := crmhub.ParseDate("1991-03-14")
	require.NoError(t, err)
	require.Equal(t, "1991-03-14", d.String())
	require.True(t, d.Valid())

	_, err = crmhub.ParseDate("14/03/1991")
	require.ErrorIs(t, err, crmhub.ErrInvalid)

	var z crmhub.Date
	require.NoError(t, json.Unmarshal([]byte(`null`), &z))
	require.True(t, z.IsZero())
	require.NoError(t, json.Unmarshal([]byte(`""`), &z))
	require.True(t, z.IsZero())
	require.Error(t, json.Unmarshal([]byte(`"1991-02-30"`), &z))
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "1", -1},
		{"1", "", 1},
		{"2026-10-28T18:41:03Z", "2026-10-28T18:41:03Z", 0},
		{"2026-10-28T18:41:03Z", "2026-10-28T20:41:03+02:00", 0},
		{"2026-10-28T18:41:03.5Z", "2026-10-28T18:41:03Z", 1},
		{"2026-10-27T00:00:00-05:00", "2026-10-27T01:00:00Z", 1},
		{"9", "10", -1},
		{"706405506930370084", "706405506930370083", 1},
		{"b", "a", 1},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, crmhub.CompareVersions(tt.a, tt.b), "%q vs %q", tt.a, tt.b)
	}
}

func TestEnvelopeKeys(t *testing.T) {
	e := crmhub.Envelope{Source: "s", Entity: crmhub.EntityCustomer, ExternalID: "1", Payload: []byte(`{"a":1}`)}
	require.ErrorIs(t, e.Validate(), crmhub.ErrInvalid)
	e.IdempotencyKey = e.DefaultIdempotencyKey()
	require.NoError(t, e.Validate())

	same := e
	same.Payload = []byte(`{"a":1}`)
	require.Equal(t, e.IdempotencyKey, same.DefaultIdempotencyKey())
	changed := e
	changed.Payload = []byte(`{"a":2}`)
	require.NotEqual(t, e.IdempotencyKey, changed.DefaultIdempotencyKey())
	// Field boundaries matter: ("ab","c") and ("a","bc") are different records.
	x := crmhub.Envelope{Source: "ab", Entity: "c"}
	y := crmhub.Envelope{Source: "a", Entity: "bc"}
	require.NotEqual(t, x.DefaultIdempotencyKey(), y.DefaultIdempotencyKey())
}

func TestNewIDIsUniqueAndPrefixed(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := crmhub.NewID(crmhub.CustomerIDPrefix)
		require.True(t, strings.HasPrefix(id, "cus_"))
		require.True(t, crmhub.HasIDPrefix(id, crmhub.CustomerIDPrefix))
		require.False(t, seen[id])
		seen[id] = true
	}
	require.False(t, crmhub.HasIDPrefix("cus_notaulid", crmhub.CustomerIDPrefix))
}

func TestDateFormatting(t *testing.T) {
	for _, tt := range []struct {
		d    crmhub.Date
		want string
	}{
		{crmhub.Date{Year: 1991, Month: 3, Day: 14}, "1991-03-14"},
		{crmhub.Date{Year: 7, Month: 12, Day: 1}, "0007-12-01"},
		{crmhub.Date{Year: 2026, Month: 10, Day: 31}, "2026-10-31"},
		{crmhub.Date{Year: 12345, Month: 1, Day: 2}, "12345-01-02"},
		{crmhub.Date{}, ""},
	} {
		require.Equal(t, tt.want, tt.d.String())
		b, err := json.Marshal(tt.d)
		require.NoError(t, err)
		if tt.want == "" {
			require.Equal(t, "null", string(b))
		} else {
			require.Equal(t, `"`+tt.want+`"`, string(b))
		}
	}
}
