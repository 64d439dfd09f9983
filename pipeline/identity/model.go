package identity

import (
	"math"
	"strconv"
	"time"
	"unicode"

	"github.com/crmhub/crmhub"
)

// A level is one outcome of comparing a field of two records, with the
// Fellegi–Sunter probabilities of seeing it: m among pairs that are the
// same person, u among candidate pairs that are not. Its weight is
// log2(m/u): agreement on a rare value says much, disagreement on a field
// that people often change (email, phone) says little.
type level struct {
	name string
	m, u float64
	w    float64 // log2(m/u), set by init for the levels below
}

func (l level) weight() float64 {
	if l.w != 0 {
		return l.w
	}
	return math.Log2(l.m / l.u)
}

func init() {
	for _, ls := range [][]level{firstLevels, lastLevels, dobLevels, emailLevels, phoneLevels, streetLevels,
		postLevels, cityLevels} {
		for i := range ls {
			ls[i].w = math.Log2(ls[i].m / ls[i].u)
		}
	}
}

// comparison levels per field, last level "different". The probabilities
// are chosen for customer data as shops hold it: typing mistakes in a name
// or a birthday digit are common, a changed email or phone is common,
// agreement on a full birthday or a street line among non-matching
// candidates is rare.
var (
	firstLevels = []level{
		{"exact", 0.80, 0.008, 0}, {"transliteration", 0.06, 0.002, 0}, {"similar", 0.07, 0.004, 0},
		{"initial or close", 0.04, 0.03, 0}, {"different", 0.03, 0.956, 0}}
	lastLevels = []level{
		{"exact", 0.82, 0.004, 0}, {"transliteration", 0.05, 0.001, 0}, {"similar", 0.07, 0.002, 0},
		{"close", 0.03, 0.02, 0}, {"different", 0.03, 0.973, 0}}
	dobLevels = []level{
		{"exact", 0.80, 0.0003, 0}, {"one digit or day/month swapped", 0.08, 0.003, 0},
		{"one digit of the year", 0.02, 0.002, 0},
		{"same day and month", 0.03, 0.003, 0}, {"within a year", 0.04, 0.02, 0}, {"different", 0.03, 0.9717, 0}}
	emailLevels = []level{
		{"exact", 0.85, 0.0001, 0}, {"typo", 0.10, 0.0005, 0}, {"different", 0.05, 0.9994, 0}}
	phoneLevels = []level{
		{"exact", 0.80, 0.0001, 0}, {"same subscriber digits", 0.05, 0.001, 0}, {"different", 0.15, 0.9989, 0}}
	streetLevels = []level{
		{"exact", 0.75, 0.001, 0}, {"similar", 0.12, 0.004, 0}, {"same street, other number", 0.05, 0.01, 0},
		{"different", 0.08, 0.985, 0}}
	postLevels = []level{
		{"exact", 0.85, 0.01, 0}, {"one character", 0.10, 0.05, 0}, {"different", 0.05, 0.94, 0}}
	cityLevels = []level{
		{"exact", 0.85, 0.1, 0}, {"similar", 0.10, 0.02, 0}, {"different", 0.05, 0.88, 0}}
)

// swapPenalty is subtracted, in bits, when names only agree with given and
// family name swapped.
const swapPenalty = 1.0

// Fuzzy fields, as identity.match names them.
const (
	FieldName     = "name"
	FieldBirthday = "birthday"
	FieldAddress  = "address"
	FieldEmail    = "email"
	FieldPhone    = "phone"
)

// fieldSet is a set of fuzzy fields as bits.
type fieldSet uint8

const (
	useName fieldSet = 1 << iota
	useBirthday
	useAddress
	useEmail
	usePhone
)

func fieldSetOf(fields []string) fieldSet {
	var s fieldSet
	for _, f := range fields {
		switch f {
		case FieldName:
			s |= useName
		case FieldBirthday:
			s |= useBirthday
		case FieldAddress:
			s |= useAddress
		case FieldEmail:
			s |= useEmail
		case FieldPhone:
			s |= usePhone
		}
	}
	return s
}

