package identity

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/crmhub/crmhub/config"
	"github.com/stretchr/testify/require"
)

// rec returns a record of source "shop", tenant "", with the given fields.
func rec(id string, kv ...string) Record {
	return Record{Source: "shop", ExternalID: id, Fields: fieldsOf(kv...)}
}

func inTenant(tenant string, r Record) Record {
	r.Tenant = tenant
	return r
}

// resolvedIDs runs Resolve and returns its groups as external ids.
func resolvedIDs(recs []Record, cfg Config, splits []Split, links []Link) [][]string {
	groups := Resolve(recs, cfg, splits, links)
	out := make([][]string, len(groups))
	for i, g := range groups {
		for _, j := range g {
			out[i] = append(out[i], recs[j].ExternalID)
		}
	}
	return out
}

// sharing returns n records of people named first and lasts[i] that all
// carry the same field value.
func sharing(n int, firsts, lasts []string, field, value string) []Record {
	var out []Record
	for i := range n {
		out = append(out, rec(fmt.Sprint(i+1), "first_name", firsts[i%len(firsts)], "last_name", lasts[i%len(lasts)], field, value))
	}
	return out
}

func idsUpTo(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprint(i+1))
	}
	return out
}

func singletons(n int) [][]string {
	var out [][]string
	for _, id := range idsUpTo(n) {
		out = append(out, []string{id})
	}
	return out
}

