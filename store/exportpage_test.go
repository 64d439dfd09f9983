package store

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestAppendStoredTime: a time SQLite keeps as text becomes what
// json.Marshal writes for the same instant in UTC, whether it takes the
// text shortcut or is parsed.
func TestAppendStoredTime(t *testing.T) {
	for _, tc := range []struct {
		stored string
		want   time.Time // the zero time: nothing is written
	}{
		{"2026-11-22 18:50:20.825375528+00:00", time.Date(2026, 11, 22, 18, 50, 20, 825375528, time.UTC)},
		{"2026-01-01 00:00:00+00:00", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"2026-01-01 00:00:00.5+00:00", time.Date(2026, 1, 1, 0, 0, 0, 5e8, time.UTC)},
		{"2028-02-29 23:59:59.000000001+00:00", time.Date(2028, 2, 29, 23, 59, 59, 1, time.UTC)},
		// Not as crmhub writes them: parsed.
		{"2026-01-01 00:00:00.500+00:00", time.Date(2026, 1, 1, 0, 0, 0, 5e8, time.UTC)},
		{"2026-01-01 04:00:00.25+04:00", time.Date(2026, 1, 1, 0, 0, 0, 25e7, time.UTC)},
		{"2026-01-01T04:00:00Z", time.Date(2026, 1, 1, 4, 0, 0, 0, time.UTC)},
		{"0001-01-01 00:00:00+00:00", time.Time{}},
	} {
		t.Run(tc.stored, func(t *testing.T) {
			got, err := appendStoredTime([]byte("x"), tc.stored)
			require.NoError(t, err)
			want := "x"
			if !tc.want.IsZero() {
				j, err := json.Marshal(tc.want)
				require.NoError(t, err)
				want += strings.Trim(string(j), `"`)
			}
			require.Equal(t, want, string(got))
		})
	}
	for _, bad := range []string{"", "yesterday", "2026-13-01 00:00:00+00:00", "2026-02-29 00:00:00+00:00",
		"2026-01-01 24:00:00+00:00", "2026-01-01 00:00:00.+00:00"} {
		_, err := appendStoredTime(nil, bad)
		require.Error(t, err, "%q", bad)
	}
}

// TestAppendJSONString: strings are written as json.Marshal writes them,
// escapes included.
func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain-123", `quote " and \ back`, "<a&b>", "tab\there", "نادية", "\u2028", "bad \xff utf-8"} {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, string(want), string(appendJSONString(nil, s)), "%q", s)
	}
}
