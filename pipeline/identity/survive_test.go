package identity

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/crmhub"
	"github.com/stretchr/testify/require"
)

var baseTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// hour returns baseTime plus h hours: a record changed at hour(2) is newer than
// one changed at hour(1).
func hour(h int) time.Time { return baseTime.Add(time.Duration(h) * time.Hour) }

// srec returns a record of source src changed at at.
func srec(src, id string, at time.Time, kv ...string) Record {
	return Record{Source: src, SourceType: src + "-type", ExternalID: id, Fields: fieldsOf(kv...), At: at}
}

func fieldSource(r Record) crmhub.FieldSource {
	return crmhub.FieldSource{Source: r.Source, ExternalID: r.ExternalID, At: r.At}
}

func TestProfileName(t *testing.T) {
	tests := []struct {
		name      string
		surv      Survivorship
		recs      []Record
		wantFirst string
		wantLast  string
		wantFrom  int // index into recs
	}{
		{"default is most recent", Survivorship{}, []Record{
			srec("shop", "1", hour(1), "first_name", "Sara", "last_name", "Haddad"),
			srec("erp", "1", hour(2), "first_name", "Sarah", "last_name", "Hadad"),
		}, "Sarah", "Hadad", 1},
		{"most recent", Survivorship{Default: MostRecent}, []Record{
			srec("erp", "1", hour(3), "first_name", "Sarah", "last_name", "Hadad"),
			srec("shop", "1", hour(1), "first_name", "Sara", "last_name", "Haddad"),
		}, "Sarah", "Hadad", 0},
		{"most recent skips records without a name", Survivorship{}, []Record{
			srec("shop", "1", hour(1), "first_name", "Sara", "last_name", "Haddad"),
			srec("erp", "1", hour(2), "emails", "sara@example.com"),
		}, "Sara", "Haddad", 0},
		// The name comes whole from one record, never a part from each.
		{"a record with a family name only has a name", Survivorship{}, []Record{
			srec("shop", "1", hour(1), "first_name", "Sara", "last_name", "Haddad"),
			srec("erp", "1", hour(2), "last_name", "Al Haddad"),
		}, "", "Al Haddad", 1},
		{"source priority picks the first listed source even when older",
			Survivorship{Default: SourcePriority, SourcePriority: []string{"erp", "shop"}}, []Record{
				srec("shop", "1", hour(2), "first_name", "Sarah", "last_name", "Hadad"),
				srec("erp", "1", hour(1), "first_name", "Sara", "last_name", "Haddad"),
			}, "Sara", "Haddad", 1},
		{"source priority: a listed source beats an unlisted one",
			Survivorship{Default: SourcePriority, SourcePriority: []string{"shop"}}, []Record{
				srec("leads", "1", hour(5), "first_name", "S", "last_name", "H"),
				srec("shop", "1", hour(1), "first_name", "Sara", "last_name", "Haddad"),
			}, "Sara", "Haddad", 1},
		{"source priority: equal rank goes to the most recent",
			Survivorship{Default: SourcePriority, SourcePriority: []string{"shop"}}, []Record{
				srec("shop", "1", hour(1), "first_name", "Sara", "last_name", "Haddad"),
				srec("shop", "2", hour(2), "first_name", "Sarah", "last_name", "Haddad"),
				srec("leads", "1", hour(3), "first_name", "S", "last_name", "H"),
			}, "Sarah", "Haddad", 1},
		{"source priority: the listed source without a name is skipped",
			Survivorship{Default: SourcePriority, SourcePriority: []string{"erp", "shop"}}, []Record{
				srec("erp", "1", hour(1), "emails", "sara@example.com"),
				srec("shop", "1", hour(1), "first_name", "Sara", "last_name", "Haddad"),
			}, "Sara", "Haddad", 1},
		{"most complete picks the longest name", Survivorship{Default: MostComplete}, []Record{
			srec("shop", "1", hour(2), "first_name", "S", "last_name", "Amiri"),
			srec("erp", "1", hour(1), "first_name", "Sara", "last_name", "Al Amiri"),
		}, "Sara", "Al Amiri", 1},
		// Completeness counts characters, not bytes: سارة العامري is 11
		// letters in 22 bytes, Sara Al Haddad 13 characters in 13 bytes.
		{"most complete counts characters", Survivorship{Default: MostComplete}, []Record{
			srec("shop", "1", hour(1), "first_name", "سارة", "last_name", "العامري"),
			srec("erp", "1", hour(2), "first_name", "Sara", "last_name", "Al Haddad"),
		}, "Sara", "Al Haddad", 1},
		{"most complete tie goes to the most recent", Survivorship{Default: MostComplete}, []Record{
			srec("shop", "1", hour(2), "first_name", "Omar", "last_name", "Karimi"),
			srec("erp", "1", hour(1), "first_name", "Sara", "last_name", "Haddad"),
		}, "Omar", "Karimi", 0},
		{"a full tie goes to the smaller key", Survivorship{}, []Record{
			srec("shop", "2", hour(1), "first_name", "Omar"),
			srec("shop", "1", hour(1), "first_name", "Sara"),
			srec("shop", "3", hour(1), "first_name", "Reza"),
		}, "Sara", "", 1},
		{"per-field policy overrides the default",
			Survivorship{Default: MostRecent, SourcePriority: []string{"shop"}, Fields: map[string]Policy{"name": SourcePriority}}, []Record{
				srec("shop", "1", hour(1), "first_name", "Sara", "last_name", "Haddad"),
				srec("erp", "1", hour(2), "first_name", "Sarah", "last_name", "Hadad"),
			}, "Sara", "Haddad", 0},
		{"an empty per-field policy falls back to the default",
			Survivorship{Default: MostComplete, Fields: map[string]Policy{"name": ""}}, []Record{
				srec("shop", "1", hour(1), "first_name", "Sara", "last_name", "Al Haddad"),
				srec("erp", "1", hour(2), "first_name", "Sara", "last_name", "Haddad"),
			}, "Sara", "Al Haddad", 0},
		{"a policy for another field does not apply",
			Survivorship{Default: MostRecent, SourcePriority: []string{"shop"}, Fields: map[string]Policy{"email": SourcePriority}}, []Record{
				srec("shop", "1", hour(1), "first_name", "Sara", "last_name", "Haddad"),
				srec("erp", "1", hour(2), "first_name", "Sarah", "last_name", "Hadad"),
			}, "Sarah", "Hadad", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.surv.Profile("c1", tt.recs)
			if c.FirstName != tt.wantFirst || c.LastName != tt.wantLast {
				t.Errorf("name %q %q, want %q %q", c.FirstName, c.LastName, tt.wantFirst, tt.wantLast)
			}
			require.Equal(t, fieldSource(tt.recs[tt.wantFrom]), c.Provenance["name"], "provenance of the name")
		})
	}
}

