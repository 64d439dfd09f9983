package mapping

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStreetKey(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"street", "12 Marina Street", "12 marina st"},
		{"st dot", "12 Marina St.", "12 marina st"},
		{"road", "Sheikh Zayed Road", "sheikh zayed rd"},
		{"avenue", "5th Avenue", "5th ave"},
		{"boulevard", "Mohammed Bin Rashid Boulevard", "mohammed bin rashid blvd"},
		{"lane drive place court", "Lane Drive Place Court", "ln dr pl ct"},
		{"apartment", "Apartment 4, 12 Marina Walk", "apt 4 12 marina walk"},
		{"flat", "Flat 4", "apt 4"},
		{"apt dot", "Apt. 4", "apt 4"},
		{"hash number", "Villa #12", "villa no 12"},
		{"no dot", "Villa No. 12", "villa no 12"},
		{"number", "Villa Number 12", "villa no 12"},
		{"saint", "St. Mary's Road", "st marys rd"},
		{"saint spelled", "Saint Mary's Rd", "st marys rd"},
		{"german compound", "Hauptstraße 5", "hauptst 5"},
		{"german compound abbreviated", "Hauptstr. 5", "hauptst 5"},
		{"german separate", "Berliner Str. 5", "berliner st 5"},
		{"accents", "Rue de la Paix", "rue de la paix"},
		{"arabic street", "شارع الشيخ زايد", "st الشيخ زايد"},
		{"arabic eastern arabic digits", "شارع ١٢", "st 12"},
		{"persian street", "خیابان ولیعصر ۱۲", "st وليعصر 12"},
		{"article joined", "Al-Wasl Road", "alwasl rd"},
		{"punctuation", "12, Marina-Walk; Dubai", "12 marina walk dubai"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, StreetKey(tt.in))
		})
	}
	require.Equal(t, StreetKey("12 Marina Street, Apartment 4"), StreetKey("12 marina st. apt 4"))
	require.Equal(t, StreetKey("Hauptstraße 5"), StreetKey("HAUPTSTR. 5"))
}

func FuzzStreetKey(f *testing.F) {
	for _, s := range []string{"12 Marina St.", "Hauptstraße 5", "شارع ١٢", "#", "str", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := StreetKey(s)
		if StreetKey(k) != k {
			t.Fatalf("StreetKey not idempotent on %q: %q -> %q", s, k, StreetKey(k))
		}
	})
}