// outcome is one compared field of a pair.
type outcome struct {
	field       string
	left, right string
	level       level
	swapped     bool
}

// compare compares two records on the fields in set and returns the summed
// weight in bits. When explain is set it also returns the outcomes.
func compare(a, b *features, set fieldSet, explain bool) (float64, []outcome) {
	var w float64
	var out []outcome
	// The values shown are built only when explaining: compare runs for
	// every candidate pair, explain only for the merge log.
	note := func(field string, l level, left, right func() string) {
		w += l.weight()
		if explain {
			out = append(out, outcome{field: field, left: left(), right: right(), level: l})
		}
	}
	is := func(s string) func() string { return func() string { return s } }
	if set&useName != 0 {
		w += names(a, b, explain, &out)
	}
	if set&useBirthday != 0 && a.dobKey != "" && b.dobKey != "" {
		note("birthday", dobLevels[dobLevel(a, b)], a.dob.String, b.dob.String)
	}
	if set&useEmail != 0 && len(a.emails) > 0 && len(b.emails) > 0 {
		l, x, y := emailLevel(a, b)
		note("email", emailLevels[l], is(x), is(y))
	}
	if set&usePhone != 0 && len(a.phones) > 0 && len(b.phones) > 0 {
		l, x, y := phoneLevel(a, b)
		note("phone", phoneLevels[l], is(x), is(y))
	}
	if set&useAddress != 0 {
		if !a.street.empty() && !b.street.empty() {
			l := similarLevel(a.street, b.street, 0.88)
			switch {
			case l == 2:
				l = 3
			case l == 1 && !sameDigits(a.streetK, b.streetK):
				l = 2 // another house number: a typo or a neighbour
			}
			note("address.line1", streetLevels[l], is(a.streetK), is(b.streetK))
		}
		if a.post != "" && b.post != "" {
			note("address.postal_code", postLevels[postLevel(a, b)], is(a.post), is(b.post))
		}
		if !a.city.empty() && !b.city.empty() {
			note("address.city", cityLevels[similarLevel(a.city, b.city, 0.88)], is(a.cityK), is(b.cityK))
		}
	}
	return w, out
}

// postLevel compares two postcodes: the same, one character apart, or
// different.
func postLevel(a, b *features) int {
	switch {
	case a.post == b.post:
		return 0
	case withinOneEdit(a.post, b.post):
		return 1
	}
	return 2
}

// bound is an upper bound of compare's weight: the exact weight of the
// cheap fields (birthday, email, phone, postcode) and the most the others
// could add. A pair whose bound is below a rule's threshold needs no names,
// email or street compared. It reads only what decodeBound fills in.
func bound(a, b *features, set fieldSet) float64 {
	var w float64
	if set&useName != 0 {
		w += namesBound(a, b)
	}
	if set&useBirthday != 0 && a.dobKey != "" && b.dobKey != "" {
		w += dobLevels[dobLevel(a, b)].w
	}
	if set&useEmail != 0 && len(a.emails) > 0 && len(b.emails) > 0 {
		l, _, _ := emailLevel(a, b)
		w += emailLevels[l].w
	}
	if set&usePhone != 0 && len(a.phones) > 0 && len(b.phones) > 0 {
		l, _, _ := phoneLevel(a, b)
		w += phoneLevels[l].w
	}
	if set&useAddress != 0 {
		if a.streetK != "" && b.streetK != "" {
			w += upTo(streetLevels, a.streetK == b.streetK)
		}
		if a.post != "" && b.post != "" {
			w += postLevels[postLevel(a, b)].w
		}
		if a.cityK != "" && b.cityK != "" {
			w += upTo(cityLevels, a.cityK == b.cityK)
		}
	}
	return w
}

