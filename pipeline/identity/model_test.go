package identity

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/crmhub/crmhub"
	"github.com/stretchr/testify/require"
)

// fieldsOf reads "field", "value" pairs; a field given twice gets both
// values, in order, as lists such as emails do.
func fieldsOf(kv ...string) map[string][]string {
	if len(kv)%2 != 0 {
		panic("fieldsOf wants field, value pairs")
	}
	f := map[string][]string{}
	for i := 0; i < len(kv); i += 2 {
		f[kv[i]] = append(f[kv[i]], kv[i+1])
	}
	return f
}

// feat returns the features of a record with the given fields.
func feat(kv ...string) *features {
	r := Record{Source: "test", ExternalID: "1", Fields: fieldsOf(kv...)}
	return featuresOf(&r)
}

// levelTables are all comparison level tables, by field.
var levelTables = map[string][]level{
	"first name": firstLevels, "last name": lastLevels, "birthday": dobLevels, "email": emailLevels,
	"phone": phoneLevels, "street": streetLevels, "postcode": postLevels, "city": cityLevels,
}

func TestLevelWeightSigns(t *testing.T) {
	for field, levels := range levelTables {
		t.Run(field, func(t *testing.T) {
			require.NotEmpty(t, levels)
			last := levels[len(levels)-1]
			if last.name != "different" {
				t.Errorf("last level is %q, want \"different\"", last.name)
			}
			if w := last.weight(); w >= 0 {
				t.Errorf("%q weighs %.2f bits, want < 0: disagreement is evidence against a match", last.name, w)
			}
			for _, l := range levels[:len(levels)-1] {
				if w := l.weight(); w <= 0 {
					t.Errorf("agreement level %q weighs %.2f bits, want > 0", l.name, w)
				}
			}
		})
	}
}

// TestLevelProbabilitiesSumToOne checks that each table's m and u are
// distributions: the levels are the exclusive outcomes of one comparison.
func TestLevelProbabilitiesSumToOne(t *testing.T) {
	for field, levels := range levelTables {
		t.Run(field, func(t *testing.T) {
			var m, u float64
			for _, l := range levels {
				if l.m <= 0 || l.m >= 1 || l.u <= 0 || l.u >= 1 {
					t.Errorf("level %q: m %v and u %v must lie in (0, 1)", l.name, l.m, l.u)
				}
				m += l.m
				u += l.u
			}
			// A level added later ("one digit of the year") must take its
			// mass from the others.
			if math.Abs(m-1) > 1e-9 || math.Abs(u-1) > 1e-9 {
				t.Errorf("m sums to %v and u to %v, want 1 each", m, u)
			}
		})
	}
}

// TestLevelWeightsDecrease checks that a closer agreement never weighs
// less than a looser one in the same table.
func TestLevelWeightsDecrease(t *testing.T) {
	for field, levels := range levelTables {
		t.Run(field, func(t *testing.T) {
			for i := 1; i < len(levels); i++ {
				// Otherwise a misspelt value counts for more than the
				// same value.
				if prev, cur := levels[i-1].weight(), levels[i].weight(); cur > prev {
					t.Errorf("level %q weighs %.2f bits, more than the closer level %q with %.2f", levels[i].name, cur, levels[i-1].name, prev)
				}
			}
		})
	}
}