func TestProfileLists(t *testing.T) {
	recs := []Record{
		srec("shop", "1", hour(1), "emails", "a@example.com", "emails", "b@example.com", "phones", "+971501111111"),
		srec("erp", "1", hour(2), "emails", "c@example.com", "emails", "a@example.com", "phones", "+971502222222"),
		srec("leads", "1", hour(3), "first_name", "Sara"),
	}
	tests := []struct {
		name       string
		surv       Survivorship
		wantEmails []string
		wantPhones []string
		wantEmail  int // index of the record that supplies email
		wantPhone  int
	}{
		{"most recent record first", Survivorship{},
			[]string{"c@example.com", "a@example.com", "b@example.com"}, []string{"+971502222222", "+971501111111"}, 1, 1},
		{"priority source first", Survivorship{Default: SourcePriority, SourcePriority: []string{"shop"}},
			[]string{"a@example.com", "b@example.com", "c@example.com"}, []string{"+971501111111", "+971502222222"}, 0, 0},
		{"per-field policy for phones only",
			Survivorship{SourcePriority: []string{"shop"}, Fields: map[string]Policy{"phone": SourcePriority}},
			[]string{"c@example.com", "a@example.com", "b@example.com"}, []string{"+971501111111", "+971502222222"}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.surv.Profile("c1", recs)
			require.Equal(t, tt.wantEmails, c.Emails)
			require.Equal(t, tt.wantPhones, c.Phones)
			require.Equal(t, tt.wantEmails[0], c.Email, "the primary email is the chosen record's first")
			require.Equal(t, tt.wantPhones[0], c.Phone, "the primary phone is the chosen record's first")
			require.Equal(t, fieldSource(recs[tt.wantEmail]), c.Provenance["email"])
			require.Equal(t, fieldSource(recs[tt.wantPhone]), c.Provenance["phone"])
		})
	}
	t.Run("most complete takes the record with most emails", func(t *testing.T) {
		c := Survivorship{Default: MostComplete}.Profile("c1", []Record{
			srec("shop", "1", hour(1), "emails", "a@example.com", "emails", "b@example.com"),
			srec("erp", "1", hour(2), "emails", "c@example.com"),
		})
		require.Equal(t, []string{"a@example.com", "b@example.com", "c@example.com"}, c.Emails)
	})
	t.Run("no emails or phones", func(t *testing.T) {
		c := Survivorship{}.Profile("c1", []Record{srec("shop", "1", hour(1), "first_name", "Sara")})
		require.Nil(t, c.Emails)
		require.Nil(t, c.Phones)
		require.Empty(t, c.Email)
		require.NotContains(t, c.Provenance, "email")
		require.NotContains(t, c.Provenance, "phone")
	})
}

