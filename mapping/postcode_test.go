package mapping

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNormalizePostcode(t *testing.T) {
	tests := []struct {
		name, in, country, want string
	}{
		{"uk compact lower case", "sw1a1aa", "GB", "SW1A 1AA"},
		{"uk spaced", "SW1A 1AA", "GB", "SW1A 1AA"},
		{"uk extra spaces", " sw1a   1aa ", "GB", "SW1A 1AA"},
		{"uk short", "m11ae", "GB", "M1 1AE"},
		{"uk girobank", "gir0aa", "GB", "GIR 0AA"},
		{"uk not a postcode left alone", "sw1a", "GB", "SW1A"},
		{"canada", "k1a0b1", "CA", "K1A 0B1"},
		{"netherlands", "1012ab", "NL", "1012 AB"},
		{"netherlands prefix", "NL-1012 AB", "NL", "1012 AB"},
		{"ireland eircode", "d02x285", "IE", "D02 X285"},
		{"sweden", "11455", "SE", "114 55"},
		{"sweden prefix", "S-114 55", "SE", "114 55"},
		{"us zip", "02134", "US", "02134"},
		{"us zip+4 compact", "021341234", "US", "02134-1234"},
		{"us zip+4", "02134-1234", "US", "02134-1234"},
		{"poland", "00950", "PL", "00-950"},
		{"germany leading zero", "01067", "DE", "01067"},
		{"germany vehicle prefix", "D-80331", "DE", "80331"},
		{"germany alpha-2 prefix", "DE-80331", "DE", "80331"},
		{"germany prefix with space", "D 80331", "DE", "80331"},
		{"austria prefix", "A-1010", "AT", "1010"},
		{"prefix of another country kept", "D-80331", "AT", "D-80331"},
		{"saudi eastern arabic", "١٢٢٧١", "SA", "12271"},
		{"iran persian", "۱۵۸۷۶-۷۳۱۱۱", "IR", "15876-73111"},
		{"fullwidth", "１０００１", "JP", "10001"},
		{"lower-case country", "sw1a1aa", "gb", "SW1A 1AA"},
		{"no country", " ab1 2cd ", "", "AB1 2CD"},
		{"invisible characters", "\u200e12271\u200f", "SA", "12271"},
		{"empty", "", "AE", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, NormalizePostcode(tt.in, tt.country))
		})
	}
}

func FuzzNormalizePostcode(f *testing.F) {
	for _, c := range [][2]string{{"sw1a1aa", "GB"}, {"D-80331", "DE"}, {"١٢٢٧١", "SA"}, {"D-", "DE"}, {"NL-", "NL"}, {"-", ""}} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, s, country string) {
		got := NormalizePostcode(s, country)
		if strings.Contains(got, "  ") || strings.TrimSpace(got) != got {
			t.Fatalf("NormalizePostcode(%q, %q) = %q", s, country, got)
		}
	})
}
