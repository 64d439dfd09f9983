package identity

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/crmhub/mapping"
	"github.com/stretchr/testify/require"
)

func TestNewRecord(t *testing.T) {
	received := time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC)
	shop := Source{Name: "shop", Type: "shopify", Tenant: "t1"}
	gulf := Source{Name: "pos", Type: "csv", Tenant: "t1", DefaultRegion: "AE"}
	tests := []struct {
		name         string
		src          Source
		fields       map[string][]string
		version      string
		rejected     map[string]string // as the mapping reported them
		want         map[string][]string
		wantRejected []string // fields
		wantAt       time.Time
	}{
		{"emails lower-cased and deduplicated", shop,
			map[string][]string{"email": {"SARA@Example.COM"}, "emails": {"sara@example.com", " Other@X.org "}},
			"", nil, map[string][]string{"emails": {"sara@example.com", "other@x.org"}}, nil, received},
		{"the email field stays the primary email", shop,
			map[string][]string{"emails": {"a@x.org"}, "email": {"b@x.org"}},
			"", nil, map[string][]string{"emails": {"b@x.org", "a@x.org"}}, nil, received},
		{"a bad email is rejected and the rest kept", shop,
			map[string][]string{"email": {"sara at example.com"}, "emails": {"omar@example.com"}, "first_name": {"Sara"},
				"phone": {"+971501234567"}},
			"", nil, map[string][]string{"emails": {"omar@example.com"}, "first_name": {"Sara"}, "phones": {"+971501234567"}},
			[]string{"email"}, received},
		{"phone in Eastern Arabic digits with a default region", gulf,
			map[string][]string{"phone": {"٠٥٠١٢٣٤٥٦٧"}},
			"", nil, map[string][]string{"phones": {"+971501234567"}}, nil, received},
		{"phone in Persian digits with a default region", gulf,
			map[string][]string{"phones": {"۰۵۰ ۱۲۳ ۴۵۶۷"}},
			"", nil, map[string][]string{"phones": {"+971501234567"}}, nil, received},
		{"phone with a country code ignores the default region", gulf,
			map[string][]string{"phone": {"+966 50 123 4567"}, "phones": {"00971501234567"}},
			"", nil, map[string][]string{"phones": {"+966501234567", "+971501234567"}}, nil, received},
		{"phone without country code or default region", shop,
			map[string][]string{"phone": {"050 123 4567"}, "first_name": {"Sara"}},
			"", nil, map[string][]string{"first_name": {"Sara"}}, []string{"phone"}, received},
		{"placeholder phone", gulf,
			map[string][]string{"phone": {"050 000 0000"}},
			"", nil, map[string][]string{}, []string{"phone"}, received},
		{"name split into given and family name", shop,
			map[string][]string{"name": {"  Sara   Al Amiri "}},
			"", nil, map[string][]string{"first_name": {"Sara"}, "last_name": {"Al Amiri"}}, nil, received},
		{"one-word name", shop,
			map[string][]string{"name": {"Madonna"}},
			"", nil, map[string][]string{"first_name": {"Madonna"}}, nil, received},
		{"name in Arabic script", shop,
			map[string][]string{"name": {"سارة العامري"}},
			"", nil, map[string][]string{"first_name": {"سارة"}, "last_name": {"العامري"}}, nil, received},
		{"name not split when a part is given", shop,
			map[string][]string{"name": {"Sara Haddad"}, "first_name": {"Sarah"}},
			"", nil, map[string][]string{"first_name": {"Sarah"}}, nil, received},
		{"names cleaned, case kept", shop,
			map[string][]string{"first_name": {" sara  "}, "last_name": {"AL-Amiri\u200b"}},
			"", nil, map[string][]string{"first_name": {"sara"}, "last_name": {"AL-Amiri"}}, nil, received},
		{"birthday day first", shop,
			map[string][]string{"birthday": {"14/03/1985"}},
			"", nil, map[string][]string{"birthday": {"1985-03-14"}}, nil, received},
		{"birthday in Eastern Arabic digits", shop,
			map[string][]string{"birthday": {"١٤/٠٣/١٩٨٥"}},
			"", nil, map[string][]string{"birthday": {"1985-03-14"}}, nil, received},
		{"birthday in 1900", shop,
			map[string][]string{"birthday": {"1900-01-01"}},
			"", nil, map[string][]string{"birthday": {"1900-01-01"}}, nil, received},
		{"birthday on the day received", shop,
			map[string][]string{"birthday": {"2026-02-01"}},
			"", nil, map[string][]string{"birthday": {"2026-02-01"}}, nil, received},
		{"birthday in 1800", shop,
			map[string][]string{"birthday": {"1800-01-01"}, "first_name": {"Sara"}},
			"", nil, map[string][]string{"first_name": {"Sara"}}, []string{"birthday"}, received},
		{"birthday in the future", shop,
			map[string][]string{"birthday": {"2030-01-01"}},
			"", nil, map[string][]string{}, []string{"birthday"}, received},
		{"birthday the day after received", shop,
			map[string][]string{"birthday": {"2026-02-02"}},
			"", nil, map[string][]string{}, []string{"birthday"}, received},
		{"birthday that is no date", shop,
			map[string][]string{"birthday": {"31/02/1985"}},
			"", nil, map[string][]string{}, []string{"birthday"}, received},
		{"country name to code", shop,
			map[string][]string{"address.country_code": {"United Arab Emirates"}},
			"", nil, map[string][]string{"address.country_code": {"AE"}}, nil, received},
		{"country abbreviation to code", shop,
			map[string][]string{"address.country_code": {"uae"}},
			"", nil, map[string][]string{"address.country_code": {"AE"}}, nil, received},
		{"country in Persian to code", shop,
			map[string][]string{"address.country_code": {"ایران"}},
			"", nil, map[string][]string{"address.country_code": {"IR"}}, nil, received},
		{"unknown country", shop,
			map[string][]string{"address.country_code": {"Narnia"}, "address.city": {"Cair Paravel"}},
			"", nil, map[string][]string{"address.city": {"Cair Paravel"}}, []string{"address.country_code"}, received},
		{"postcode formatted for its country", shop,
			map[string][]string{"address.postal_code": {" sw1a1aa "}, "address.country_code": {"UK"}},
			"", nil, map[string][]string{"address.postal_code": {"SW1A 1AA"}, "address.country_code": {"GB"}}, nil, received},
		{"other fields trimmed and deduplicated", shop,
			map[string][]string{"tags": {" vip ", "vip", "", "b2b"}, "locale": {"ar-AE"}},
			"", nil, map[string][]string{"tags": {"vip", "b2b"}, "locale": {"ar-AE"}}, nil, received},
		{"the mapping's rejections are kept", shop,
			map[string][]string{"first_name": {"Sara"}, "email": {"nope"}},
			"", map[string]string{"tags": "unknown transform"}, map[string][]string{"first_name": {"Sara"}},
			[]string{"email", "tags"}, received},
		{"At from updated_at, in UTC", shop,
			map[string][]string{"updated_at": {"2026-01-02T03:04:05+04:00"}},
			"2026-01-05T00:00:00Z", nil, map[string][]string{"updated_at": {"2026-01-02T03:04:05+04:00"}}, nil,
			time.Date(2026, 1, 1, 23, 4, 5, 0, time.UTC)},
		{"At from the version", shop, nil,
			"2026-01-05T00:00:00Z", nil, map[string][]string{}, nil, time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)},
		{"At from a version in Unix seconds", shop, nil,
			"1767225600", nil, map[string][]string{}, nil, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"At from the version when updated_at is unreadable", shop,
			map[string][]string{"updated_at": {"last week"}},
			"2026-01-05T00:00:00Z", nil, map[string][]string{"updated_at": {"last week"}}, nil,
			time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)},
		{"At from received when nothing else reads", shop,
			map[string][]string{"updated_at": {"last week"}},
			"v3", nil, map[string][]string{"updated_at": {"last week"}}, nil, received},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mapping.Mapped{ExternalID: "42", Version: tt.version, Fields: tt.fields, Rejected: tt.rejected}
			r, rejected := NewRecord(tt.src, m, received)
			require.Equal(t, tt.want, r.Fields)
			if len(tt.wantRejected) == 0 {
				require.Nil(t, rejected, "nothing rejected gives a nil map")
			} else {
				require.Equal(t, tt.wantRejected, slices.Sorted(maps.Keys(rejected)))
				for f, why := range rejected {
					require.NotEmpty(t, why, "reason for %s", f)
				}
			}
			if !r.At.Equal(tt.wantAt) || r.At.Location() != time.UTC {
				t.Errorf("At = %v, want %v in UTC", r.At, tt.wantAt)
			}
			require.Equal(t, Key{Source: tt.src.Name, ExternalID: "42"}, r.Key())
			require.Equal(t, tt.src.Type, r.SourceType)
			require.Equal(t, tt.src.Tenant, r.Tenant)
			require.Equal(t, tt.version, r.Version)
		})
	}
}

