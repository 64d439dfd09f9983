package mapping

import (
	"testing"
	"time"

	"github.com/crmhub/crmhub"
	"github.com/stretchr/testify/require"
)

func date(y int, m time.Month, d int) crmhub.Date { return crmhub.Date{Year: y, Month: m, Day: d} }

func TestParseDate(t *testing.T) {
	tests := []struct {
		name, in, layout string
		want             crmhub.Date
	}{
		{"iso", "1991-03-14", "", date(1991, 3, 14)},
		{"iso single digits", "1991-3-4", "", date(1991, 3, 4)},
		{"slashes year first", "1991/03/14", "", date(1991, 3, 14)},
		{"compact", "19910314", "", date(1991, 3, 14)},
		{"day first slashes", "14/03/1991", "", date(1991, 3, 14)},
		{"day first ambiguous is day first", "04/03/1991", "", date(1991, 3, 4)},
		{"day first single digits", "4/3/1991", "", date(1991, 3, 4)},
		{"day first dots", "14.03.1991", "", date(1991, 3, 14)},
		{"day first dashes", "14-03-1991", "", date(1991, 3, 14)},
		{"day month abbreviation", "14 Mar 1991", "", date(1991, 3, 14)},
		{"day month name", "14 March 1991", "", date(1991, 3, 14)},
		{"month name first", "March 14, 1991", "", date(1991, 3, 14)},
		{"month abbreviation first", "Mar 14, 1991", "", date(1991, 3, 14)},
		{"month name case", "14 MARCH 1991", "", date(1991, 3, 14)},
		{"rfc 3339 utc", "1991-03-14T00:00:00Z", "", date(1991, 3, 14)},
		{"rfc 3339 keeps its own offset", "1991-03-14T00:00:00+04:00", "", date(1991, 3, 14)},
		{"rfc 3339 fraction", "1991-03-14T23:30:00.000-05:00", "", date(1991, 3, 14)},
		{"meta offset", "1991-03-14T08:49:14+0000", "", date(1991, 3, 14)},
		{"sql timestamp", "1991-03-14 00:00:00", "", date(1991, 3, 14)},
		{"eastern arabic", "١٤/٠٣/١٩٩١", "", date(1991, 3, 14)},
		{"persian iso", "۱۹۹۱-۰۳-۱۴", "", date(1991, 3, 14)},
		{"spaces", "  1991-03-14\u00a0", "", date(1991, 3, 14)},
		{"leap day", "2024-02-29", "", date(2024, 2, 29)},
		{"layout compact", "19910314", "20060102", date(1991, 3, 14)},
		{"layout us month first", "03/14/1991", "01/02/2006", date(1991, 3, 14)},
		{"layout with eastern arabic digits", "٠٣/١٤/١٩٩١", "01/02/2006", date(1991, 3, 14)},
		{"solar hijri reads as gregorian", "۱۳۷۰/۱۲/۲۳", "", date(1370, 12, 23)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDate(tt.in, tt.layout)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParseDateRejects(t *testing.T) {
	tests := []struct {
		name, in, layout, reason string
	}{
		{"empty", "", "", "empty"},
		{"impossible day", "2023-02-29", "", "no such day"},
		{"day first impossible day", "31/04/2024", "", "no such day"},
		{"month 13", "14/13/1991", "", "no such day"},
		{"us month first without layout", "03/14/1991", "", "read day first"},
		{"two-digit year", "14/03/91", "", "unknown date format"},
		{"unix time", "668908800", "", "digits are not a date"},
		{"year zero", "0000-01-01", "", "not a calendar date"},
		{"text", "unknown", "", "unknown date format"},
		{"layout mismatch", "1991-03-14", "20060102", "does not match layout"},
		{"impossible with layout", "20230229", "20060102", "does not match layout"},
		{"trailing garbage", "1991-03-14x", "", "unknown date format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDate(tt.in, tt.layout)
			require.Error(t, err)
			require.True(t, crmhub.IsPermanent(err))
			require.Contains(t, err.Error(), tt.reason)
		})
	}
}

func TestValidBirthday(t *testing.T) {
	now := time.Date(2026, 5, 2, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		d    crmhub.Date
		want bool
	}{
		{"ordinary", date(1991, 3, 14), true},
		{"1900", date(1900, 1, 1), true},
		{"before 1900", date(1899, 12, 31), false},
		{"solar hijri year", date(1370, 12, 23), false},
		{"today", date(2026, 5, 2), true},
		{"tomorrow", date(2026, 5, 3), false},
		{"later this year", date(2026, 12, 1), false},
		{"next year", date(2027, 1, 1), false},
		{"earlier this month", date(2026, 5, 1), true},
		{"impossible", date(2023, 2, 29), false},
		{"zero", crmhub.Date{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, ValidBirthday(tt.d, now))
		})
	}
	// Today is the date in now's location: 2 May 22:00 UTC is 3 May in Dubai.
	dubai := time.FixedZone("GST", 4*3600)
	require.True(t, ValidBirthday(date(2026, 5, 3), time.Date(2026, 5, 2, 22, 0, 0, 0, time.UTC).In(dubai)))
}

func TestParseTimestamp(t *testing.T) {
	tests := []struct {
		name, in string
		want     time.Time
	}{
		{"rfc 3339 utc", "2015-02-28T08:49:14Z", time.Date(2015, 2, 28, 8, 49, 14, 0, time.UTC)},
		{"rfc 3339 offset", "2015-02-28T12:49:14+04:00", time.Date(2015, 2, 28, 8, 49, 14, 0, time.UTC)},
		{"rfc 3339 fraction", "2015-02-28T08:49:14.123456Z", time.Date(2015, 2, 28, 8, 49, 14, 123456000, time.UTC)},
		{"rfc 3339 lower case", "2015-02-28t08:49:14z", time.Date(2015, 2, 28, 8, 49, 14, 0, time.UTC)},
		{"meta", "2015-02-28T08:49:14+0000", time.Date(2015, 2, 28, 8, 49, 14, 0, time.UTC)},
		{"meta other offset", "2015-02-28T11:49:14+0300", time.Date(2015, 2, 28, 8, 49, 14, 0, time.UTC)},
		{"space and offset", "2015-02-28 08:49:14+00:00", time.Date(2015, 2, 28, 8, 49, 14, 0, time.UTC)},
		{"sql no zone is utc", "2015-02-28 08:49:14", time.Date(2015, 2, 28, 8, 49, 14, 0, time.UTC)},
		{"iso no zone is utc", "2015-02-28T08:49:14", time.Date(2015, 2, 28, 8, 49, 14, 0, time.UTC)},
		{"unix seconds", "1425113354", time.Date(2015, 2, 28, 8, 49, 14, 0, time.UTC)},
		{"unix milliseconds", "1425113354123", time.Date(2015, 2, 28, 8, 49, 14, 123000000, time.UTC)},
		{"unix zero", "0", time.Unix(0, 0).UTC()},
		{"eastern arabic unix", "١٤٢٥١١٣٣٥٤", time.Date(2015, 2, 28, 8, 49, 14, 0, time.UTC)},
		{"offset within year 9999", "9999-12-31T23:59:59+01:00", time.Date(9999, 12, 31, 22, 59, 59, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTimestamp(tt.in)
			require.NoError(t, err)
			require.True(t, tt.want.Equal(got), "got %v", got)
			require.Equal(t, time.UTC, got.Location())
		})
	}
}

func TestParseTimestampRejects(t *testing.T) {
	tests := []struct {
		name, in, reason string
	}{
		{"empty", "", "empty"},
		{"date only", "2015-02-28", "unknown format"},
		{"impossible", "2015-02-29T08:49:14Z", "unknown format"},
		{"hour 24", "2015-02-28T24:00:00Z", "unknown format"},
		{"negative unix", "-1", "unknown format"},
		{"fractional unix", "1425113354.5", "unknown format"},
		{"unix beyond year 9999", "253402300800000", "out of range"},
		{"overflow", "99999999999999999999", "out of range"},
		{"offset carries year 9999 past it", "9999-12-31T23:59:59-23:59", "out of range"},
		{"offset carries year 0000 before it", "0000-01-01T00:00:00+01:00", "out of range"},
		{"text", "yesterday", "unknown format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTimestamp(tt.in)
			require.Error(t, err)
			require.True(t, crmhub.IsPermanent(err))
			require.Contains(t, err.Error(), tt.reason)
		})
	}
}

