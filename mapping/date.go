package mapping

import (
	"strconv"
	"strings"
	"time"

	"github.com/crmhub/crmhub"
)

// dateLayouts are the layouts ParseDate tries when no layout is given, in
// this order. Numeric dates are read day first, as written in the Gulf,
// Levant, North Africa, Iran, Europe and the UK; month-first US dates need
// an explicit layout ("01/02/2006"). Single-digit days and months are
// accepted ("2" and "1" also read "02" and "01").
var dateLayouts = []string{
	"2006-1-2",
	"2006/1/2",
	"20060102",
	"2/1/2006",
	"2.1.2006",
	"2-1-2006",
	"2 Jan 2006",
	"2 January 2006",
	"Jan 2, 2006",
	"January 2, 2006",
	"Jan 2 2006",
	"January 2 2006",
}

// ParseDate parses a calendar date such as a birthday.
//
// With a layout (Go reference-time syntax, "20060102" or "01/02/2006"), s
// must match it. Without one, ParseDate tries in order: 2006-01-02,
// 2006/01/02, 20060102, 02/01/2006, 02.01.2006 and 02-01-2006 (day first),
// 2 Jan 2006, 2 January 2006, Jan 2, 2006 and January 2, 2006, and finally
// the timestamps ParseTimestamp reads that begin with a date (RFC 3339 and
// the like), whose date is taken in the timestamp's own offset: a birthday
// sent as 1991-03-14T00:00:00+04:00 is 14 March, not the 13th in UTC.
// Unix-time digits are not dates.
//
// Eastern Arabic and Persian digits are read as ASCII digits. The calendar
// is always Gregorian: a Solar Hijri date such as ۱۳۷۰/۱۲/۲۳ parses as the
// year 1370, which ValidBirthday rejects. Impossible dates (2023-02-29) are
// rejected. Errors wrap crmhub.ErrInvalid.
func ParseDate(s, layout string) (crmhub.Date, error) {
	orig := s
	s = Digits(trimSpace(s))
	if s == "" {
		return crmhub.Date{}, invalid("date", orig, "empty")
	}
	if layout != "" {
		t, err := time.Parse(layout, s)
		if err != nil {
			return crmhub.Date{}, invalid("date", orig, "does not match layout "+strconv.Quote(layout))
		}
		return checkDate(orig, crmhub.DateOf(t))
	}
	outOfRange := false
	for _, l := range dateLayouts {
		t, err := time.Parse(l, s)
		if err == nil {
			return checkDate(orig, crmhub.DateOf(t))
		}
		// The shape matched but the day or month does not exist (2023-02-29).
		outOfRange = outOfRange || strings.Contains(err.Error(), "out of range")
	}
	if len(s) > len("2006-01-02") && (s[10] == 'T' || s[10] == 't' || s[10] == ' ') {
		if t, ok := parseZoned(s); ok {
			return checkDate(orig, crmhub.DateOf(t))
		}
	}
	if outOfRange {
		return crmhub.Date{}, invalid("date", orig, "no such day (numeric dates are read day first)")
	}
	if _, err := strconv.Atoi(s); err == nil {
		return crmhub.Date{}, invalid("date", orig, "digits are not a date (want YYYYMMDD)")
	}
	return crmhub.Date{}, invalid("date", orig, "unknown date format (want YYYY-MM-DD or DD/MM/YYYY)")
}

// checkDate rejects year 0 and earlier, which a Date cannot hold as valid.
func checkDate(orig string, d crmhub.Date) (crmhub.Date, error) {
	if !d.Valid() {
		return crmhub.Date{}, invalid("date", orig, "not a calendar date")
	}
	return d, nil
}

// ValidBirthday reports whether d is plausible as a date of birth at now: a
// real calendar date, in 1900 or later, and not after today in now's
// location. A birthday today is valid. ParseDate does not apply these
// checks because it also reads order and consent dates.
func ValidBirthday(d crmhub.Date, now time.Time) bool {
	if !d.Valid() || d.Year < 1900 {
		return false
	}
	today := crmhub.DateOf(now)
	if d.Year != today.Year {
		return d.Year < today.Year
	}
	if d.Month != today.Month {
		return d.Month < today.Month
	}
	return d.Day <= today.Day
}

// zonedLayouts are the timestamp layouts with a date and time of day, in the
// order ParseTimestamp tries them. Layouts without an offset are UTC.
var zonedLayouts = []string{
	time.RFC3339, // parsing accepts fractional seconds without saying so
	"2006-01-02T15:04:05Z0700",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05Z0700",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
}

// parseZoned parses s with zonedLayouts, keeping the offset s was written
// in.
func parseZoned(s string) (time.Time, bool) {
	// Go's parser wants upper-case T and Z; RFC 3339 allows lower case.
	s = strings.ToUpper(s)
	for _, l := range zonedLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// Bounds for reading a run of digits as Unix time. Below unixMillisFrom the
// value is seconds (up to the year 5138); from it on, milliseconds (from
// March 1973). Milliseconds before 1973 are therefore misread as seconds.
const (
	unixMillisFrom = 100_000_000_000
	maxUnixMillis  = 253_402_300_799_999 // 9999-12-31T23:59:59.999Z
)

// ParseTimestamp parses a point in time and returns it in UTC. It accepts,
// in this order: RFC 3339 with or without fractional seconds
// (2015-02-28T08:49:14Z, 2015-02-28T08:49:14.123+04:00); Meta's offset
// without a colon (2015-02-28T08:49:14+0000); the same with a space for the
// T; 2006-01-02T15:04:05 and 2006-01-02 15:04:05 without an offset, read as
// UTC; and Unix time as digits, seconds or milliseconds told apart by size
// (values from 1e11 are milliseconds). The time in UTC must fall in the
// years 0000 to 9999, the ones RFC 3339 can write. Errors wrap
// crmhub.ErrInvalid.
func ParseTimestamp(s string) (time.Time, error) {
	orig := s
	s = Digits(trimSpace(s))
	if s == "" {
		return time.Time{}, invalid("timestamp", orig, "empty")
	}
	if t, ok := parseZoned(s); ok {
		// An offset can carry a time written in the year 9999 or 0000 into
		// the year 10000 or -1 in UTC (9999-12-31T23:59:59-23:59). RFC 3339,
		// the form timestamps are stored and passed on in, has no such
		// years and they do not parse back, so they are refused as Unix
		// time beyond 9999 is.
		if y := t.UTC().Year(); y < 0 || y > 9999 {
			return time.Time{}, invalid("timestamp", orig, "out of range: not in the years 0000 to 9999 in UTC")
		}
		return t.UTC(), nil
	}
	if isASCIIDigits(s) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n > maxUnixMillis {
			return time.Time{}, invalid("timestamp", orig, "unix time out of range")
		}
		if n < unixMillisFrom {
			return time.Unix(n, 0).UTC(), nil
		}
		return time.UnixMilli(n).UTC(), nil
	}
	return time.Time{}, invalid("timestamp", orig, "unknown format (want RFC 3339 or unix time)")
}

func isASCIIDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