func TestNameLevel(t *testing.T) {
	tests := []struct {
		name  string
		x, y  string
		first bool
		want  int
	}{
		{"exact", "Sara", "Sara", true, 0},
		{"exact ignoring case", "SARA", "sara", true, 0},
		{"exact ignoring accents", "José", "Jose", true, 0},
		{"exact with the article spaced or hyphenated", "Al Amiri", "Al-Amiri", false, 0},
		{"exact in Arabic script, teh marbuta and heh", "سارة", "ساره", true, 0},
		{"transliteration Mohammed Muhammad", "Mohammed", "Muhammad", true, 1},
		{"transliteration Youssef Yusuf", "Youssef", "Yusuf", true, 1},
		{"transliteration Sara Sarah", "Sara", "Sarah", true, 1},
		{"transliteration Haddad Hadad", "Haddad", "Hadad", false, 1},
		{"similar John Jon", "John", "Jon", true, 2},
		{"similar transposed letters", "Martha", "Marhta", true, 2},
		{"similar typo in the family name", "Haddad", "Haddat", false, 2},
		{"close Katherine Kathryn", "Katherine", "Kathryn", true, 3},
		{"close Jonathan Jon", "Jonathan", "Jon", true, 3},
		{"initial of a given name", "J", "John", true, 3},
		{"initial of a family name is not evidence", "J", "John", false, 4},
		{"other initial", "K", "John", true, 4},
		{"different John Jane", "John", "Jane", true, 4},
		{"different Omar Sara", "Omar", "Sara", true, 4},
		{"different Dwayne Duane", "Dwayne", "Duane", true, 4},
		// Script is not transliterated: the same name in Arabic and Latin
		// letters compares as different.
		{"Arabic against Latin", "سارة", "Sara", true, 4},
		{"missing left", "", "Sara", true, -1},
		{"missing right", "Sara", "", true, -1},
		{"punctuation only is missing", "-", "Sara", true, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, y := newName(tt.x), newName(tt.y)
			if got := nameLevel(x, y, tt.first); got != tt.want {
				t.Errorf("nameLevel(%q, %q, first=%v) = %d, want %d", tt.x, tt.y, tt.first, got, tt.want)
			}
			if got := nameLevel(y, x, tt.first); got != tt.want {
				t.Errorf("nameLevel(%q, %q, first=%v) = %d, want %d (swapped arguments)", tt.y, tt.x, tt.first, got, tt.want)
			}
		})
	}
}

func TestNamesSwapped(t *testing.T) {
	fw := func(i int) float64 { return firstLevels[i].weight() }
	lw := func(i int) float64 { return lastLevels[i].weight() }
	tests := []struct {
		name        string
		a, b        [2]string // first, last
		want        float64
		wantSwapped bool
	}{
		{"identical", [2]string{"Sara", "Haddad"}, [2]string{"Sara", "Haddad"}, fw(0) + lw(0), false},
		{"swapped", [2]string{"Sara", "Haddad"}, [2]string{"Haddad", "Sara"}, fw(0) + lw(0) - swapPenalty, true},
		{"swapped and transliterated", [2]string{"Mohammed", "Haddad"}, [2]string{"Hadad", "Muhammad"},
			fw(1) + lw(1) - swapPenalty, true},
		{"same given name, different family name", [2]string{"Sara", "Haddad"}, [2]string{"Sara", "Karimi"},
			fw(0) + lw(4), false},
		{"family name missing on one side", [2]string{"Sara", "Haddad"}, [2]string{"Sara", ""}, fw(0), false},
		// A given name that is also the other's family name (Hassan, Ali,
		// Saleh) is no swap: both crosswise parts must agree, or "Sara
		// Haddad" against "Omar Sara" scores +0.62 bits instead of -10.01.
		{"half a swap", [2]string{"Sara", "Haddad"}, [2]string{"Omar", "Sara"}, fw(4) + lw(4), false},
		{"nothing to compare", [2]string{"", ""}, [2]string{"Sara", "Haddad"}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := feat("first_name", tt.a[0], "last_name", tt.a[1])
			b := feat("first_name", tt.b[0], "last_name", tt.b[1])
			var outs []outcome
			got := names(a, b, true, &outs)
			if math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("names = %.3f bits, want %.3f", got, tt.want)
			}
			sum := 0.0
			for _, o := range outs {
				if o.swapped != tt.wantSwapped {
					t.Errorf("outcome %s swapped = %v, want %v", o.field, o.swapped, tt.wantSwapped)
				}
				sum += o.level.weight()
			}
			if tt.wantSwapped {
				sum -= swapPenalty
			}
			if math.Abs(sum-got) > 1e-9 {
				t.Errorf("the explained outcomes add up to %.3f bits, the score is %.3f", sum, got)
			}
			if quiet := names(a, b, false, nil); quiet != got {
				t.Errorf("names without explanation = %.3f, with = %.3f", quiet, got)
			}
		})
	}
}