func FuzzParseDate(f *testing.F) {
	for _, c := range [][2]string{
		{"1991-03-14", ""}, {"14/03/1991", ""}, {"١٤/٠٣/١٩٩١", ""}, {"19910314", "20060102"}, {"1991-03-14T00:00:00+04:00", ""},
		{"March 14, 1991", ""}, {"2023-02-29", ""}, {"9999-12-31T23:59:59Z", ""}, {"x", "Z07:00"},
	} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, s, layout string) {
		d, err := ParseDate(s, layout)
		if err != nil {
			if !crmhub.IsPermanent(err) {
				t.Fatalf("error not permanent: %v", err)
			}
			return
		}
		if !d.Valid() {
			t.Fatalf("ParseDate(%q, %q) = %v, not a calendar date", s, layout, d)
		}
		if again, err := ParseDate(d.String(), ""); err != nil || again != d {
			t.Fatalf("round trip of %v: %v, %v", d, again, err)
		}
	})
}

func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{
		"2015-02-28T08:49:14Z", "2015-02-28T08:49:14+0000", "2015-02-28 08:49:14", "1425113354", "1425113354123",
		"١٤٢٥١١٣٣٥٤", "2015-02-28T08:49:14.999999999-23:59",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := ParseTimestamp(s)
		if err != nil {
			if !crmhub.IsPermanent(err) {
				t.Fatalf("error not permanent: %v", err)
			}
			return
		}
		if ts.Location() != time.UTC {
			t.Fatalf("ParseTimestamp(%q) not in UTC", s)
		}
		if again, err := ParseTimestamp(ts.Format(time.RFC3339Nano)); err != nil || !again.Equal(ts) {
			t.Fatalf("round trip of %v: %v, %v", ts, again, err)
		}
	})
}
