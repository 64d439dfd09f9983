package identity

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fullRecord has every field that makes a key.
var fullRecord = []string{"first_name", "Sara", "last_name", "Haddad", "birthday", "1985-03-14",
	"emails", "sara.haddad@example.com", "emails", "s.ara@gmail.com", "emails", "sara@googlemail.com",
	"phones", "+971501234567", "address.line1", "12 Palm Street", "address.line2", "Apt 4",
	"address.postal_code", "12 345", "address.city", "Dubai"}

func tenantFeatures(tenant string, kv ...string) *features {
	r := Record{Source: "test", ExternalID: "1", Tenant: tenant, Fields: fieldsOf(kv...)}
	return featuresOf(&r)
}

// TestKeysOfDeterministic lists the keys that link records on their own:
// one per distinct email match key and phone.
func TestKeysOfDeterministic(t *testing.T) {
	tests := []struct {
		name   string
		fields []string
		want   []string
	}{
		// The two Gmail spellings share one key.
		{"full record", fullRecord, []string{"e|t|sara.haddad@example.com", "e|t|sara@gmail.com", "p|t|+971501234567"}},
		{"plus tag folded", []string{"emails", "sara+shop@example.com", "emails", "sara@example.com"}, []string{"e|t|sara@example.com"}},
		{"short local part", []string{"emails", "al@example.com"}, []string{"e|t|al@example.com"}},
		{"two phones", []string{"phones", "+971502222222", "phones", "+971501111111"},
			[]string{"p|t|+971501111111", "p|t|+971502222222"}},
		{"names only", []string{"first_name", "Sara", "last_name", "Haddad"}, nil},
		{"nothing", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, k := range keysOf(tenantFeatures("t", tt.fields...), newBlockedSet(nil)) {
				if deterministic(k) {
					got = append(got, k)
				}
			}
			require.Equal(t, tt.want, got)
		})
	}
}

// TestBlockingKeysMeet checks that records of one person written
// differently share a blocking key, so the fuzzy rules compare them, and
// that records with nothing in common share none.
func TestBlockingKeysMeet(t *testing.T) {
	sara := []string{"first_name", "Sara", "last_name", "Haddad", "birthday", "1985-03-14"}
	tests := []struct {
		name string
		a, b []string
		want bool
	}{
		{"typo in the family name, same birthday", sara,
			[]string{"first_name", "Sara", "last_name", "Hadad", "birthday", "1985-03-14"}, true},
		{"typo in the birthday, same names", sara,
			[]string{"first_name", "Sara", "last_name", "Haddad", "birthday", "1985-03-15"}, true},
		{"names swapped", []string{"first_name", "Sara", "last_name", "Haddad"},
			[]string{"first_name", "Haddad", "last_name", "Sara"}, true},
		{"transliterated names", []string{"first_name", "Mohammed", "last_name", "Al Amiri"},
			[]string{"first_name", "Muhammad", "last_name", "Al-Amiri"}, true},
		{"email local part across a domain typo", []string{"emails", "sarahaddad@gmail.com"},
			[]string{"emails", "sarahaddad@gmial.com"}, true},
		// EmailMatchKey drops the dots for gmail.com only, so a local part
		// taken from it blocks "sara.haddad@gmail.com" under "sarahaddad"
		// and the typo "sara.haddad@gmial.com" under "sara.haddad", and the
		// commonest domain typo never meets.
		{"dotted email local part across a Gmail domain typo", []string{"emails", "sara.haddad@gmail.com"},
			[]string{"emails", "sara.haddad@gmial.com"}, true},
		{"street and postcode", []string{"address.line1", "12 Palm Street", "address.postal_code", "12345"},
			[]string{"address.line1", "12 PALM ST", "address.postal_code", "12 345"}, true},
		{"different people, nothing shared", sara,
			[]string{"first_name", "Omar", "last_name", "Karimi", "birthday", "1990-07-01"}, false},
		{"a given name alone is no key", []string{"first_name", "Sara"}, []string{"first_name", "Sara"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ka := keysOf(tenantFeatures("t", tt.a...), newBlockedSet(nil))
			kb := keysOf(tenantFeatures("t", tt.b...), newBlockedSet(nil))
			var shared []string
			for _, k := range ka {
				if slices.Contains(kb, k) {
					shared = append(shared, k)
				}
			}
			if got := len(shared) > 0; got != tt.want {
				t.Errorf("shared keys %q, want some: %v\n%q\n%q", shared, tt.want, ka, kb)
			}
		})
	}
}

