package mapping

import (
	"fmt"
	"unicode/utf8"

	"github.com/crmhub/crmhub"
)

// maxShown is how many runes of an offending value an error message shows:
// enough to recognise the shape of the mistake, not a whole address or name.
const maxShown = 12

// invalid returns an error that wraps crmhub.ErrInvalid and says what kind of
// value was wrong, shows it abbreviated, and why it was rejected.
func invalid(kind, value, reason string) error {
	return fmt.Errorf("%s %s: %s: %w", kind, abbrev(value), reason, crmhub.ErrInvalid)
}

// abbrev quotes s, cut to maxShown runes, with the full length when cut.
// Quoting makes invisible and control characters visible in the message.
func abbrev(s string) string {
	n := utf8.RuneCountInString(s)
	if n <= maxShown {
		return fmt.Sprintf("%q", s)
	}
	i, cut := 0, 0
	for j := range s {
		if i == maxShown {
			cut = j
			break
		}
		i++
	}
	return fmt.Sprintf("%q… (%d chars)", s[:cut], n)
}