func TestDobLevel(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{"exact", "1985-03-14", "1985-03-14", 0},
		{"one digit in the day", "1985-03-14", "1985-03-15", 1},
		{"one digit in the month", "1985-03-14", "1985-08-14", 1},
		{"digits of the day transposed", "1985-03-12", "1985-03-21", 1},
		{"day and month swapped", "1985-03-04", "1985-04-03", 1},
		{"day and month swapped, two digits each", "1985-05-11", "1985-11-05", 1},
		{"one digit of the year", "1985-03-14", "1986-03-14", 2},
		{"one digit of the decade", "1985-03-14", "1995-03-14", 2},
		{"digits of the year transposed", "1985-03-14", "1958-03-14", 2},
		{"same day and month, other year", "1985-03-14", "1991-03-14", 3},
		{"within a year", "1985-03-14", "1985-09-30", 4},
		{"within a year across new year", "1985-12-30", "1986-01-02", 4},
		{"different", "1985-03-14", "1990-07-01", 5},
		{"a year and a half apart", "1985-03-14", "1986-09-20", 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := feat("birthday", tt.a), feat("birthday", tt.b)
			require.NotEmpty(t, a.dobKey)
			require.NotEmpty(t, b.dobKey)
			if got := dobLevel(a, b); got != tt.want {
				t.Errorf("dobLevel(%s, %s) = %d (%s), want %d (%s)", tt.a, tt.b, got, dobLevels[got].name, tt.want, dobLevels[tt.want].name)
			}
			if got := dobLevel(b, a); got != tt.want {
				t.Errorf("dobLevel(%s, %s) = %d, want %d (swapped arguments)", tt.b, tt.a, got, tt.want)
			}
		})
	}
}

func TestEmailLevel(t *testing.T) {
	tests := []struct {
		name         string
		a, b         []string
		want         int
		wantX, wantY string
	}{
		{"exact", []string{"sara@example.com"}, []string{"sara@example.com"}, 0, "sara@example.com", "sara@example.com"},
		{"Gmail dots and googlemail", []string{"s.a.r.a@gmail.com"}, []string{"sara@googlemail.com"}, 0, "sara@gmail.com", "sara@gmail.com"},
		{"plus tag", []string{"sara+shop@example.com"}, []string{"sara@example.com"}, 0, "sara@example.com", "sara@example.com"},
		{"typo in the local part", []string{"sara.haddad@example.com"}, []string{"sara.hadad@example.com"}, 1,
			"sara.haddad@example.com", "sara.hadad@example.com"},
		{"typo in the domain", []string{"sara@gmial.com"}, []string{"sara@gmail.com"}, 1, "sara@gmial.com", "sara@gmail.com"},
		{"different", []string{"sara@example.com"}, []string{"omar.k@shop.ae"}, 2, "sara@example.com", "omar.k@shop.ae"},
		{"exact on the second address", []string{"old@example.com", "sara@example.com"}, []string{"sara@example.com"}, 0,
			"sara@example.com", "sara@example.com"},
		{"exact wins over an earlier typo", []string{"sara@exampel.com", "sara@example.com"}, []string{"sara@example.com"}, 0,
			"sara@example.com", "sara@example.com"},
		{"typo on the second address", []string{"x@one.org", "sara.haddad@example.com"}, []string{"sara.hadad@example.com"}, 1,
			"sara.haddad@example.com", "sara.hadad@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ka, kb []string
			for _, e := range tt.a {
				ka = append(ka, "emails", e)
			}
			for _, e := range tt.b {
				kb = append(kb, "emails", e)
			}
			got, x, y := emailLevel(feat(ka...), feat(kb...))
			if got != tt.want || x != tt.wantX || y != tt.wantY {
				t.Errorf("emailLevel = %d (%q, %q), want %d (%q, %q)", got, x, y, tt.want, tt.wantX, tt.wantY)
			}
		})
	}
}

