package config

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
)

// redacted replaces a non-empty Secret wherever it would be shown.
const redacted = "[REDACTED]"

// Secret is a credential read from the environment. Every way of printing
// it (fmt verbs, slog, JSON, YAML) shows "[REDACTED]" instead of the value,
// so a config or a connector struct can be logged without leaking it. An
// empty Secret prints as empty, which keeps "not configured" visible.
//
// Secret deliberately has no MarshalText: encoding.TextMarshaler is expected
// to round-trip through UnmarshalText, and a redacted value cannot. JSON and
// YAML have their own one-way marshalers below; decoding still reads a plain
// string.
type Secret string

// Reveal returns the secret's value. Call it only where the value is handed
// to the system that needs it (an HTTP header, a driver).
func (s Secret) Reveal() string { return string(s) }

// String returns "[REDACTED]", or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString returns a quoted "[REDACTED]" (or ""), so %#v output stays valid
// Go syntax without showing the value.
func (s Secret) GoString() string {
	if s == "" {
		return `""`
	}
	return `"` + redacted + `"`
}

// Format implements fmt.Formatter. String alone is not enough: fmt prints
// the raw value for verbs a Stringer does not cover, such as %d.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, s.GoString())
		return
	}
	_, _ = fmt.Fprintf(f, fmt.FormatString(f, verb), s.String())
}

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON implements json.Marshaler with the redacted form.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalYAML implements yaml.Marshaler with the redacted form.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }
