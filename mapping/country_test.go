package mapping

import (
	"testing"

	"github.com/crmhub/crmhub"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/language"
)

func TestNormalizeCountry(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"alpha-2", "AE", "AE"},
		{"alpha-2 lower case", "ae", "AE"},
		{"alpha-3", "ARE", "AE"},
		{"alpha-3 lower case", "deu", "DE"},
		{"numeric", "784", "AE"},
		{"english name", "United Arab Emirates", "AE"},
		{"english name any case", "united arab emirates", "AE"},
		{"uae", "UAE", "AE"},
		{"u.a.e.", "U.A.E.", "AE"},
		{"emirates", "Emirates", "AE"},
		{"arabic emirates", "الإمارات العربية المتحدة", "AE"},
		{"arabic emirates without hamza", "الامارات", "AE"},
		{"germany", "Germany", "DE"},
		{"deutschland", "Deutschland", "DE"},
		{"iran", "Iran", "IR"},
		{"iran formal", "Iran, Islamic Republic of", "IR"},
		{"iran persian", "ایران", "IR"},
		{"saudi arabia", "Saudi Arabia", "SA"},
		{"ksa", "KSA", "SA"},
		{"saudi arabic", "المملكة العربية السعودية", "SA"},
		{"uk", "UK", "GB"},
		{"uk lower case", "uk", "GB"},
		{"great britain", "Great Britain", "GB"},
		{"united kingdom", "United Kingdom", "GB"},
		{"england", "England", "GB"},
		{"usa", "USA", "US"},
		{"u.s.a.", "U.S.A.", "US"},
		{"united states", "United States", "US"},
		{"the united states of america", "the United States of America", "US"},
		{"egypt", "Egypt", "EG"},
		{"egypt arabic", "مصر", "EG"},
		{"jordan", "Jordan", "JO"},
		{"jordan arabic", "الأردن", "JO"},
		{"morocco", "Morocco", "MA"},
		{"maroc", "Maroc", "MA"},
		{"accented name", "Côte d'Ivoire", "CI"},
		{"accent dropped", "Cote dIvoire", "CI"},
		{"ampersand", "Bosnia & Herzegovina", "BA"},
		{"saint abbreviated", "St. Lucia", "LC"},
		{"turkiye", "Türkiye", "TR"},
		{"netherlands with article", "The Netherlands", "NL"},
		{"surrounding spaces", "  Qatar \u00a0", "QA"},
		{"kosovo", "XK", "XK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeCountry(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestNormalizeCountryRejects(t *testing.T) {
	for _, in := range []string{"", "  ", "EU", "ZZ", "YU", "SU", "QO", "Atlantis", "U", "12", "999", "Dubai"} {
		t.Run(in, func(t *testing.T) {
			got, err := NormalizeCountry(in)
			require.Error(t, err)
			require.Empty(t, got)
			require.True(t, crmhub.IsPermanent(err))
		})
	}
}

// TestCountryTable checks the table against golang.org/x/text/language:
// alpha-3 codes agree, every current country is listed, and no name or
// alias points at two countries.
func TestCountryTable(t *testing.T) {
	listed := make(map[string]bool, len(countries))
	for _, c := range countries {
		require.False(t, listed[c.alpha2], "%s listed twice", c.alpha2)
		listed[c.alpha2] = true
		r, err := language.ParseRegion(c.alpha2)
		require.NoError(t, err, c.alpha2)
		require.True(t, r.IsCountry(), c.alpha2)
		require.Equal(t, c.alpha3, r.ISO3(), c.alpha2)
		require.NotEmpty(t, c.name, c.alpha2)
		got, err := NormalizeCountry(c.name)
		require.NoError(t, err, c.name)
		require.Equal(t, c.alpha2, got, c.name)
		got, err = NormalizeCountry(c.alpha3)
		require.NoError(t, err, c.alpha3)
		require.Equal(t, c.alpha2, got, c.alpha3)
	}
	require.Len(t, countries, 250) // 249 ISO 3166-1 entries and XK
	for code, want := range countryAliases {
		got, err := NormalizeCountry(code)
		require.NoError(t, err, code)
		require.Equal(t, want, got, code)
		require.True(t, listed[want], "alias %q points at unlisted %s", code, want)
	}
	_, clashes := buildCountryIndex()
	require.Empty(t, clashes)
}

func FuzzNormalizeCountry(f *testing.F) {
	for _, s := range []string{"AE", "are", "784", "UAE", "الإمارات", "St. Lucia", "\xff", "0", "U.S."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeCountry(s)
		if err != nil {
			if !crmhub.IsPermanent(err) {
				t.Fatalf("error not permanent: %v", err)
			}
			return
		}
		if again, err := NormalizeCountry(got); err != nil || again != got {
			t.Fatalf("NormalizeCountry(%q) = %q, then %q, %v", s, got, again, err)
		}
	})
}
