package mapping

import "strings"

// TransliterationKey returns a coarse phonetic key for Latin
// transliterations of Arabic and Persian names, so that spellings of one
// name share it: Mohammed, Muhammad, Mohamed and Mohammad; Youssef, Yusuf
// and Youcef; Fatima and Fatimah; Abdul Rahman, Abdulrahman, Abd al-Rahman
// and Abdur Rahman.
//
// The key is lossy on purpose and different names collide (Hassan and
// Hussein, Hamid and Hamad): use it to find candidate pairs (blocking) or as
// one signal in a comparison, never as proof that two names are the same,
// and never store it. It works on the tokens of NameMatchKey; tokens that
// are not plain Latin letters (Arabic script, digits) are kept unchanged.
//
// Per token it folds the "abd al" family (abdul, abdel, abd al, abdur) to
// "abd", spells alike sounds alike (q → k, ph → f, ch → sh, c → k or s,
// v → w), drops an h after a final vowel, reduces every run of vowels to
// "a" (y counts as a vowel except at the start) and collapses doubled
// letters.
func TransliterationKey(s string) string {
	return TransliterationKeyOf(NameMatchKey(s))
}

// TransliterationKeyOf is TransliterationKey for a name's NameMatchKey,
// for callers that have computed that already.
func TransliterationKeyOf(matchKey string) string {
	tokens := strings.Fields(matchKey)
	for i, t := range tokens {
		if isLatinWord(t) {
			tokens[i] = phoneticKey(t)
		}
	}
	return strings.Join(tokens, " ")
}

// abdPrefixes are the spellings of "abd al" (servant of the) that
// NameMatchKey has already joined to the following word, longest first.
var abdPrefixes = []string{"abdoul", "abdul", "abdel", "abdal", "abdol", "abdil", "abdur", "abdar", "abdor"}

// phonetic spellings replaced before vowels are reduced; order matters
// (ch before c, ck before c).
var phoneticReplacer = strings.NewReplacer(
	"ph", "f",
	"ck", "k",
	"ch", "sh",
	"ce", "se", "ci", "si", "cy", "sy",
	"c", "k",
	"q", "k",
	"v", "w",
)

func phoneticKey(t string) string {
	for _, p := range abdPrefixes {
		if rest, ok := strings.CutPrefix(t, p); ok && len(rest) >= 2 {
			t = "abd" + rest
			break
		}
	}
	t = phoneticReplacer.Replace(t)
	if n := len(t); n > 2 && t[n-1] == 'h' && isVowelAt(t, n-2) {
		t = t[:n-1]
	}
	b := make([]byte, 0, len(t))
	for i := 0; i < len(t); i++ {
		c := t[i]
		if isVowelAt(t, i) {
			c = 'a'
		}
		if len(b) > 0 && b[len(b)-1] == c {
			continue // a vowel run or a doubled consonant
		}
		b = append(b, c)
	}
	return string(b)
}

// isVowelAt reports whether t[i] is a vowel; y is one except at the start
// of a word, where it is the consonant of Yusuf and Yasmin.
func isVowelAt(t string, i int) bool {
	switch t[i] {
	case 'a', 'e', 'i', 'o', 'u':
		return true
	case 'y':
		return i > 0
	}
	return false
}

func isLatinWord(t string) bool {
	for i := 0; i < len(t); i++ {
		if t[i] < 'a' || t[i] > 'z' {
			return false
		}
	}
	return t != ""
}
