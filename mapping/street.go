package mapping

import "strings"

// streetWords maps street-type words and their abbreviations, after the
// folding of NameMatchKey, to one abbreviation.
var streetWords = map[string]string{
	"street": "st", "st": "st", "str": "st", "strasse": "st", "saint": "st",
	"road": "rd", "rd": "rd",
	"avenue": "ave", "ave": "ave", "av": "ave",
	"boulevard": "blvd", "blvd": "blvd",
	"lane": "ln", "ln": "ln",
	"drive": "dr", "dr": "dr",
	"place": "pl", "pl": "pl",
	"court": "ct", "ct": "ct",
	"apartment": "apt", "apt": "apt", "flat": "apt", "unit": "apt",
	"suite": "ste", "ste": "ste",
	"building": "bldg", "bldg": "bldg",
	"floor": "fl", "fl": "fl",
	"number": "no", "no": "no", "nr": "no", "num": "no",
	"شارع": "st", "خيابان": "st", // خیابان after yeh folding
	"طريق": "rd", "شقه": "apt", "مبني": "bldg", "طابق": "fl",
}

// StreetKey returns the key under which identity resolution compares street
// lines. It is only for matching; store the line as the source sent it.
//
// It folds like NameMatchKey (case, accents, Arabic letter variants, Unicode
// digits), reads "#" as "no", turns punctuation into spaces, and reduces
// street-type words to one abbreviation: Street, St., Str., Straße and
// شارع → st (Saint too, so St. Mary's Road and Saint Mary's Rd agree), Road
// → rd, Avenue → ave, Boulevard → blvd, Lane → ln, Drive → dr, Place → pl,
// Court → ct, Apartment, Apt, Flat and Unit → apt, Number, No. and # → no.
// German compounds ending in -straße or -str. end in -st.
func StreetKey(s string) string {
	tokens := strings.Fields(NameMatchKey(strings.ReplaceAll(s, "#", " no ")))
	for i, t := range tokens {
		if w, ok := streetWords[t]; ok {
			tokens[i] = w
			continue
		}
		for _, suffix := range []string{"strasse", "str"} {
			if base, ok := strings.CutSuffix(t, suffix); ok && len(base) >= 3 && isLatinWord(base) {
				tokens[i] = base + "st"
				break
			}
		}
	}
	return strings.Join(tokens, " ")
}
