package mapping

import (
	"strings"
	"unicode"
)

// Digits returns s with every Unicode decimal digit (category Nd: Eastern
// Arabic ٠–٩, Persian ۰–۹, Devanagari, fullwidth ０–９, …) replaced by its
// ASCII digit. Other characters are kept as they are. Phone numbers, postal
// codes and dates typed on Arabic and Persian keyboards go through it.
func Digits(s string) string {
	if !strings.ContainsFunc(s, isNonASCIIDigit) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if isNonASCIIDigit(r) {
			b.WriteByte('0' + byte(digitValue(r)))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isNonASCIIDigit(r rune) bool { return r > unicode.MaxASCII && unicode.IsDigit(r) }

// digitValue returns the value of a decimal digit r. Unicode encodes the Nd
// digits of every script as runs of ten, 0 to 9 in order, and the Nd range
// table merges adjacent runs, so the offset into a range modulo ten is the
// value. TestDigitRanges checks that assumption against the table.
func digitValue(r rune) int {
	for _, rg := range unicode.Nd.R16 {
		if r >= rune(rg.Lo) && r <= rune(rg.Hi) {
			return int(r-rune(rg.Lo)) % 10
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if r >= rune(rg.Lo) && r <= rune(rg.Hi) {
			return int(r-rune(rg.Lo)) % 10
		}
	}
	return -1
}