func TestPhoneLevel(t *testing.T) {
	tests := []struct {
		name string
		a, b []string
		want int
	}{
		{"exact", []string{"+971501234567"}, []string{"+971501234567"}, 0},
		{"same subscriber digits, other country", []string{"+971501234567"}, []string{"+966501234567"}, 1},
		{"same last seven digits", []string{"+971551234567"}, []string{"+971501234567"}, 1},
		{"different", []string{"+971501234567"}, []string{"+971507654321"}, 2},
		{"exact on the second number", []string{"+97141234567", "+971501234567"}, []string{"+971501234567"}, 0},
		{"exact wins over earlier subscriber digits", []string{"+966501234567", "+971501234567"}, []string{"+971501234567"}, 0},
		// Fewer than eight characters have no subscriber part to compare.
		{"short numbers", []string{"+1234567"}, []string{"+9234567"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ka, kb []string
			for _, p := range tt.a {
				ka = append(ka, "phones", p)
			}
			for _, p := range tt.b {
				kb = append(kb, "phones", p)
			}
			if got, _, _ := phoneLevel(feat(ka...), feat(kb...)); got != tt.want {
				t.Errorf("phoneLevel = %d, want %d", got, tt.want)
			}
			if got, _, _ := phoneLevel(feat(kb...), feat(ka...)); got != tt.want {
				t.Errorf("phoneLevel = %d, want %d (swapped arguments)", got, tt.want)
			}
		})
	}
}

func TestNamesConflict(t *testing.T) {
	tests := []struct {
		name string
		a, b [2]string // first, last
		want bool
	}{
		{"family members sharing an email", [2]string{"Sara", "Haddad"}, [2]string{"Omar", "Haddad"}, true},
		{"same person", [2]string{"Sara", "Haddad"}, [2]string{"Sara", "Haddad"}, false},
		{"typo in the given name", [2]string{"Sara", "Haddad"}, [2]string{"Sarah", "Haddad"}, false},
		{"transliteration", [2]string{"Mohammed", "Haddad"}, [2]string{"Muhammad", "Haddad"}, false},
		{"initial", [2]string{"J", "Smith"}, [2]string{"John", "Smith"}, false},
		{"names swapped", [2]string{"Sara", "Haddad"}, [2]string{"Haddad", "Sara"}, false},
		{"given name missing on one side", [2]string{"", "Haddad"}, [2]string{"Omar", "Haddad"}, false},
		{"given name missing on the other side", [2]string{"Sara", "Haddad"}, [2]string{"", "Haddad"}, false},
		{"Arabic script, different names", [2]string{"سارة", "حداد"}, [2]string{"عمر", "حداد"}, true},
		{"Arabic script, same name spelt differently", [2]string{"سارة", "حداد"}, [2]string{"ساره", "حداد"}, false},
		// Names in different scripts are not compared letter by letter, so
		// they never conflict: the shared email or phone decides.
		{"Arabic against Latin, different names", [2]string{"سارة", "حداد"}, [2]string{"Omar", "Haddad"}, false},
		{"Arabic against Latin, same name", [2]string{"سارة", "حداد"}, [2]string{"Sara", "Haddad"}, false},
		{"different people, different family names", [2]string{"Sara", "Haddad"}, [2]string{"Omar", "Karimi"}, true},
		// A missing family name (nameLevel -1) is no agreement with
		// swapped fields: the given names still decide.
		{"different given names, one family name missing", [2]string{"Sara", "Haddad"}, [2]string{"Omar", ""}, true},
		{"different given names, no family names", [2]string{"Sara", ""}, [2]string{"Omar", ""}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := feat("first_name", tt.a[0], "last_name", tt.a[1])
			b := feat("first_name", tt.b[0], "last_name", tt.b[1])
			if got := namesConflict(a, b); got != tt.want {
				t.Errorf("namesConflict(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
			if got := namesConflict(b, a); got != tt.want {
				t.Errorf("namesConflict(%v, %v) = %v, want %v (swapped arguments)", tt.b, tt.a, got, tt.want)
			}
		})
	}
}

func TestProbability(t *testing.T) {
	tests := []struct {
		name     string
		w, prior float64
		want     float64
	}{
		{"no evidence, even odds", 0, 0, 0.5},
		{"weight cancels the prior", 10, DefaultPrior, 0.5},
		{"weight cancels another prior", 3.5, -3.5, 0.5},
		{"ten bits over the prior", 20, DefaultPrior, 1 / (1 + math.Exp2(-10))},
		{"ten bits under the prior", 0, DefaultPrior, 1 / (1 + math.Exp2(10))},
		{"one bit over", 1, 0, 2.0 / 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := probability(tt.w, tt.prior); math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("probability(%v, %v) = %v, want %v", tt.w, tt.prior, got, tt.want)
			}
		})
	}
	t.Run("monotonic and bounded", func(t *testing.T) {
		prev := -1.0
		for w := -60.0; w <= 60; w += 0.25 {
			p := probability(w, DefaultPrior)
			if p < 0 || p > 1 {
				t.Fatalf("probability(%v) = %v, outside [0, 1]", w, p)
			}
			if p < prev {
				t.Fatalf("probability(%v) = %v, less than %v at a lower weight", w, p, prev)
			}
			prev = p
		}
	})
}

