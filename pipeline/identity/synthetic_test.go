package identity

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// synthetic returns records of n people as several shops and systems would
// hold them: the same person in up to four sources with typing mistakes,
// swapped name fields, transliterated and Arabic-script names, Eastern
// Arabic digits, missing fields; families sharing an email; and a
// placeholder email typed for many different people.
func synthetic(seed uint64, n int) []Record {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	firsts := []string{"Sara", "Mohammed", "Youssef", "Fatima", "Omar", "Layla", "Reza", "Maryam", "John", "Emma",
		"Ali", "Noor", "Hassan", "Zahra", "Lucas", "Mia", "Karim", "Amira", "Daniel", "Sofia"}
	lasts := []string{"Al Amiri", "Hosseini", "Haddad", "Karimi", "Smith", "Nasser", "Rahimi", "Khalil", "Brown",
		"Mansour", "Tehrani", "Saleh", "Jones", "Farouk", "Ahmadi"}
	variants := map[string]string{"Mohammed": "Muhammad", "Youssef": "Yusuf", "Al Amiri": "Al-Amiri",
		"Fatima": "Fatimah", "Hosseini": "Husseini", "Maryam": "Mariam"}
	arabic := map[string]string{"Sara": "سارة", "Omar": "عمر", "Layla": "ليلى", "Mohammed": "محمد"}
	cities := []string{"Dubai", "Abu Dhabi", "Tehran", "Riyadh", "London", "Sydney"}
	sources := []string{"shop", "erp", "leads", "legacy"}
	var out []Record
	typo := func(s string) string {
		r := []rune(s)
		if len(r) < 4 {
			return s
		}
		i := 1 + rng.IntN(len(r)-2)
		r[i], r[i+1] = r[i+1], r[i]
		return string(r)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for p := range n {
		first, last := firsts[rng.IntN(len(firsts))], lasts[rng.IntN(len(lasts))]
		dob := fmt.Sprintf("%d-%02d-%02d", 1950+rng.IntN(55), 1+rng.IntN(12), 1+rng.IntN(28))
		local := strings.ToLower(strings.ReplaceAll(first+"."+last, " ", "")) + fmt.Sprint(p)
		email := local + "@example.com"
		phone := fmt.Sprintf("+97150%07d", 1000000+p*7919%8999999)
		city := cities[rng.IntN(len(cities))]
		copies := 1 + rng.IntN(4)
		for c := range copies {
			f := map[string][]string{}
			fn, ln := first, last
			switch rng.IntN(6) {
			case 0:
				fn = typo(fn)
			case 1:
				if v, ok := variants[fn]; ok {
					fn = v
				} else if v, ok := variants[ln]; ok {
					ln = v
				}
			case 2:
				fn, ln = ln, fn
			case 3:
				if v, ok := arabic[fn]; ok {
					fn = v
				}
			}
			f["first_name"] = []string{fn}
			f["last_name"] = []string{ln}
			if rng.IntN(5) > 0 {
				f["birthday"] = []string{dob}
			}
			switch rng.IntN(4) {
			case 0:
				f["emails"] = []string{email}
			case 1:
				f["phones"] = []string{phone}
			case 2:
				f["emails"], f["phones"] = []string{email}, []string{phone}
			}
			if rng.IntN(3) > 0 {
				f["address.city"] = []string{city}
			}
			if p%17 == 0 {
				f["emails"] = []string{"test@test.com"} // a placeholder typed at the till
			}
			if p%23 == 1 && c == 0 {
				f["emails"] = []string{fmt.Sprintf("family%d@example.com", p/23)} // shared with p-1's family
			}
			out = append(out, Record{Source: sources[c], SourceType: "test", ExternalID: fmt.Sprintf("%s-%d", sources[c], p),
				Fields: f, At: at.Add(time.Duration(p*10+c) * time.Minute)})
		}
		if p%23 == 0 {
			// A family member with the same email and surname, a
			// different first name and birthday.
			out = append(out, Record{Source: "shop", SourceType: "test", ExternalID: fmt.Sprintf("shop-fam-%d", p),
				Fields: map[string][]string{"first_name": {firsts[(p+3)%len(firsts)]}, "last_name": {last},
					"emails": {fmt.Sprintf("family%d@example.com", p/23)}, "birthday": {"2010-05-05"}}, At: at})
		}
	}
	return out
}