func TestNewRecordBirthdayReason(t *testing.T) {
	_, rejected := NewRecord(Source{Name: "shop"}, mapping.Mapped{ExternalID: "1",
		Fields: map[string][]string{"birthday": {"1800-01-01"}}}, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	require.Equal(t, map[string]string{"birthday": "not a plausible birthday: 1800-01-01"}, rejected)
}

func TestNewRecordDoesNotChangeTheMapped(t *testing.T) {
	m := mapping.Mapped{ExternalID: "1", Fields: map[string][]string{"email": {"SARA@EXAMPLE.COM"}, "name": {"Sara Haddad"}},
		Rejected: map[string]string{"tags": "bad"}}
	NewRecord(Source{Name: "shop"}, m, time.Now())
	require.Equal(t, mapping.Mapped{ExternalID: "1", Fields: map[string][]string{"email": {"SARA@EXAMPLE.COM"}, "name": {"Sara Haddad"}},
		Rejected: map[string]string{"tags": "bad"}}, m)
}

func TestIdentifiable(t *testing.T) {
	tests := []struct {
		name   string
		fields []string
		want   bool
	}{
		{"email", []string{"emails", "sara@example.com"}, true},
		{"phone", []string{"phones", "+971501234567"}, true},
		{"given name", []string{"first_name", "Sara"}, true},
		{"family name", []string{"last_name", "Haddad"}, true},
		{"birthday and address only", []string{"birthday", "1985-03-14", "address.city", "Dubai"}, false},
		{"empty values", []string{"emails", "", "first_name", ""}, false},
		{"nothing", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rec("1", tt.fields...)
			if got := r.Identifiable(); got != tt.want {
				t.Errorf("Identifiable() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	tests := []struct {
		in     string
		want   Key
		wantOK bool
	}{
		{"shop:123", Key{"shop", "123"}, true},
		{"shop:gid://shopify/Customer/1", Key{"shop", "gid://shopify/Customer/1"}, true},
		{"shop:", Key{}, false},
		{":123", Key{}, false},
		{"shop", Key{}, false},
		{"", Key{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := ParseKey(tt.in)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ParseKey(%q) = %v, %v, want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
			if ok && got.String() != tt.in {
				t.Errorf("String() = %q, want %q back", got.String(), tt.in)
			}
		})
	}
}

func TestKeyCompare(t *testing.T) {
	tests := []struct {
		a, b Key
		want int
	}{
		{Key{"erp", "9"}, Key{"shop", "1"}, -1},
		{Key{"shop", "1"}, Key{"shop", "1"}, 0},
		{Key{"shop", "2"}, Key{"shop", "10"}, 1}, // ids compare as strings
	}
	for _, tt := range tests {
		if got := tt.a.Compare(tt.b); got != tt.want {
			t.Errorf("%v.Compare(%v) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := tt.b.Compare(tt.a); got != -tt.want {
			t.Errorf("%v.Compare(%v) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

// TestFeaturesRoundTrip checks that stored features decode to what the
// record gives, so a candidate from the store or the match index compares
// exactly like the record itself.
func TestFeaturesRoundTrip(t *testing.T) {
	recs := append(benchPeople(9, 500), synthetic(9, 200)...)
	recs = append(recs,
		Record{Source: "erp", ExternalID: "ar", Tenant: "t1", Fields: map[string][]string{
			"first_name": {"محمد"}, "last_name": {"العامري"}, "birthday": {"1990-04-07"},
			"emails": {"m.amiri@example.ae", "mo@example.com"}, "phones": {"+971501234567", "+97142345678"},
			"address.city": {"دبي"}, "address.line1": {"12 Sheikh Zayed Rd"}}},
		Record{Source: "leads", ExternalID: "only-phone", Fields: map[string][]string{"phones": {"+971501234567"}}},
	)
	for _, r := range recs {
		want := featuresOf(&r)
		got, ok := decodeFeatures(want.encode(), r.Key())
		require.True(t, ok, "record %s", r.Key())
		require.Equal(t, want, got, "record %s", r.Key())
	}
	for _, bad := range []string{"", "f1", "f0\x1f\x1f\x1f\x1f\x1f\x1f\x1f\x1f\x1f\x1f\x1f", strings.Repeat("f1\x1f", 13)} {
		_, ok := decodeFeatures(bad, Key{})
		require.False(t, ok, "%q", bad)
	}
}