func TestKeysOfSortedAndDistinct(t *testing.T) {
	// The same email three times over, in forms that fold to one key, and
	// a phone twice.
	f := tenantFeatures("t", append(slices.Clone(fullRecord), "emails", "sara+news@gmail.com",
		"phones", "+971501234567")...)
	ks := keysOf(f, newBlockedSet(nil))
	require.NotEmpty(t, ks)
	if !slices.IsSorted(ks) {
		t.Errorf("keys are not sorted: %q", ks)
	}
	if len(slices.Compact(slices.Clone(ks))) != len(ks) {
		t.Errorf("keys are not distinct: %q", ks)
	}
}

func TestKeysOfCarryTheTenant(t *testing.T) {
	a := keysOf(tenantFeatures("a", fullRecord...), newBlockedSet(nil))
	b := keysOf(tenantFeatures("b", fullRecord...), newBlockedSet(nil))
	require.Len(t, b, len(a))
	for tenant, ks := range map[string][]string{"a": a, "b": b} {
		for _, k := range ks {
			if parts := strings.SplitN(k, "|", 3); len(parts) != 3 || parts[1] != tenant {
				t.Errorf("key %q does not carry tenant %q in its second part", k, tenant)
			}
		}
	}
	for _, k := range a {
		if slices.Contains(b, k) {
			t.Errorf("tenants a and b share the key %q", k)
		}
	}
}

func TestKeysOfKinds(t *testing.T) {
	kinds := map[string]bool{}
	for _, k := range keysOf(tenantFeatures("t", fullRecord...), newBlockedSet(nil)) {
		kinds[keyKind(k)] = true
	}
	for _, kind := range []string{kindEmail, kindPhone, kindBirthday, kindNames, kindLastBirthYear, kindFirstBirthYear,
		kindFirstPostcode, kindLastPostcode, kindFirstCity, kindEmailLocal, kindStreet} {
		if !kinds[kind] {
			t.Errorf("a full record has no key of kind %q", kind)
		}
	}
}

func TestKeyKind(t *testing.T) {
	tests := []struct {
		key           string
		kind          string
		deterministic bool
	}{
		{makeKey(kindEmail, "t", "sara@example.com"), kindEmail, true},
		{makeKey(kindPhone, "t", "+971501234567"), kindPhone, true},
		{makeKey(kindEmailLocal, "t", "sara"), kindEmailLocal, false},
		{makeKey(kindNames, "", "hadad|sara"), kindNames, false},
		{makeKey(kindBirthday, "t", "19850314"), kindBirthday, false},
		{"", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := keyKind(tt.key); got != tt.kind {
				t.Errorf("keyKind(%q) = %q, want %q", tt.key, got, tt.kind)
			}
			if got := deterministic(tt.key); got != tt.deterministic {
				t.Errorf("deterministic(%q) = %v, want %v", tt.key, got, tt.deterministic)
			}
		})
	}
}

