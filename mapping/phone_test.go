package mapping

import (
	"strings"
	"testing"

	"github.com/crmhub/crmhub"
	"github.com/stretchr/testify/require"
)

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		name, in, region, want string
	}{
		{"uae international", "+971 50 123 4567", "", "+971501234567"},
		{"uae national", "050 123 4567", "AE", "+971501234567"},
		{"uae eastern arabic", "٠٥٠١٢٣٤٥٦٧", "AE", "+971501234567"},
		{"uae eastern arabic with plus", "+٩٧١ ٥٠ ١٢٣ ٤٥٦٧", "", "+971501234567"},
		{"uae with bidi marks", "\u200e+971 50 123 4567\u200f", "", "+971501234567"},
		{"iran persian", "۰۹۱۲۳۴۵۶۷۸۹", "IR", "+989123456789"},
		{"iran persian international", "+۹۸ ۹۱۲ ۳۴۵ ۶۷۸۹", "", "+989123456789"},
		{"germany 00 prefix", "00 49 151 12345678", "", "+4915112345678"},
		{"germany 00 prefix with other region", "0049 151 12345678", "AE", "+4915112345678"},
		{"germany national", "0151 12345678", "DE", "+4915112345678"},
		{"uk mobile", "07911 123456", "GB", "+447911123456"},
		{"uk london with trunk in brackets", "+44 (0)20 7946 0018", "", "+442079460018"},
		{"uk dotted", "020.7946.0018", "GB", "+442079460018"},
		{"us dashes", "(201) 555-0123", "US", "+12015550123"},
		{"us with 1", "1-201-555-0123", "US", "+12015550123"},
		{"us idd from us", "011 971 50 123 4567", "US", "+971501234567"},
		{"egypt mobile", "010 1234 5678", "EG", "+201012345678"},
		{"egypt international", "+20 10 1234 5678", "", "+201012345678"},
		{"saudi mobile", "050 123 4567", "SA", "+966501234567"},
		{"saudi international", "+966-50-123-4567", "", "+966501234567"},
		{"tel uri", "tel:+971-50-123-4567", "", "+971501234567"},
		{"lower-case region", "0501234567", "ae", "+971501234567"},
		{"fullwidth", "＋９７１ ５０ １２３ ４５６７", "", "+971501234567"},
		{"en dash", "050–123–4567", "AE", "+971501234567"},
		{"number from another country with region", "+44 7911 123456", "AE", "+447911123456"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizePhone(tt.in, tt.region)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestNormalizePhoneRejects(t *testing.T) {
	tests := []struct {
		name, in, region, reason string
	}{
		{"empty", "", "AE", "empty"},
		{"no country code without region", "050 123 4567", "", "no country code"},
		{"letters", "1-800-FLOWERS", "US", "letters"},
		{"extension", "+1 201 555 0123 ext 12", "", "letters"},
		{"arabic letters", "رقم ٠٥٠١٢٣٤٥٦٧", "AE", "letters"},
		{"placeholder zeros", "0000000", "AE", ""},
		{"placeholder all same", "1111111111", "US", ""},
		{"placeholder subscriber", "+971 50 000 0000", "", "placeholder"},
		{"placeholder nines", "+44 7999 999999", "", "placeholder"},
		{"too short", "+971 50 12", "", "not a valid number"},
		{"unassigned range", "+1 000 555 0123", "", ""},
		{"plus in the middle", "050+1234567", "AE", "+ not at the start"},
		{"double plus", "++971501234567", "", "+ not at the start"},
		{"only punctuation", "( ) - .", "AE", "no digits"},
		{"symbol", "050*1234567", "AE", "not allowed"},
		{"unknown region", "0501234567", "XX", "not a country"},
		{"region that is not a country", "0501234567", "EU", "not a country"},
		{"too long", strings.Repeat("1", 129), "US", "too long"},
		{"email", "sara@example.com", "AE", "letters"},
		{"more than 15 digits", "004921000000000001", "", "15 digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizePhone(tt.in, tt.region)
			require.Error(t, err)
			require.Empty(t, got)
			require.True(t, crmhub.IsPermanent(err))
			require.Contains(t, err.Error(), tt.reason)
		})
	}
}

func TestIsPhoneRegion(t *testing.T) {
	require.True(t, IsPhoneRegion("AE"))
	require.True(t, IsPhoneRegion("IR"))
	require.False(t, IsPhoneRegion("ae"))
	require.False(t, IsPhoneRegion("XX"))
	require.False(t, IsPhoneRegion(""))
}

func FuzzNormalizePhone(f *testing.F) {
	for _, c := range [][2]string{
		{"+971 50 123 4567", ""}, {"٠٥٠١٢٣٤٥٦٧", "AE"}, {"۰۹۱۲۳۴۵۶۷۸۹", "IR"}, {"00 49 151 12345678", ""},
		{"tel:+1-201-555-0123", "US"}, {"+", ""}, {"00", "GB"}, {"+44 (0)", "GB"}, {"0", "ZZ"}, {"+1 ()()", ""},
		{"004921000000000001", ""},
	} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, s, region string) {
		got, err := NormalizePhone(s, region)
		if err != nil {
			if !crmhub.IsPermanent(err) {
				t.Fatalf("error not permanent: %v", err)
			}
			return
		}
		if len(got) < 8 || len(got) > 16 || got[0] != '+' || !isASCIIDigits(got[1:]) {
			t.Fatalf("NormalizePhone(%q, %q) = %q, not E.164", s, region, got)
		}
		again, err := NormalizePhone(got, "")
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, got, again, err)
		}
	})
}