func TestEvidenceOf(t *testing.T) {
	exact, swappedLast := firstLevels[0], lastLevels[1]
	tests := []struct {
		name string
		outs []outcome
		want []crmhub.Evidence
	}{
		{"none", nil, []crmhub.Evidence{}},
		{"one field", []outcome{{field: "birthday", left: "1985-03-14", right: "1985-03-15", level: dobLevels[1]}},
			[]crmhub.Evidence{{Field: "birthday: one digit or day/month swapped", Left: "1985-03-14", Right: "1985-03-15", Score: 4.74}}},
		{"swapped names", []outcome{
			{field: "first_name", left: "sara", right: "sara", level: exact, swapped: true},
			{field: "last_name", left: "haddad", right: "hadad", level: swappedLast, swapped: true}},
			[]crmhub.Evidence{
				{Field: "first_name (swapped): exact", Left: "sara", Right: "sara", Score: 6.64},
				{Field: "last_name (swapped): transliteration", Left: "haddad", Right: "hadad", Score: 5.64}}},
		{"disagreement scores negative", []outcome{{field: "email", left: "a@x.com", right: "b@y.org", level: emailLevels[2]}},
			[]crmhub.Evidence{{Field: "email: different", Left: "a@x.com", Right: "b@y.org", Score: -4.32}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, evidenceOf(tt.outs))
		})
	}
}

// TestCompare checks the sum over fields, that fields outside the rule or
// missing on either side are not compared, and the explanation.
func TestCompare(t *testing.T) {
	sara := feat("first_name", "Sara", "last_name", "Haddad", "birthday", "1985-03-14",
		"emails", "sara@example.com", "phones", "+971501234567",
		"address.line1", "12 Palm Street", "address.postal_code", "12345", "address.city", "Dubai")
	sarah := feat("first_name", "Sarah", "last_name", "Haddad", "birthday", "1985-03-15",
		"emails", "sara@example.com", "phones", "+966501234567",
		"address.line1", "12 Palm Street", "address.postal_code", "12346", "address.city", "Dubai")
	noBirthday := feat("first_name", "Sara", "last_name", "Haddad")
	tests := []struct {
		name       string
		a, b       *features
		fields     []string
		wantFields []string
		want       float64
	}{
		{"all fields", sara, sarah, []string{FieldName, FieldBirthday, FieldAddress, FieldEmail, FieldPhone},
			[]string{"first_name", "last_name", "birthday", "email", "phone", "address.line1", "address.postal_code", "address.city"},
			firstLevels[1].weight() + lastLevels[0].weight() + dobLevels[1].weight() + emailLevels[0].weight() +
				phoneLevels[1].weight() + streetLevels[0].weight() + postLevels[1].weight() + cityLevels[0].weight()},
		{"birthday only", sara, sarah, []string{FieldBirthday}, []string{"birthday"}, dobLevels[1].weight()},
		{"birthday missing on one side", sara, noBirthday, []string{FieldName, FieldBirthday},
			[]string{"first_name", "last_name"}, firstLevels[0].weight() + lastLevels[0].weight()},
		{"unknown field names are ignored", sara, sarah, []string{"shoe_size"}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, outs := compare(tt.a, tt.b, fieldSetOf(tt.fields), true)
			if math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("compare = %.3f bits, want %.3f", got, tt.want)
			}
			var fields []string
			for _, o := range outs {
				fields = append(fields, o.field)
			}
			require.Equal(t, tt.wantFields, fields)
			quiet, none := compare(tt.a, tt.b, fieldSetOf(tt.fields), false)
			if quiet != got || none != nil {
				t.Errorf("without explanation: %.3f bits and %d outcomes, want %.3f and none", quiet, len(none), got)
			}
		})
	}
}