// upTo is the most a field can weigh: its exact level when the values
// are equal, and otherwise the best of its other levels, since equal
// strings are what the exact level means.
func upTo(levels []level, equal bool) float64 {
	if equal {
		return levels[0].w
	}
	m := math.Inf(-1)
	for _, l := range levels[1:] {
		m = max(m, l.w)
	}
	return m
}

// namesBound is the most names can weigh, from the keys and
// transliteration keys alone.
func namesBound(a, b *features) float64 {
	part := func(levels []level, x, y name) (float64, bool) {
		switch {
		case x.empty() || y.empty():
			return 0, false
		case x.key == y.key:
			return levels[0].w, true
		case x.trans == y.trans:
			return levels[1].w, true
		}
		return upTo(levels[1:], false), true
	}
	f, _ := part(firstLevels, a.first, b.first)
	l, _ := part(lastLevels, a.last, b.last)
	w := f + l
	sf, okf := part(firstLevels, a.first, b.last)
	sl, okl := part(lastLevels, a.last, b.first)
	if okf && okl {
		w = max(w, sf+sl-swapPenalty)
	}
	return w
}

// names adds the weight of first and last name, taking given and family
// name swapped when that agrees better.
func names(a, b *features, explain bool, out *[]outcome) float64 {
	fl, ll := nameLevel(a.first, b.first, true), nameLevel(a.last, b.last, false)
	direct := levelWeight(firstLevels, fl) + levelWeight(lastLevels, ll)
	sf, sl := nameLevel(a.first, b.last, true), nameLevel(a.last, b.first, false)
	swapped := levelWeight(firstLevels, sf) + levelWeight(lastLevels, sl) - swapPenalty
	// A swap counts only when both parts agree across: one family name
	// in the other's given-name field alone is no evidence.
	bothSwapped := sf >= 0 && sl >= 0 && sf < 4 && sl < 4
	if bothSwapped && swapped > direct {
		if explain {
			*out = append(*out,
				outcome{field: "first_name", left: a.first.key, right: b.last.key, level: firstLevels[sf], swapped: true},
				outcome{field: "last_name", left: a.last.key, right: b.first.key, level: lastLevels[sl], swapped: true})
		}
		return swapped
	}
	if explain {
		if fl >= 0 {
			*out = append(*out, outcome{field: "first_name", left: a.first.key, right: b.first.key, level: firstLevels[fl]})
		}
		if ll >= 0 {
			*out = append(*out, outcome{field: "last_name", left: a.last.key, right: b.last.key, level: lastLevels[ll]})
		}
	}
	return direct
}

func levelWeight(levels []level, i int) float64 {
	if i < 0 {
		return 0
	}
	return levels[i].weight()
}

// nameLevel compares two name parts: -1 when one is missing.
func nameLevel(x, y name, first bool) int {
	switch {
	case x.empty() || y.empty():
		return -1
	case x.key == y.key:
		return 0
	case x.trans == y.trans:
		return 1
	}
	// Names that differ in their digits (Walker, Walker2) are accounts
	// told apart on purpose, not typing mistakes.
	if !sameDigits(x.key, y.key) {
		return 4
	}
	s := similarity(x.text, y.text)
	switch {
	case s >= 0.92:
		return 2
	case s >= 0.85:
		return 3
	case first && (x.text.len() == 1 || y.text.len() == 1) && x.text.first() == y.text.first():
		return 3
	}
	return 4
}

func similarLevel(x, y text, threshold float64) int {
	if x.s == y.s {
		return 0
	}
	if similarity(x, y) >= threshold {
		return 1
	}
	return 2
}

func dobLevel(a, b *features) int {
	switch {
	case a.dobKey == b.dobKey:
		return 0
	case a.dob.Year != b.dob.Year && a.dob.Month == b.dob.Month && a.dob.Day == b.dob.Day && withinOneEdit(a.dobKey, b.dobKey):
		return 2 // a slip in the year says less than one in day or month
	case withinOneEdit(a.dobKey, b.dobKey),
		a.dob.Year == b.dob.Year && int(a.dob.Month) == b.dob.Day && a.dob.Day == int(b.dob.Month):
		return 1
	}
	if a.dob.Month == b.dob.Month && a.dob.Day == b.dob.Day {
		return 3
	}
	days := dateTime(a.dob).Sub(dateTime(b.dob)).Hours() / 24
	if math.Abs(days) <= 366 {
		return 4
	}
	return 5
}