func TestResolve(t *testing.T) {
	emailOnly := Config{Email: true}
	phoneOnly := Config{Phone: true}
	fuzzy := Config{Fuzzy: []FuzzyRule{{Fields: []string{FieldName, FieldBirthday, FieldAddress}, Threshold: 0.95}}}
	saraLasts := []string{"Haddad", "Karimi", "Nasser", "Rahimi", "Khalil", "Mansour"}
	strangers := [2][]string{{"Sara", "Omar", "Reza", "Layla", "Daniel", "Noor"},
		{"Haddad", "Karimi", "Nasser", "Rahimi", "Khalil", "Mansour"}}
	tests := []struct {
		name   string
		cfg    Config
		recs   []Record
		splits []Split
		links  []Link
		want   [][]string
	}{
		{"same email merges", emailOnly, []Record{
			rec("1", "first_name", "Sara", "last_name", "Haddad", "emails", "sara@example.com"),
			rec("2", "first_name", "Sarah", "last_name", "Hadad", "emails", "sara@example.com"),
			rec("3", "first_name", "Sara", "last_name", "Haddad", "emails", "other@example.com"),
		}, nil, nil, [][]string{{"1", "2"}, {"3"}}},
		{"same phone merges", phoneOnly, []Record{
			rec("1", "first_name", "Sara", "phones", "+971501234567"),
			rec("2", "phones", "+971501234567"),
		}, nil, nil, [][]string{{"1", "2"}}},
		{"email rule off", Config{Phone: true}, []Record{
			rec("1", "first_name", "Sara", "emails", "sara@example.com"),
			rec("2", "first_name", "Sara", "emails", "sara@example.com"),
		}, nil, nil, singletons(2)},
		{"tenants never merge, even with identical records", testConfig(), []Record{
			inTenant("a", rec("1", fullRecord...)),
			inTenant("b", rec("2", fullRecord...)),
			inTenant("a", rec("3", fullRecord...)),
		}, nil, nil, [][]string{{"1", "3"}, {"2"}}},
		{"a forced link across tenants is ignored", testConfig(), []Record{
			inTenant("a", rec("1", "emails", "sara@example.com")),
			inTenant("b", rec("2", "emails", "sara@example.com")),
		}, nil, []Link{{A: Key{"shop", "1"}, B: Key{"shop", "2"}}}, singletons(2)},
		{"not blocked: people of one given name merge on a shared email", emailOnly,
			sharing(3, []string{"Sara"}, saraLasts, "emails", "shared@example.com"), nil, nil, [][]string{idsUpTo(3)}},
		{"a default placeholder email links nobody", emailOnly,
			sharing(3, []string{"Sara"}, saraLasts, "emails", "test@test.com"), nil, nil, singletons(3)},
		{"a configured placeholder email links nobody", Config{Email: true, Blocked: []string{"Shared@Example.com"}},
			sharing(3, []string{"Sara"}, saraLasts, "emails", "shared@example.com"), nil, nil, singletons(3)},
		{"a configured placeholder phone links nobody", Config{Phone: true, Blocked: []string{"0000000"}},
			sharing(3, []string{"Sara"}, saraLasts, "phones", "+9710000000"), nil, nil, singletons(3)},
		// Same given name, so namesConflict allows the links and only the
		// count of different people can stop them.
		{"five people on one phone still link", phoneOnly,
			sharing(5, []string{"Sara"}, saraLasts, "phones", "+971501234567"), nil, nil, [][]string{idsUpTo(5)}},
		{"six people on one phone link nobody", phoneOnly,
			sharing(6, []string{"Sara"}, saraLasts, "phones", "+971501234567"), nil, nil, singletons(6)},
		{"six people of different names on one phone link nobody", phoneOnly,
			sharing(6, strangers[0], strangers[1], "phones", "+971501234567"), nil, nil, singletons(6)},
		{"six records of one person on one phone merge", phoneOnly,
			sharing(6, []string{"Sara", "Sarah", "SARA"}, []string{"Haddad", "Al Haddad"}, "phones", "+971501234567"),
			nil, nil, [][]string{idsUpTo(6)}},
		{"three records of one person among six people", phoneOnly, append(
			sharing(3, []string{"Sara"}, []string{"Haddad"}, "phones", "+971501234567"),
			rec("4", "first_name", "Omar", "last_name", "Karimi", "phones", "+971501234567"),
			rec("5", "first_name", "Reza", "last_name", "Nasser", "phones", "+971501234567"),
		), nil, nil, [][]string{idsUpTo(3), {"4"}, {"5"}}},
		{"configured limit of two people", Config{Phone: true, MaxPeoplePerKey: 2},
			sharing(3, []string{"Sara"}, saraLasts, "phones", "+971501234567"), nil, nil, singletons(3)},
		{"records without names do not count as people", Config{Phone: true, MaxPeoplePerKey: 1}, []Record{
			rec("1", "first_name", "Sara", "phones", "+971501234567"),
			rec("2", "phones", "+971501234567"),
		}, nil, nil, [][]string{{"1", "2"}}},
		{"family members sharing an email stay apart", emailOnly, []Record{
			rec("1", "first_name", "Sara", "last_name", "Haddad", "emails", "family@example.com"),
			rec("2", "first_name", "Omar", "last_name", "Haddad", "emails", "family@example.com"),
		}, nil, nil, singletons(2)},
		// A missing family name must not read as a swapped-field match
		// (see TestNamesConflict).
		{"family members known by given name only stay apart", emailOnly, []Record{
			rec("1", "first_name", "Sara", "emails", "family@example.com"),
			rec("2", "first_name", "Omar", "emails", "family@example.com"),
		}, nil, nil, singletons(2)},
		{"a forced link merges unrelated records", emailOnly, []Record{
			rec("1", "first_name", "Sara", "emails", "sara@example.com"),
			rec("2", "first_name", "Omar", "emails", "omar@example.com"),
			rec("3", "first_name", "Reza", "emails", "reza@example.com"),
		}, nil, []Link{{A: Key{"shop", "3"}, B: Key{"shop", "1"}}}, [][]string{{"1", "3"}, {"2"}}},
		{"a forced link to an unknown record is ignored", emailOnly, []Record{
			rec("1", "first_name", "Sara"),
		}, nil, []Link{{A: Key{"shop", "1"}, B: Key{"shop", "404"}}}, singletons(1)},
		{"a split keeps apart records with the same email", emailOnly, []Record{
			rec("1", "first_name", "Sara", "emails", "sara@example.com"),
			rec("2", "first_name", "Sara", "emails", "sara@example.com"),
		}, []Split{{ID: "s1", Sides: [][]Key{{{"shop", "1"}}, {{"shop", "2"}}}}}, nil, singletons(2)},
		{"a split with a third record on the same email", emailOnly, []Record{
			rec("1", "first_name", "Sara", "emails", "sara@example.com"),
			rec("2", "first_name", "Sara", "emails", "sara@example.com"),
			rec("3", "first_name", "Sara", "emails", "sara@example.com"),
		}, []Split{{ID: "s1", Sides: [][]Key{{{"shop", "1"}}, {{"shop", "2"}}}}}, nil, [][]string{{"1", "3"}, {"2"}}},
		{"a split beats a forced link", emailOnly, []Record{
			rec("1", "first_name", "Sara"),
			rec("2", "first_name", "Omar"),
		}, []Split{{ID: "s1", Sides: [][]Key{{{"shop", "1"}}, {{"shop", "2"}}}}},
			[]Link{{A: Key{"shop", "1"}, B: Key{"shop", "2"}}}, singletons(2)},
		{"fuzzy: spelling variants with the same birthday and address merge", fuzzy, []Record{
			rec("1", "first_name", "Mohammed", "last_name", "Haddad", "birthday", "1985-03-14",
				"address.line1", "12 Palm Street", "address.city", "Dubai"),
			rec("2", "first_name", "Muhammad", "last_name", "Hadad", "birthday", "1985-03-14",
				"address.line1", "12 Palm St", "address.city", "Dubai"),
		}, nil, nil, [][]string{{"1", "2"}}},
		{"fuzzy: different people born the same day stay apart", fuzzy, []Record{
			rec("1", "first_name", "Sara", "last_name", "Haddad", "birthday", "1985-03-14", "address.city", "Dubai"),
			rec("2", "first_name", "Omar", "last_name", "Karimi", "birthday", "1985-03-14", "address.city", "Dubai"),
		}, nil, nil, singletons(2)},
		// The half swap of TestNamesSwapped: Hassan Omar's given name is
		// Ali Hassan's family name. Read as a swap, the names would score
		// +0.6 bits instead of -10.0, and the shared birthday and city
		// would lift the probability to 0.97, over the threshold.
		{"fuzzy: a given name that is the other's family name is no swap", fuzzy, []Record{
			rec("1", "first_name", "Hassan", "last_name", "Omar", "birthday", "1985-03-14", "address.city", "Dubai"),
			rec("2", "first_name", "Ali", "last_name", "Hassan", "birthday", "1985-03-14", "address.city", "Dubai"),
		}, nil, nil, singletons(2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, resolvedIDs(tt.recs, tt.cfg, tt.splits, tt.links))
			// The groups are a function of the records, not of their order.
			rng := rand.New(rand.NewPCG(7, 8))
			for range 10 {
				shuffled := slices.Clone(tt.recs)
				rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				require.Equal(t, tt.want, resolvedIDs(shuffled, tt.cfg, tt.splits, tt.links), "shuffled records")
			}
		})
	}
}