func TestProfileAddresses(t *testing.T) {
	short := srec("shop", "1", hour(3), "address.line1", "7 Beach Road", "address.city", "Dubai")
	full := srec("erp", "1", hour(1), "address.line1", "12 Palm Street", "address.line2", "Apt 4",
		"address.city", "Dubai", "address.postal_code", "12345", "address.country_code", "AE")
	// The full address again, spelt differently.
	same := srec("leads", "1", hour(2), "address.line1", "12 PALM ST", "address.line2", "apt 4",
		"address.city", "dubai", "address.postal_code", "12345", "address.country_code", "AE")
	none := srec("pos", "1", hour(4), "first_name", "Sara")
	addr := func(r Record) crmhub.Address { return addressOf(&r) }
	tests := []struct {
		name     string
		surv     Survivorship
		recs     []Record
		want     []crmhub.Address
		wantFrom Record
	}{
		{"most complete picks the address with most parts", Survivorship{Default: MostComplete},
			[]Record{short, full}, []crmhub.Address{addr(full), addr(short)}, full},
		{"most recent picks the newest address", Survivorship{},
			[]Record{full, short, none}, []crmhub.Address{addr(short), addr(full)}, short},
		{"the same address spelt differently is listed once", Survivorship{Default: MostComplete},
			[]Record{same, short, full}, []crmhub.Address{addr(same), addr(short)}, same},
		{"per-field policy for the address", Survivorship{Default: MostRecent, Fields: map[string]Policy{"address": MostComplete}},
			[]Record{short, full}, []crmhub.Address{addr(full), addr(short)}, full},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.surv.Profile("c1", tt.recs)
			require.Equal(t, tt.want, c.Addresses)
			require.Equal(t, fieldSource(tt.wantFrom), c.Provenance["address"])
		})
	}
}

func TestProfileConsent(t *testing.T) {
	// Source priority would prefer erp; consent ignores it and takes what
	// the person said last.
	surv := Survivorship{Default: SourcePriority, SourcePriority: []string{"erp"}}
	recs := []Record{
		srec("erp", "1", hour(1), "consent.email", "yes", "consent.sms", "no"),
		srec("shop", "1", hour(2), "consent.email", "unsubscribed"),
		srec("leads", "1", hour(3), "consent.email", "maybe", "consent.sms", "TRUE"),
		srec("pos", "1", hour(4), "first_name", "Sara"),
	}
	c := surv.Profile("c1", recs)
	require.Equal(t, map[string]crmhub.Consent{
		crmhub.ChannelEmail: {Granted: false, At: hour(2), Source: "shop"},
		crmhub.ChannelSMS:   {Granted: true, At: hour(3), Source: "leads"},
	}, c.Consent)
	require.Equal(t, fieldSource(recs[1]), c.Provenance["consent.email"])
	require.Equal(t, fieldSource(recs[2]), c.Provenance["consent.sms"])

	none := surv.Profile("c1", []Record{srec("shop", "1", hour(1), "consent.email", "")})
	require.Nil(t, none.Consent)
}

func TestParseConsent(t *testing.T) {
	tests := []struct {
		in          string
		granted, ok bool
	}{
		{"subscribed", true, true},
		{" Subscribed ", true, true},
		{"confirmed_opt_in", true, true},
		{"yes", true, true},
		{"Y", true, true},
		{"1", true, true},
		{"true", true, true},
		{"TRUE", true, true},
		{"unsubscribed", false, true},
		{"not_subscribed", false, true},
		{"redacted", false, true},
		{"no", false, true},
		{"0", false, true},
		{"false", false, true},
		{"maybe", false, false},
		{"pending", false, false},
		{"", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			granted, ok := parseConsent(tt.in)
			if granted != tt.granted || ok != tt.ok {
				t.Errorf("parseConsent(%q) = %v, %v, want %v, %v", tt.in, granted, ok, tt.granted, tt.ok)
			}
		})
	}
}

