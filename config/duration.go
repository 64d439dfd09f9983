package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Day and Week are the extra units Duration understands.
const (
	Day  = 24 * time.Hour
	Week = 7 * Day
)

// Duration is a time.Duration written the way people talk about sync
// windows: Go durations (15m, 1h30m, 90s) plus d for days and w for weeks
// (60d, 2w, 1d12h). Negative durations are rejected.
type Duration time.Duration

// ParseDuration parses s as a Duration. The CLI uses it for flags such as
// --since 60d.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty duration")
	}
	if s == "0" {
		return 0, nil
	}
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	// Split off the d and w parts, which time.ParseDuration does not know,
	// and hand everything else to it so its units and errors stay familiar.
	var days float64
	var rest strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && (s[j] == '.' || s[j] >= '0' && s[j] <= '9') {
			j++
		}
		if j == i {
			return 0, fmt.Errorf("%q is not a duration", s)
		}
		k := j
		for k < len(s) && (s[k] < '0' || s[k] > '9') && s[k] != '.' {
			k++
		}
		num, unit := s[i:j], s[j:k]
		switch unit {
		case "":
			return 0, fmt.Errorf("duration %q has no unit", s)
		case "d", "w":
			n, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("%q is not a duration", s)
			}
			if unit == "w" {
				n *= 7
			}
			days += n
		default:
			rest.WriteString(num + unit)
		}
		i = k
	}
	var d time.Duration
	if rest.Len() > 0 {
		var err error
		if d, err = time.ParseDuration(rest.String()); err != nil {
			return 0, fmt.Errorf("%q is not a duration", s)
		}
	}
	fromDays := days * float64(Day)
	if fromDays+float64(d) >= math.MaxInt64 {
		return 0, fmt.Errorf("duration %q is too long", s)
	}
	return Duration(time.Duration(fromDays) + d), nil
}

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d in the largest unit that divides it exactly (2w, 60d),
// otherwise like time.Duration without trailing zero units (1h30m, 15m).
func (d Duration) String() string {
	td := time.Duration(d)
	switch {
	case td == 0:
		return "0s"
	case td%Week == 0:
		return strconv.FormatInt(int64(td/Week), 10) + "w"
	case td%Day == 0:
		return strconv.FormatInt(int64(td/Day), 10) + "d"
	}
	s := td.String()
	// time.Duration prints 1h30m0s and 15m0s; the zero tails add nothing.
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// MarshalText implements encoding.TextMarshaler; it round-trips with
// UnmarshalText, so JSON, YAML and flag.TextVar all see "60d".
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Set implements pflag.Value and flag.Value, for flags such as --since.
func (d *Duration) Set(s string) error { return d.UnmarshalText([]byte(s)) }

// Type implements pflag.Value.
func (d *Duration) Type() string { return "duration" }

// UnmarshalYAML implements yaml.Unmarshaler. Errors are *yaml.TypeError so
// that decoding continues and every mistake in a file is reported at once.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, ps := parseDurationNode(n)
	if len(ps) > 0 {
		return ps.typeError()
	}
	*d = v
	return nil
}

// checkNode reports the problems UnmarshalYAML would hit, with hints.
func (*Duration) checkNode(n *yaml.Node) leafProblems {
	_, ps := parseDurationNode(n)
	return ps
}

func parseDurationNode(n *yaml.Node) (Duration, leafProblems) {
	if n.Kind != yaml.ScalarNode {
		return 0, leafProblems{{line: n.Line, msg: "want a duration, got " + describeNode(n), hint: durationHint}}
	}
	// Empty means unset, like null.
	if n.ShortTag() == "!!null" || n.Value == "" {
		return 0, nil
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return 0, leafProblems{{line: n.Line, msg: err.Error(), hint: durationHint}}
	}
	return v, nil
}

const durationHint = "write a number and a unit: 90s, 15m, 1h30m, 60d or 2w"
