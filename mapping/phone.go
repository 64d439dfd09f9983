package mapping

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/nyaruka/phonenumbers"
)

// maxPhoneInput bounds the work done on a value that cannot be a phone
// number; the longest real formatted number is far shorter.
const maxPhoneInput = 128

// NormalizePhone returns a phone number in E.164 form (+971501234567). The
// E.164 form is both the stored value and the match key.
//
// defaultRegion (ISO 3166-1 alpha-2, such as "AE") says which country a
// number written without a country code belongs to; "" means the number
// must carry one, as +CC or 00CC. The input may use any Unicode decimal
// digits (Eastern Arabic ٠٥٠…, Persian ۰۹۱…), spaces, dashes, dots, slashes
// and parentheses, a tel: prefix, and a 00 international prefix; national
// trunk prefixes ("0" in 050…, "(0)" in +44 (0)20…) are handled by the
// numbering plan of the country.
//
// It rejects letters (vanity numbers and "ext." suffixes included), numbers
// that are not valid for their country's numbering plan, and placeholders
// made of one repeated digit (0000000, +971 50 000 0000), and numbers of
// more than the 15 digits E.164 allows. Errors wrap
// crmhub.ErrInvalid.
func NormalizePhone(s, defaultRegion string) (string, error) {
	orig := s
	s, reason := cleanPhone(s)
	if reason != "" {
		return "", invalid("phone", orig, reason)
	}
	region := strings.ToUpper(defaultRegion)
	if region != "" && !IsPhoneRegion(region) {
		return "", invalid("phone region", defaultRegion, "not a country with a numbering plan")
	}
	if !strings.HasPrefix(s, "+") && region == "" {
		return "", invalid("phone", orig, "no country code and no default region")
	}
	num, err := phonenumbers.Parse(s, region)
	if err != nil {
		return "", invalid("phone", orig, "not a phone number")
	}
	if !phonenumbers.IsValidNumber(num) {
		return "", invalid("phone", orig, "not a valid number in its country")
	}
	if isPlaceholder(phonenumbers.GetNationalSignificantNumber(num)) {
		return "", invalid("phone", orig, "placeholder number")
	}
	out := phonenumbers.Format(num, phonenumbers.E164)
	// Germany's numbering plan admits national numbers that, with the
	// country code, exceed the 15 digits E.164 allows; other systems (Meta,
	// Klaviyo) refuse them, so they are no phone numbers here either.
	if len(out)-1 > maxE164Digits {
		return "", invalid("phone", orig, "longer than the 15 digits E.164 allows")
	}
	return out, nil
}

// maxE164Digits is the most digits, country code included, that E.164
// allows in an international number.
const maxE164Digits = 15

// IsPhoneRegion reports whether region (upper-case alpha-2) is a country
// NormalizePhone knows the numbering plan of. Mapping rules check the
// region of a phone(REGION) transform with it at start-up.
func IsPhoneRegion(region string) bool {
	return phonenumbers.GetCountryCodeForRegion(region) != 0
}

// cleanPhone reduces a written phone number to an optional leading + and
// ASCII digits, or returns why it cannot be one.
func cleanPhone(s string) (string, string) {
	s = trimSpace(s)
	if rest, ok := cutPrefixFold(s, "tel:"); ok {
		s = trimSpace(rest)
	}
	if s == "" {
		return "", "empty"
	}
	if len(s) > maxPhoneInput {
		return "", "too long"
	}
	s = Digits(s)
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case '0' <= r && r <= '9':
			b.WriteRune(r)
		case r == '+' || r == '\uFF0B': // fullwidth plus from CJK input methods
			if b.Len() > 0 {
				return "", "+ not at the start"
			}
			b.WriteByte('+')
		case isPhoneSeparator(r):
		case unicode.IsLetter(r):
			return "", "contains letters"
		default:
			return "", "character " + strconv.QuoteRune(r) + " not allowed"
		}
	}
	out := b.String()
	if rest, ok := strings.CutPrefix(out, "00"); ok {
		out = "+" + rest
	}
	if strings.TrimPrefix(out, "+") == "" {
		return "", "no digits"
	}
	return out, ""
}

// isPhoneSeparator reports whether r is punctuation people put between the
// digits of a phone number.
func isPhoneSeparator(r rune) bool {
	switch r {
	case '-', '.', '(', ')', '/', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2212':
		return true
	}
	return isSpaceOrInvisible(r)
}

// isPlaceholder reports whether a national significant number is a
// stand-in typed into a required field: the same digit throughout, or a
// subscriber part of seven or more repeats after a valid area or mobile
// prefix (+971 50 000 0000 passes the numbering plan). Such numbers must not
// become match keys, or every customer who typed one would merge.
func isPlaceholder(nsn string) bool {
	const run = 7
	if nsn == "" {
		return true
	}
	if len(nsn) < run {
		return strings.Count(nsn, nsn[:1]) == len(nsn)
	}
	tail := nsn[len(nsn)-run:]
	return strings.Count(tail, tail[:1]) == run
}
