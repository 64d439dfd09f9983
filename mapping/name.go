package mapping

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

const (
	tatweel = '\u0640' // Arabic kashida: stretches a word, carries no letter
	zwnj    = '\u200C'
)

// NormalizeName returns the stored and displayed form of a person's name:
// NFKC (Arabic presentation forms and fullwidth letters become ordinary
// letters), white space collapsed to single spaces and trimmed, tatweel,
// control and invisible characters removed. Case and script are kept as
// typed: "sara AL-AMIRI" stays that way.
//
// A zero-width non-joiner between two letters is kept: in Persian it is
// spelling (the half-space in مهدی‌زاده) and removing it changes how the name
// renders. NameMatchKey removes it.
func NormalizeName(s string) string {
	// Invalid bytes become U+FFFD before NFKC, not after: NFKC passes them
	// through, and the replacement would then sit where it changes how the
	// next character normalizes on a second pass.
	rs := []rune(norm.NFKC.String(strings.ToValidUTF8(s, "\uFFFD")))
	var b strings.Builder
	b.Grow(len(s))
	space := false
	prev := rune(0) // last rune written
	for i, r := range rs {
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case r == zwnj:
			if space || i == len(rs)-1 || !unicode.In(prev, unicode.L, unicode.M) || !unicode.IsLetter(rs[i+1]) {
				continue
			}
		case r == tatweel, isInvisible(r), unicode.IsControl(r):
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
		prev = r
	}
	// Removing a character can leave a combining mark next to a letter it
	// now composes with ("A\x01\u0304"); compose again so that the result
	// is stable under NormalizeName.
	return norm.NFC.String(b.String())
}

// NameMatchKey returns the key under which identity resolution compares
// names. It is only for matching and must not be stored as a name.
//
// Starting from NormalizeName, it folds case, removes diacritics (Latin
// accents, Arabic harakat, superscript alef and Quranic marks), folds
// Arabic and Persian letter variants (ی ى → ي, ک → ك, ة ۀ → ه, أ إ آ ٱ → ا,
// ؤ → و, ئ → ي, hamza dropped), removes apostrophes, turns other
// punctuation into spaces, and joins the Arabic definite article and "abd"
// to the word that follows, so "Al Amiri", "Al-Amiri" and "Alamiri" share
// the key "alamiri", and "ال عامري" and "العامري" share "العامري".
func NameMatchKey(s string) string {
	if k, ok := nameMatchKeyASCII(s); ok {
		return k
	}
	return nameMatchKeyUnicode(s)
}

func nameMatchKeyUnicode(s string) string {
	// A Caser keeps state and must not be shared between goroutines.
	// Fold maps Cherokee capitals to small letters and small letters to
	// capitals, so applied to its own output it flips back; lowering what
	// it returns settles every letter on one form.
	folded := strings.ToLower(cases.Fold().String(NormalizeName(s)))
	decomposed := norm.NFD.String(Digits(folded))
	var b strings.Builder
	b.Grow(len(decomposed))
	for _, r := range decomposed {
		if m, ok := nameFold[r]; ok {
			b.WriteString(m)
			continue
		}
		switch {
		case unicode.Is(unicode.Mn, r), r >= 0x06D6 && r <= 0x06ED, isApostrophe(r),
			isInvisible(r), r == tatweel:
			continue
		case unicode.IsPunct(r), unicode.IsSymbol(r), unicode.IsSpace(r):
			b.WriteByte(' ')
			continue
		}
		b.WriteRune(r)
	}
	// Recompose what NFD split and removing marks did not touch (Hangul).
	tokens := strings.Fields(norm.NFC.String(b.String()))
	return strings.Join(joinPrefixes(tokens), " ")
}

// nameMatchKeyASCII is NameMatchKey for input of ASCII bytes only, the
// common case, without the Unicode normalization passes: for ASCII they
// change nothing but letter case. ok is false for any other input.
func nameMatchKeyASCII(s string) (key string, ok bool) {
	var buf [64]byte
	b := buf[:0]
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= utf8.RuneSelf:
			return "", false
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			b = append(b, c)
		case 'A' <= c && c <= 'Z':
			b = append(b, c+'a'-'A')
		case c == '\'', c == '`':
			// apostrophes: removed, as isApostrophe says
		case c == ' ', '\t' <= c && c <= '\r':
			b = append(b, ' ')
		case c < ' ', c == 0x7F:
			// other control characters: removed, as NormalizeName does
		default:
			// every other printable ASCII character is punctuation or a
			// symbol, which NameMatchKey turns into a space
			b = append(b, ' ')
		}
	}
	return strings.Join(joinPrefixes(strings.Fields(string(b))), " "), true
}

// nameFold maps letters to the form they are compared in. It applies after
// NFD and case folding, so أ إ آ ؤ ئ ۀ already lost their hamza or madda
// (a combining mark) and arrive as their base letter.
var nameFold = map[rune]string{
	'\u0671': "ا", // alef wasla
	'\u0649': "ي", // alef maksura
	'\u06CC': "ي", // Farsi yeh
	'\u06D2': "ي", // yeh barree
	'\u06A9': "ك", // keheh (Persian kaf)
	'\u0629': "ه", // teh marbuta
	'\u06D5': "ه", // ae, what ۀ decomposes to
	'\u06BE': "ه", // heh doachashmee
	'\u06C1': "ه", // heh goal
	'\u0621': "",  // hamza on the line: spelt or not
	'\u0674': "",  // high hamza
	'ı':      "i",
	'ø':      "o",
	'đ':      "d",
	'ð':      "d",
	'ł':      "l",
	'ħ':      "h",
	'æ':      "ae",
	'œ':      "oe",
	'þ':      "th",
}

// isApostrophe reports whether r is written inside a name (O'Brien, Sa'id,
// ʿAbd) and is removed rather than turned into a space.
func isApostrophe(r rune) bool {
	switch r {
	case '\'', '`', '\u00B4', '\u2018', '\u2019', '\u02BB', '\u02BC', '\u02BE', '\u02BF':
		return true
	}
	return false
}

// joinPrefixes joins each Arabic definite article, and each "abd" (servant
// of), to the token after it. Spacing and hyphenation of both vary between
// sources while the joined form is unambiguous. A run of prefixes joins
// with the token that ends it: "abd al rahman" becomes "abdalrahman", and a
// run at the end becomes one token.
func joinPrefixes(tokens []string) []string {
	out := tokens[:0:0]
	var run strings.Builder
	for _, t := range tokens {
		run.WriteString(t)
		// The run itself may have become a prefix ("abd" + "ul"), and it
		// must join what follows as "abdul" would, or the key would change
		// when computed again from its own output.
		if !joinsNext[t] && !joinsNext[run.String()] {
			out = append(out, run.String())
			run.Reset()
		}
	}
	if run.Len() > 0 {
		out = append(out, run.String())
	}
	return out
}

var joinsNext = map[string]bool{
	"al": true, "el": true, "ال": true,
	"abd": true, "abdul": true, "abdel": true, "abdal": true, "abdol": true, "abdur": true, "عبد": true,
}

// NameTokens returns the sorted match-key tokens of a first and last name,
// so that names whose parts were entered in swapped fields compare equal:
// ("Sara", "Al Amiri") and ("Al Amiri", "Sara") both give
// ["alamiri" "sara"]. It returns nil when there is no token.
func NameTokens(first, last string) []string {
	tokens := strings.Fields(NameMatchKey(first + " " + last))
	if len(tokens) == 0 {
		return nil
	}
	slices.Sort(tokens)
	return tokens
}