// TestBoundIsAnUpperBound checks that ruling pairs out by bound never
// rules out one compare would weigh higher, on pairs that share a
// blocking key (the pairs resolution compares) and on random pairs.
func TestBoundIsAnUpperBound(t *testing.T) {
	recs := append(benchPeople(5, 3000), synthetic(5, 400)...)
	feats := make([]*features, len(recs))
	byKey := map[string][]int{}
	r := newResolver(Config{Email: true, Phone: true})
	for i := range recs {
		feats[i] = featuresOf(&recs[i])
		for _, k := range keysOf(feats[i], r.blocked) {
			byKey[k] = append(byKey[k], i)
		}
	}
	sets := []fieldSet{useName | useBirthday | useAddress | useEmail | usePhone, useName | useBirthday, useAddress | usePhone}
	fuzzy := newResolver(testConfig())
	ruledOut := 0
	check := func(a, b *features) {
		// What decodeBound reads must be all that bound needs.
		var cheap features
		require.True(t, decodeBound(b.encode(), b.key, &cheap))
		for _, set := range sets {
			w, _ := compare(a, b, set, false)
			require.GreaterOrEqual(t, bound(a, b, set), w, "%s ~ %s", a.key, b.key)
			require.Equal(t, bound(a, b, set), bound(a, &cheap, set), "%s ~ %s decoded for the bound", a.key, b.key)
			require.Equal(t, bound(b, a, set), bound(&cheap, a, set), "%s ~ %s decoded for the bound", b.key, a.key)
		}
		if fuzzy.ruledOut(a, &cheap) {
			ruledOut++
			_, _, ok := fuzzy.link(a, b, "")
			require.False(t, ok, "%s ~ %s ruled out, but link accepts", a.key, b.key)
		}
	}
	pairs := 0
	for _, ms := range byKey {
		for i := 1; i < len(ms) && i < 20; i++ {
			check(feats[ms[0]], feats[ms[i]])
			pairs++
		}
	}
	rng := rand.New(rand.NewPCG(5, 5))
	for range 5000 {
		check(feats[rng.IntN(len(feats))], feats[rng.IntN(len(feats))])
	}
	require.Greater(t, pairs, 1000)
	t.Logf("%d of %d pairs ruled out by the bound", ruledOut, pairs+5000)
	require.Greater(t, ruledOut, pairs/2, "most candidates are ruled out by the bound")
}

func TestSameDigits(t *testing.T) {
	digits := func(s string) string {
		var b []byte
		for i := 0; i < len(s); i++ {
			if s[i] >= '0' && s[i] <= '9' {
				b = append(b, s[i])
			}
		}
		return string(b)
	}
	tests := []struct {
		a, b string
		want bool
	}{
		{"", "", true},
		{"walker", "walkre", true},
		{"walker", "walker2", false},
		{"sara1@example.com", "sara2@example.com", false},
		{"12 palm st", "palm st 12", true},
		{"12 palm st", "21 palm st", false},
		{"1 2", "12", true},
		{"1", "", false},
		{"", "0", false},
		{"٣ street", "3 street", false}, // only ASCII digits count; Arabic ones are normalized before
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, sameDigits(tt.a, tt.b), "%q %q", tt.a, tt.b)
		require.Equal(t, tt.want, sameDigits(tt.b, tt.a), "%q %q", tt.b, tt.a)
		require.Equal(t, digits(tt.a) == digits(tt.b), sameDigits(tt.a, tt.b), "%q %q", tt.a, tt.b)
	}
}
