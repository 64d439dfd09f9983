package mapping

import (
	"regexp"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// countryPrefixes are the prefixes some senders put before a postal code,
// mostly international vehicle codes from the days of "D-80331 München".
// The country's alpha-2 code is also stripped for every country.
var countryPrefixes = map[string][]string{
	"DE": {"D"}, "AT": {"A"}, "FR": {"F"}, "IT": {"I"}, "BE": {"B"}, "LU": {"L"},
	"SE": {"S"}, "NO": {"N"}, "FI": {"FIN", "SF"}, "ES": {"E"}, "PT": {"P"}, "HU": {"H"},
	"CH": {"CH"}, "DK": {"DK"}, "NL": {"NL"}, "PL": {"PL"}, "CZ": {"CZ"},
}

// postcodeFormats put the space or dash back into postal codes whose
// spacing is fixed, after the code was reduced to letters and digits.
var postcodeFormats = map[string]struct {
	re    *regexp.Regexp
	split int    // index of the separator, counted from the end when negative
	sep   string // what goes there
}{
	"GB": {regexp.MustCompile(`^(GIR0AA|[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2})$`), -3, " "},
	"CA": {regexp.MustCompile(`^[A-Z][0-9][A-Z][0-9][A-Z][0-9]$`), 3, " "},
	"NL": {regexp.MustCompile(`^[1-9][0-9]{3}[A-Z]{2}$`), 4, " "},
	"IE": {regexp.MustCompile(`^[A-Z][0-9][0-9W][A-Z0-9]{4}$`), 3, " "},
	"SE": {regexp.MustCompile(`^[0-9]{5}$`), 3, " "},
	"US": {regexp.MustCompile(`^[0-9]{9}$`), 5, "-"},
	"PL": {regexp.MustCompile(`^[0-9]{5}$`), 2, "-"},
}

// NormalizePostcode returns the stored form of a postal code in country
// (ISO 3166-1 alpha-2; may be ""): ASCII digits for any Unicode digits,
// upper case, white space collapsed and trimmed, leading zeros kept (01067
// is Dresden). A country prefix is removed ("D-80331" for DE). Where the
// country's format fixes the spacing it is applied, so spellings of one
// code compare equal: GB "sw1a1aa" → "SW1A 1AA", CA "k1a0b1" → "K1A 0B1",
// NL "1012ab" → "1012 AB", IE, SE, US ZIP+4 and PL likewise. Other values
// are only cleaned, never rejected: postal formats vary too much to
// validate here.
func NormalizePostcode(s, country string) string {
	s = strings.ToUpper(Digits(norm.NFKC.String(dropInvisible(s))))
	s = strings.Join(strings.Fields(s), " ")
	country = strings.ToUpper(strings.TrimSpace(country))
	s = stripCountryPrefix(s, country)
	f, ok := postcodeFormats[country]
	if !ok {
		return s
	}
	compact := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, s)
	if !f.re.MatchString(compact) {
		return s
	}
	i := f.split
	if i < 0 {
		i += len(compact)
	}
	return compact[:i] + f.sep + compact[i:]
}

// stripCountryPrefix removes "D-", "D " or "DE-" and the like before a
// code that starts with a digit, so that a Canadian or British code, which
// starts with a letter, is never cut.
func stripCountryPrefix(s, country string) string {
	if country == "" {
		return s
	}
	for _, p := range append([]string{country}, countryPrefixes[country]...) {
		rest, ok := strings.CutPrefix(s, p)
		if !ok {
			continue
		}
		rest, ok = strings.CutPrefix(rest, "-")
		if !ok {
			rest, ok = strings.CutPrefix(rest, " ")
		}
		rest = strings.TrimPrefix(rest, " ")
		if ok && rest != "" && unicode.IsDigit(rune(rest[0])) {
			return rest
		}
	}
	return s
}
