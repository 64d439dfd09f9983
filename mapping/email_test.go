package mapping

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/crmhub/crmhub"
	"github.com/stretchr/testify/require"
)

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "sara@example.com", "sara@example.com"},
		{"upper case", "Sara.Al-Amiri@Example.COM", "sara.al-amiri@example.com"},
		{"surrounding spaces", "  sara@example.com\t\n", "sara@example.com"},
		{"no-break and ideographic space", "\u00a0sara@example.com\u3000", "sara@example.com"},
		{"zero-width and bidi marks", "\u200fsara@exa\u200bmple.com\ufeff", "sara@example.com"},
		{"mailto", "mailto:sara@example.com", "sara@example.com"},
		{"mailto upper with query", "MAILTO:Sara@Example.com?subject=Hi", "sara@example.com"},
		{"angle brackets", "<sara@example.com>", "sara@example.com"},
		{"idn domain", "info@müller.de", "info@xn--mller-kva.de"},
		{"idn upper case", "INFO@MÜLLER.DE", "info@xn--mller-kva.de"},
		{"arabic domain", "info@مثال.السعودية", "info@xn--mgbh0fb.xn--mgberp4a5d4ar"},
		{"punycode kept", "info@xn--mller-kva.de", "info@xn--mller-kva.de"},
		{"fullwidth at and dot", "sara＠example．com", "sara@example.com"},
		{"trailing root dot", "sara@example.com.", "sara@example.com"},
		{"plus tag kept", "sara+shop@example.com", "sara+shop@example.com"},
		{"gmail dots kept", "s.a.r.a@gmail.com", "s.a.r.a@gmail.com"},
		{"atext symbols", "o'brien_{x}@example.co.uk", "o'brien_{x}@example.co.uk"},
		{"utf-8 local part", "Ünal@example.com", "ünal@example.com"},
		{"subdomain", "a@mail.example.ae", "a@mail.example.ae"},
		{"64 byte local part", strings.Repeat("a", 64) + "@example.com", strings.Repeat("a", 64) + "@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeEmail(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestNormalizeEmailRejects(t *testing.T) {
	tests := []struct {
		name, in, reason string
	}{
		{"empty", "", "empty"},
		{"only spaces", " \u200b ", "empty"},
		{"no at", "sara.example.com", "no @"},
		{"two at", "sara@x@example.com", "more than one @"},
		{"display name", "Sara <sara@example.com>", "white space"},
		{"quoted display name", `"Sara" <sara@example.com>`, "white space"},
		{"space inside", "sara al@example.com", "white space"},
		{"empty local part", "@example.com", "empty local part"},
		{"65 byte local part", strings.Repeat("a", 65) + "@example.com", "longer than 64"},
		{"leading dot", ".sara@example.com", "misplaced dot"},
		{"double dot", "sa..ra@example.com", "misplaced dot"},
		{"quoted local part", `"sara"@example.com`, "not allowed"},
		{"comma", "sara,ali@example.com", "not allowed"},
		{"no domain", "sara@", "empty domain"},
		{"no dot in domain", "sara@localhost", "no dot"},
		{"empty label", "sara@example..com", "empty or over-long label"},
		{"underscore in domain", "sara@ex_ample.com", "not a valid host name"},
		{"leading hyphen label", "sara@-example.com", "not a valid host name"},
		{"ip address", "sara@10.0.0.1", "IP address"},
		{"domain literal", "sara@[10.0.0.1]", "not a valid host name"},
		{"long label", "sara@" + strings.Repeat("a", 64) + ".com", "over-long label"},
		{"invalid utf-8", "sa\xffra@example.com", "not UTF-8"},
		{"placeholder text", "n/a", "no @"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeEmail(tt.in)
			require.Error(t, err)
			require.Empty(t, got)
			require.ErrorIs(t, err, crmhub.ErrInvalid)
			require.True(t, crmhub.IsPermanent(err))
			require.Contains(t, err.Error(), tt.reason)
		})
	}
}

func TestInvalidAbbreviatesValue(t *testing.T) {
	_, err := NormalizeEmail("sara.al-amiri.private@example")
	require.Error(t, err)
	require.Equal(t, `email "sara.al-amir"… (29 chars): domain has no dot: invalid`, err.Error())
	require.NotContains(t, err.Error(), "private")
}

func TestEmailMatchKey(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "sara@example.com", "sara@example.com"},
		{"plus tag dropped", "sara+shop@example.com", "sara@example.com"},
		{"dots kept outside gmail", "sara.ali@example.com", "sara.ali@example.com"},
		{"gmail dots folded", "s.ara.ali@gmail.com", "saraali@gmail.com"},
		{"gmail dots and tag", "sara.ali+promo@gmail.com", "saraali@gmail.com"},
		{"googlemail", "sara.ali@googlemail.com", "saraali@gmail.com"},
		{"gmail subdomain is not gmail", "sara.ali@mail.gmail.com", "sara.ali@mail.gmail.com"},
		{"leading plus kept", "+sara@example.com", "+sara@example.com"},
		{"not an address", "sara", "sara"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, EmailMatchKey(tt.in))
		})
	}
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{
		"sara@example.com", "info@müller.de", "mailto:<a@b.c>?x", "<@>", "a@b@c", "\u200f@.", "x@xn--", "a@[::1]",
		"\"a b\"@c.d", "a@" + strings.Repeat("é.", 100) + "com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeEmail(s)
		if err != nil {
			if !crmhub.IsPermanent(err) {
				t.Fatalf("error not permanent: %v", err)
			}
			return
		}
		if !utf8.ValidString(got) || strings.Count(got, "@") != 1 || strings.ContainsAny(got, " \t\r\n") {
			t.Fatalf("NormalizeEmail(%q) = %q", s, got)
		}
		again, err := NormalizeEmail(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, got, again, err)
		}
		key := EmailMatchKey(got)
		if EmailMatchKey(key) != key {
			t.Fatalf("match key not stable: %q", got)
		}
	})
}
