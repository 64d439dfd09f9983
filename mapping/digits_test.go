package mapping

import (
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"
)

func TestDigits(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"ascii unchanged", "+971 50-123", "+971 50-123"},
		{"eastern arabic", "٠٥٠١٢٣٤٥٦٧", "0501234567"},
		{"persian", "۰۹۱۲۳۴۵۶۷۸۹", "09123456789"},
		{"devanagari", "०१२३४५६७८९", "0123456789"},
		{"fullwidth", "０１２３", "0123"},
		{"mixed with text", "شقة ١٢ / flat ۳", "شقة 12 / flat 3"},
		{"mathematical bold", "𝟎𝟗", "09"},
		{"superscript is not a decimal digit", "x²", "x²"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, Digits(tt.in))
		})
	}
}

// TestDigitRanges checks what digitValue relies on: every range of the Nd
// table starts at a zero and holds whole runs of ten.
func TestDigitRanges(t *testing.T) {
	check := func(lo, hi, stride uint32) {
		require.EqualValues(t, 1, stride, "range %#x-%#x", lo, hi)
		require.Zero(t, (hi-lo+1)%10, "range %#x-%#x", lo, hi)
	}
	for _, r := range unicode.Nd.R16 {
		check(uint32(r.Lo), uint32(r.Hi), uint32(r.Stride))
	}
	for _, r := range unicode.Nd.R32 {
		check(r.Lo, r.Hi, r.Stride)
	}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if unicode.IsDigit(r) {
			require.Len(t, Digits(string(r)), 1, "%U", r)
		}
	}
}

func FuzzDigits(f *testing.F) {
	for _, s := range []string{"٠٥٠١٢٣", "۰۹۱۲", "abc", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Digits(s)
		if out != Digits(out) {
			t.Fatalf("Digits not idempotent on %q", s)
		}
	})
}
