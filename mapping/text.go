package mapping

import (
	"strings"
	"unicode"
)

// isInvisible reports whether r is a format character that renders as
// nothing: zero-width space and (non-)joiners, bidi marks and embeddings,
// word joiner, BOM, soft hyphen. Copy-paste from chat apps, spreadsheets and
// right-to-left text leaves them in values, where they break equality.
func isInvisible(r rune) bool {
	switch {
	case r >= 0x200B && r <= 0x200F, // ZWSP, ZWNJ, ZWJ, LRM, RLM
		r >= 0x202A && r <= 0x202E, // bidi embeddings and overrides
		r >= 0x2060 && r <= 0x2064, // word joiner, invisible operators
		r >= 0x2066 && r <= 0x2069, // bidi isolates
		r == 0xFEFF, r == 0x00AD, r == 0x061C, r == 0x180E:
		return true
	}
	return false
}

// isSpaceOrInvisible reports whether r is white space (including no-break
// and other Unicode spaces) or invisible.
func isSpaceOrInvisible(r rune) bool { return unicode.IsSpace(r) || isInvisible(r) }

// trimSpace trims white space and invisible characters from both ends.
func trimSpace(s string) string { return strings.TrimFunc(s, isSpaceOrInvisible) }

// dropInvisible removes every invisible character.
func dropInvisible(s string) string {
	if strings.IndexFunc(s, isInvisible) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isInvisible(r) {
			return -1
		}
		return r
	}, s)
}

// cutPrefixFold reports whether s starts with prefix, ignoring ASCII case,
// and returns the rest.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}