func TestKeysOfBlocked(t *testing.T) {
	tests := []struct {
		name      string
		blocked   []string
		email     string
		phone     string
		wantEmail bool // whether an e| key remains
		wantPhone bool // whether a p| key remains
	}{
		{"nothing blocked", nil, "sara@example.com", "+971501234567", true, true},
		{"default placeholder email", nil, "test@test.com", "+971501234567", false, true},
		{"every default placeholder", nil, "noemail@noemail.com", "", false, false},
		{"configured email", []string{"info@shop.ae"}, "info@shop.ae", "+971501234567", false, true},
		{"configured email in upper case", []string{" INFO@Shop.AE "}, "info@shop.ae", "", false, false},
		{"configured Gmail blocks its dotted form", []string{"no.reply@gmail.com"}, "noreply@gmail.com", "", false, false},
		{"configured email leaves other emails", []string{"info@shop.ae"}, "sara@example.com", "", true, false},
		{"seven zeros block a number ending in them", []string{"0000000"}, "", "+9710000000", false, false},
		{"seven zeros leave a real number", []string{"0000000"}, "", "+971501234567", false, true},
		{"blocked digits in Eastern Arabic", []string{"٠٠٠٠٠٠٠"}, "", "+9710000000", false, false},
		{"configured number in bare digits", []string{"971501234567"}, "", "+971501234567", false, false},
		// mapping.Digits only converts non-ASCII digits and keeps the "+"
		// and spaces; a blocked number must be reduced to its digits to
		// meet the digits of an E.164 number.
		{"configured number in E.164", []string{"+971501234567"}, "", "+971501234567", false, false},
		{"configured number with spaces", []string{"+971 50 123 4567"}, "", "+971501234567", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var kv []string
			if tt.email != "" {
				kv = append(kv, "emails", tt.email)
			}
			if tt.phone != "" {
				kv = append(kv, "phones", tt.phone)
			}
			var gotEmail, gotPhone bool
			for _, k := range keysOf(tenantFeatures("t", kv...), newBlockedSet(tt.blocked)) {
				gotEmail = gotEmail || keyKind(k) == kindEmail
				gotPhone = gotPhone || keyKind(k) == kindPhone
			}
			if gotEmail != tt.wantEmail {
				t.Errorf("email key present = %v, want %v", gotEmail, tt.wantEmail)
			}
			if gotPhone != tt.wantPhone {
				t.Errorf("phone key present = %v, want %v", gotPhone, tt.wantPhone)
			}
		})
	}
}

func TestBlockedSetPhones(t *testing.T) {
	tests := []struct {
		name    string
		blocked []string
		phone   string
		want    bool
	}{
		{"exact digits", []string{"971501234567"}, "+971501234567", true},
		{"suffix of seven digits", []string{"0000000"}, "+9710000000", true},
		{"suffix of seven digits, longer number", []string{"1234567"}, "+971501234567", true},
		// Short values block only the whole number: a suffix of six digits
		// would catch strangers.
		{"short value, whole number", []string{"123456"}, "+123456", true},
		{"short value, suffix only", []string{"123456"}, "+971501123456", false},
		{"other number", []string{"0000000"}, "+971501234567", false},
		{"emails do not block phones", []string{"sara@example.com"}, "+971501234567", false},
		{"defaults block no phone", nil, "+971501234567", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := newBlockedSet(tt.blocked).blocksPhone(tt.phone); got != tt.want {
				t.Errorf("blocksPhone(%q) with %q blocked = %v, want %v", tt.phone, tt.blocked, got, tt.want)
			}
		})
	}
}

func TestBlockedSetDefaults(t *testing.T) {
	b := newBlockedSet(nil)
	for _, e := range DefaultBlocked {
		if !b.blocksEmail(e) {
			t.Errorf("default placeholder %q is not blocked", e)
		}
	}
	if b.blocksEmail("sara@example.com") {
		t.Error("an ordinary email is blocked")
	}
}

// TestKeyHashesMatchKeys checks that the hashes a match index loads with
// are exactly the hashes of the keys resolution writes and looks up.
func TestKeyHashesMatchKeys(t *testing.T) {
	recs := benchPeople(3, 3000)
	recs = append(recs,
		Record{Source: "erp", ExternalID: "ar", Tenant: "t1", Fields: map[string][]string{
			"first_name": {"محمد"}, "last_name": {"العامري"}, "birthday": {"1990-04-07"},
			"emails": {"m.amiri@example.ae"}, "phones": {"+971501234567"}, "address.city": {"دبي"}}},
		Record{Source: "leads", ExternalID: "fa", Fields: map[string][]string{"first_name": {"مهدی"}, "phones": {"۰۹۱۲۳۴۵۶۷۸۹"}}},
		Record{Source: "leads", ExternalID: "blocked", Fields: map[string][]string{"emails": {"test@test.com"}, "phones": {"0000000"}}},
		Record{Source: "leads", ExternalID: "empty", Fields: map[string][]string{"first_name": {"Sara"}}},
	)
	r := newResolver(Config{Email: true, Phone: true})
	for _, rec := range recs {
		f := featuresOf(&rec)
		want := hashKeys(keysOf(f, r.blocked))
		slices.Sort(want)
		require.Equal(t, slices.Compact(want), keyHashes(f, r.blocked), "record %s", rec.Key())
	}
}