func TestProfileTagsAndAttributes(t *testing.T) {
	recs := []Record{
		srec("shop", "1", hour(1), "tags", "vip", "tags", "b", "attributes.tier", "gold", "attributes.points", "100"),
		srec("erp", "1", hour(2), "tags", "a", "tags", "vip", "attributes.tier", "silver"),
		srec("leads", "1", hour(3), "attributes.tier", ""),
	}
	tests := []struct {
		name      string
		surv      Survivorship
		wantAttrs map[string]string
		wantTier  int
	}{
		{"most recent per key", Survivorship{}, map[string]string{"tier": "silver", "points": "100"}, 1},
		{"per-field policy for one attribute",
			Survivorship{SourcePriority: []string{"shop"}, Fields: map[string]Policy{"attributes.tier": SourcePriority}},
			map[string]string{"tier": "gold", "points": "100"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.surv.Profile("c1", recs)
			require.Equal(t, []string{"a", "b", "vip"}, c.Tags)
			require.Equal(t, tt.wantAttrs, c.Attributes)
			require.Equal(t, fieldSource(recs[tt.wantTier]), c.Provenance["attributes.tier"])
			require.Equal(t, fieldSource(recs[0]), c.Provenance["attributes.points"])
		})
	}
}

func TestProfileIdentitiesAndTimes(t *testing.T) {
	tests := []struct {
		name        string
		recs        []Record
		wantCreated time.Time
		wantUpdated time.Time
	}{
		{"created_at field earlier than every change", []Record{
			srec("shop", "1", hour(5), "created_at", "2020-01-01T00:00:00Z"),
			srec("erp", "1", hour(3)),
		}, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), hour(5)},
		{"another record changed before the created_at field", []Record{
			srec("shop", "1", hour(5), "created_at", hour(4).Format(time.RFC3339)),
			srec("erp", "1", hour(3)),
		}, hour(3), hour(5)},
		{"created_at with an offset is taken in UTC", []Record{
			srec("shop", "1", hour(5), "created_at", "2026-01-01T03:00:00+04:00"),
		}, baseTime.Add(-time.Hour), hour(5)},
		{"unreadable created_at falls back to the change time", []Record{
			srec("shop", "1", hour(5), "created_at", "last tuesday"),
			srec("erp", "1", hour(7)),
		}, hour(5), hour(7)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Survivorship{}.Profile("c1", tt.recs)
			if !c.CreatedAt.Equal(tt.wantCreated) || c.CreatedAt.Location() != time.UTC {
				t.Errorf("CreatedAt = %v, want %v in UTC", c.CreatedAt, tt.wantCreated)
			}
			if !c.UpdatedAt.Equal(tt.wantUpdated) {
				t.Errorf("UpdatedAt = %v, want %v", c.UpdatedAt, tt.wantUpdated)
			}
		})
	}
	t.Run("identities sorted by source and external id", func(t *testing.T) {
		c := Survivorship{}.Profile("c1", []Record{
			srec("shop", "2", hour(1)), srec("erp", "9", hour(1)), srec("shop", "10", hour(1)),
		})
		require.Equal(t, []crmhub.Identity{
			{Source: "erp", Type: "erp-type", ExternalID: "9"},
			{Source: "shop", Type: "shop-type", ExternalID: "10"},
			{Source: "shop", Type: "shop-type", ExternalID: "2"},
		}, c.Identities)
	})
}

func TestProfileBirthdayAndLocale(t *testing.T) {
	recs := []Record{
		srec("shop", "1", hour(1), "birthday", "1985-03-14", "locale", "ar-AE"),
		srec("erp", "1", hour(2), "birthday", "1985-03-15"),
	}
	c := Survivorship{}.Profile("c1", recs)
	require.Equal(t, crmhub.Date{Year: 1985, Month: time.March, Day: 15}, c.Birthday)
	require.Equal(t, fieldSource(recs[1]), c.Provenance["birthday"])
	require.Equal(t, "ar-AE", c.Locale)
	require.Equal(t, fieldSource(recs[0]), c.Provenance["locale"])
}

func TestProfileOfNothing(t *testing.T) {
	require.Equal(t, crmhub.Customer{ID: "c1"}, Survivorship{}.Profile("c1", nil))
}