func TestConfigFrom(t *testing.T) {
	got := ConfigFrom(config.IdentityConfig{
		Match:             []config.MatchRule{{Field: "email"}, {Fuzzy: []string{"name", "birthday"}, Threshold: 0.97}},
		BlockedValues:     []string{"0000000"},
		MaxProfilesPerKey: 3,
		Survivorship: config.SurvivorshipConfig{Default: "source_priority", SourcePriority: []string{"erp", "shop"},
			Fields: map[string]string{"name": "most_complete"}},
	})
	want := Config{Email: true, Fuzzy: []FuzzyRule{{Fields: []string{"name", "birthday"}, Threshold: 0.97}},
		Blocked: []string{"0000000"}, MaxPeoplePerKey: 3,
		Survivorship: Survivorship{Default: SourcePriority, SourcePriority: []string{"erp", "shop"},
			Fields: map[string]Policy{"name": MostComplete}}}
	require.Equal(t, want, got)
}

func TestConfigNormalize(t *testing.T) {
	c := Config{Fuzzy: []FuzzyRule{{Fields: []string{FieldName, FieldPhone}, Threshold: 0.9}}}.normalize()
	require.Equal(t, DefaultMaxPeoplePerKey, c.MaxPeoplePerKey)
	require.Equal(t, DefaultMaxBlockSize, c.MaxBlockSize)
	require.Equal(t, float64(DefaultPrior), c.Prior)
	require.Equal(t, useName|usePhone, c.Fuzzy[0].set)
	kept := Config{MaxPeoplePerKey: 2, MaxBlockSize: 10, Prior: -3}.normalize()
	require.Equal(t, 2, kept.MaxPeoplePerKey)
	require.Equal(t, 10, kept.MaxBlockSize)
	require.Equal(t, -3.0, kept.Prior)
}