func emailLevel(a, b *features) (int, string, string) {
	best, x, y := 2, a.emails[0], b.emails[0]
	for _, e := range a.emails {
		for _, f := range b.emails {
			switch {
			case e == f:
				return 0, e, f
			case best > 1 && sameDigits(e, f) && (levenshteinAtMost(e, f, 1) ||
				min(len(e), len(f)) >= 12 && levenshteinAtMost(e, f, 2) || similarity(newText(e), newText(f)) >= 0.92):
				// A typo, unless the digits differ: sara1@ and sara2@ are
				// two accounts.
				best, x, y = 1, e, f
			}
		}
	}
	return best, x, y
}

func phoneLevel(a, b *features) (int, string, string) {
	best, x, y := 2, a.phones[0], b.phones[0]
	for _, p := range a.phones {
		for _, q := range b.phones {
			switch {
			case p == q:
				return 0, p, q
			case best > 1 && len(p) >= 8 && len(q) >= 8 && p[len(p)-7:] == q[len(q)-7:]:
				best, x, y = 1, p, q
			}
		}
	}
	return best, x, y
}

// namesConflict reports whether two records carry first names that cannot
// be the same person's, directly or with given and family name swapped.
// A shared email or phone does not link such records: families and
// colleagues share them.
func namesConflict(a, b *features) bool {
	if a.first.empty() || b.first.empty() {
		return false
	}
	// Names in different scripts (سارة, Sara) cannot be compared letter by
	// letter; a shared email or phone is the better evidence then.
	if a.first.text.latin() != b.first.text.latin() {
		return false
	}
	if nameLevel(a.first, b.first, true) < 4 {
		return false
	}
	// Swapped fields: a's given name is b's family name or the reverse.
	if l := nameLevel(a.first, b.last, true); l >= 0 && l < 3 {
		return false
	}
	if l := nameLevel(a.last, b.first, true); l >= 0 && l < 3 {
		return false
	}
	return true
}

// probability turns a weight into the posterior probability of a match
// given the prior log2 odds.
func probability(w, prior float64) float64 {
	return 1 / (1 + math.Exp2(-(w + prior)))
}

// evidenceOf turns outcomes into the merge log's evidence.
func evidenceOf(outs []outcome) []crmhub.Evidence {
	ev := make([]crmhub.Evidence, 0, len(outs))
	for _, o := range outs {
		f := o.field
		if o.swapped {
			f += " (swapped)"
		}
		ev = append(ev, crmhub.Evidence{Field: f + ": " + o.level.name, Left: o.left, Right: o.right,
			Score: round(o.level.weight())})
	}
	return ev
}

func round(x float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', 2, 64), 64)
	return v
}

func dateTime(d crmhub.Date) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC)
}

// latin reports whether a name key is written in Latin letters.
func latin(rs []rune) bool {
	for _, r := range rs {
		if unicode.IsLetter(r) && !unicode.Is(unicode.Latin, r) {
			return false
		}
	}
	return true
}

// sameDigits reports whether a and b hold the same ASCII digits in the
// same order, whatever else they hold. It runs for most compared pairs,
// so it builds no strings.
func sameDigits(a, b string) bool {
	i, j := 0, 0
	for {
		for i < len(a) && (a[i] < '0' || a[i] > '9') {
			i++
		}
		for j < len(b) && (b[j] < '0' || b[j] > '9') {
			j++
		}
		if i == len(a) || j == len(b) {
			return i == len(a) && j == len(b)
		}
		if a[i] != b[j] {
			return false
		}
		i++
		j++
	}
}