// orderTestRecords are four records of one person in four sources, each
// with its own emails, phones and address, so that list order shows.
func orderTestRecords() []Record {
	return []Record{
		srec("shop", "1", hour(1), "first_name", "Sara", "last_name", "Haddad", "emails", "sara@example.com",
			"phones", "+971501111111", "address.line1", "12 Palm Street", "address.city", "Dubai",
			"tags", "vip", "attributes.tier", "gold", "consent.email", "yes", "created_at", "2024-05-01T00:00:00Z"),
		srec("erp", "7", hour(4), "first_name", "Sarah", "last_name", "Hadad", "emails", "s.haddad@work.ae",
			"phones", "+971502222222", "address.line1", "3 Marina Walk", "address.city", "Dubai", "birthday", "1985-03-14",
			"tags", "b2b"),
		srec("leads", "3", hour(2), "first_name", "Sara", "last_name", "Al Haddad", "emails", "sara.h@gmail.com",
			"phones", "+971503333333", "address.line1", "PO Box 55", "address.city", "Sharjah", "consent.sms", "no"),
		srec("pos", "2", hour(3), "first_name", "S", "last_name", "Haddad", "emails", "sara@example.org",
			"phones", "+971504444444", "address.line1", "9 Souk Lane", "address.city", "Abu Dhabi", "attributes.tier", "silver"),
	}
}

var orderTestPolicies = map[string]Survivorship{
	"most recent":     {},
	"source priority": {Default: SourcePriority, SourcePriority: []string{"pos", "shop"}},
	"most complete":   {Default: MostComplete},
}

// TestProfileChoicesIndependentOfOrder checks every chosen field, and the
// lists as sets, over shuffled input.
func TestProfileChoicesIndependentOfOrder(t *testing.T) {
	recs := orderTestRecords()
	for name, surv := range orderTestPolicies {
		t.Run(name, func(t *testing.T) {
			asSets := func(c crmhub.Customer) crmhub.Customer {
				c.Emails, c.Phones, c.Addresses = slices.Sorted(slices.Values(c.Emails)), slices.Sorted(slices.Values(c.Phones)),
					slices.SortedFunc(slices.Values(c.Addresses), func(a, b crmhub.Address) int { return strings.Compare(a.Line1, b.Line1) })
				return c
			}
			want := surv.Profile("c1", recs)
			rng := rand.New(rand.NewPCG(9, 10))
			for range 30 {
				shuffled := slices.Clone(recs)
				rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				got := surv.Profile("c1", shuffled)
				require.Equal(t, want.Email, got.Email)
				require.Equal(t, want.Phone, got.Phone)
				require.Equal(t, want.Addresses[0], got.Addresses[0])
				require.Equal(t, asSets(want), asSets(got))
			}
		})
	}
}

// TestProfileListsIndependentOfOrder checks the whole profile, list order
// included, over shuffled input.
func TestProfileListsIndependentOfOrder(t *testing.T) {
	recs := orderTestRecords()
	for name, surv := range orderTestPolicies {
		t.Run(name, func(t *testing.T) {
			// Profile promises key order for the lists whatever order the
			// records come in.
			sorted := slices.Clone(recs)
			slices.SortFunc(sorted, func(a, b Record) int { return a.Key().Compare(b.Key()) })
			want := surv.Profile("c1", sorted)
			rng := rand.New(rand.NewPCG(11, 12))
			for range 30 {
				shuffled := slices.Clone(recs)
				rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				got := surv.Profile("c1", shuffled)
				// Every list entry after the chosen record's comes from
				// the other records in key order, not in the order given.
				if !slices.Equal(got.Emails, want.Emails) || !slices.Equal(got.Phones, want.Phones) ||
					!slices.Equal(got.Addresses, want.Addresses) {
					t.Fatalf("records in the order %v give\nemails %v\nphones %v\naddresses %v\nin key order\nemails %v\nphones %v\naddresses %v",
						keysOfRecords(shuffled), got.Emails, got.Phones, got.Addresses, want.Emails, want.Phones, want.Addresses)
				}
				require.Equal(t, want, got, "records in the order %v", keysOfRecords(shuffled))
			}
		})
	}
}

func keysOfRecords(recs []Record) []string {
	out := make([]string, len(recs))
	for i := range recs {
		out[i] = recs[i].Key().String()
	}
	return out
}
