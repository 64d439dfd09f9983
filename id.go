package crmhub

import (
	"strings"

	"github.com/oklog/ulid/v2"
)

// Prefixes of the identifiers crmhub assigns. An identifier is the prefix,
// an underscore and a ULID, so ids sort by creation time and say what they
// name.
const (
	CustomerIDPrefix = "cus"
	OrderIDPrefix    = "ord"
	EventIDPrefix    = "evt"
	MergeIDPrefix    = "mrg"
	TokenIDPrefix    = "tok"
	SplitIDPrefix    = "spl"
	PrivacyIDPrefix  = "prv"
)

// NewID returns a new identifier with the given prefix, such as
// "cus_01J9Z3K4T5...". It is safe for concurrent use. Ids sort by creation
// time to the millisecond; they are never reused.
func NewID(prefix string) string {
	return prefix + "_" + ulid.Make().String()
}

// HasIDPrefix reports whether id was made by NewID with prefix.
func HasIDPrefix(id, prefix string) bool {
	rest, ok := strings.CutPrefix(id, prefix+"_")
	if !ok {
		return false
	}
	_, err := ulid.ParseStrict(rest)
	return err == nil
}
