package mapping

import (
	"strings"
	"sync"

	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"
)

// countryAliases are names for countries other than the English short names
// in the countries table: everyday English, formal ISO forms, endonyms and
// Arabic and Persian names seen in the regions crmhub serves. Keys are
// compared after countryKey, so case, accents, punctuation, "the", "and",
// "of" and Arabic letter variants do not matter here.
var countryAliases = map[string]string{
	"UAE": "AE", "U.A.E.": "AE", "Emirates": "AE", "الإمارات": "AE", "الإمارات العربية المتحدة": "AE", "امارات": "AE",
	"KSA": "SA", "Saudi": "SA", "Kingdom of Saudi Arabia": "SA", "السعودية": "SA", "المملكة العربية السعودية": "SA", "عربستان": "SA",
	"UK": "GB", "U.K.": "GB", "Great Britain": "GB", "Britain": "GB", "England": "GB", "Scotland": "GB", "Wales": "GB",
	"Northern Ireland": "GB", "United Kingdom of Great Britain and Northern Ireland": "GB", "المملكة المتحدة": "GB", "بريطانيا": "GB", "انگلستان": "GB",
	"USA": "US", "U.S.A.": "US", "U.S.": "US", "United States of America": "US", "America": "US", "الولايات المتحدة": "US", "أمريكا": "US", "آمریکا": "US",
	"Deutschland": "DE", "ألمانيا": "DE", "آلمان": "DE",
	"Islamic Republic of Iran": "IR", "Iran, Islamic Republic of": "IR", "Persia": "IR", "إيران": "IR", "ایران": "IR",
	"Arab Republic of Egypt": "EG", "مصر": "EG",
	"Hashemite Kingdom of Jordan": "JO", "الأردن": "JO",
	"Maroc": "MA", "المغرب": "MA",
	"State of Qatar": "QA", "قطر": "QA",
	"State of Kuwait": "KW", "الكويت": "KW",
	"Kingdom of Bahrain": "BH", "البحرين": "BH",
	"Sultanate of Oman": "OM", "عمان": "OM", "سلطنة عمان": "OM",
	"Republic of Iraq": "IQ", "العراق": "IQ",
	"Lebanese Republic": "LB", "لبنان": "LB",
	"Syrian Arab Republic": "SY", "سوريا": "SY",
	"State of Palestine": "PS", "فلسطين": "PS",
	"اليمن": "YE", "ليبيا": "LY", "تونس": "TN", "الجزائر": "DZ", "Algérie": "DZ", "السودان": "SD",
	"Türkiye": "TR", "Turkiye": "TR", "تركيا": "TR", "ترکیه": "TR",
	"Holland": "NL", "Nederland": "NL", "België": "BE", "Belgique": "BE",
	"Österreich": "AT", "Schweiz": "CH", "Suisse": "CH", "Svizzera": "CH",
	"España": "ES", "Italia": "IT", "Sverige": "SE", "Norge": "NO", "Danmark": "DK", "Suomi": "FI", "Polska": "PL",
	"Czech Republic": "CZ", "Ivory Coast": "CI", "East Timor": "TL", "Cape Verde": "CV", "Swaziland": "SZ", "Macedonia": "MK",
	"Burma": "MM", "Russian Federation": "RU", "Korea": "KR", "Republic of Korea": "KR", "Korea, Republic of": "KR",
	"Viet Nam": "VN", "Lao People's Democratic Republic": "LA", "Vatican": "VA", "Holy See": "VA",
	"Tanzania, United Republic of": "TZ", "Bolivia, Plurinational State of": "BO", "Venezuela, Bolivarian Republic of": "VE",
	"Moldova, Republic of": "MD", "Brunei Darussalam": "BN", "Macau": "MO", "DR Congo": "CD", "DRC": "CD", "Congo": "CG",
	"Saint Helena": "SH", "پاکستان": "PK", "الهند": "IN", "هند": "IN", "افغانستان": "AF",
}

// NormalizeCountry returns the ISO 3166-1 alpha-2 code of a country given
// as an alpha-2, alpha-3 or numeric code ("ae", "ARE", "784"), an English
// name ("United Arab Emirates"), or a common other name ("UAE", "KSA", "UK",
// "Deutschland", "الإمارات", "ایران"). Withdrawn codes (YU, SU) and
// reserved ones that are not countries (EU, UK as a code) are resolved by
// name or rejected. Errors wrap crmhub.ErrInvalid.
func NormalizeCountry(s string) (string, error) {
	orig := s
	s = trimSpace(norm.NFKC.String(s))
	if s == "" {
		return "", invalid("country", orig, "empty")
	}
	if len(s) <= 3 {
		if r, err := language.ParseRegion(s); err == nil {
			if _, ok := countryIndex()[r.String()]; ok && r.IsCountry() {
				return r.String(), nil
			}
		}
	}
	if code, ok := countryIndex()[countryKey(s)]; ok {
		return code, nil
	}
	return "", invalid("country", orig, "not a known country code or name")
}

// countryIndex maps both alpha-2 codes (upper case) and name keys
// (countryKey, lower case or Arabic script, so they cannot collide with a
// code) to alpha-2 codes.
var countryIndex = sync.OnceValue(func() map[string]string {
	idx, _ := buildCountryIndex()
	return idx
})

// buildCountryIndex also returns the keys that named two countries, which
// TestCountryTable requires to be none.
func buildCountryIndex() (map[string]string, []string) {
	idx := make(map[string]string, 2*len(countries)+len(countryAliases))
	var clashes []string
	add := func(key, code string) {
		if prev, ok := idx[key]; ok && prev != code {
			clashes = append(clashes, key)
		}
		idx[key] = code
	}
	for _, c := range countries {
		idx[c.alpha2] = c.alpha2
		add(countryKey(c.name), c.alpha2)
	}
	for name, code := range countryAliases {
		add(countryKey(name), code)
	}
	return idx, clashes
}

// countryKey folds a country name for lookup: NameMatchKey without the
// spaces, the words "the", "and", "of", and with "st" read as "saint".
func countryKey(s string) string {
	s = strings.ReplaceAll(s, "&", " and ")
	var b strings.Builder
	for _, t := range strings.Fields(NameMatchKey(s)) {
		switch t {
		case "the", "and", "of":
			continue
		case "st":
			t = "saint"
		}
		b.WriteString(t)
	}
	return b.String()
}
