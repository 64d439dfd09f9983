package mapping

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestNormalizeName(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "Sara", "Sara"},
		{"case kept", "sara AL-AMIRI", "sara AL-AMIRI"},
		{"spaces collapsed", "  Sara \t  Al   Amiri\n", "Sara Al Amiri"},
		{"no-break space", "Sara\u00a0Al\u202fAmiri", "Sara Al Amiri"},
		{"accents kept", "José Müller", "José Müller"},
		{"nfkc fullwidth", "Ｓａｒａ", "Sara"},
		{"nfkc composes", "Jose\u0301", "José"},
		{"arabic kept", "سارة العامري", "سارة العامري"},
		{"harakat kept", "مُحَمَّد", "مُحَمَّد"},
		{"tatweel removed", "محـــمد", "محمد"},
		{"arabic presentation forms", "\ufeed\ufef3\ufee0\ufe8e\ufee3", "ويلام"},
		{"zero-width joiner removed", "سا\u200dرة", "سارة"},
		{"persian zwnj between letters kept", "مهدی\u200cزاده", "مهدی\u200cزاده"},
		{"zwnj at edges removed", "\u200cمهدی \u200cزاده\u200c", "مهدی زاده"},
		{"bidi marks removed", "\u200fسارة\u200e", "سارة"},
		{"control removed", "Sara\x00\x07", "Sara"},
		{"mark composes after removal", "A\x01\u0304", "Ā"},
		{"zwnj after harakat kept", "مهدیِ\u200cزاده", "مهدیِ\u200cزاده"},
		{"empty", "   ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, NormalizeName(tt.in))
		})
	}
}

func TestNameMatchKey(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"case folded", "SARA", "sara"},
		{"latin accents", "José Müller", "jose muller"},
		{"sharp s", "Strauß", "strauss"},
		{"letters without decomposition", "Søren Łukasz", "soren lukasz"},
		{"turkish dotted and dotless i", "İlkay Işık", "ilkay isik"},
		{"apostrophe removed", "O'Brien", "obrien"},
		{"typographic apostrophe", "D’Angelo", "dangelo"},
		{"hyphen is a space", "Jean-Pierre", "jean pierre"},
		{"al spaced", "Al Amiri", "alamiri"},
		{"al hyphen", "Al-Amiri", "alamiri"},
		{"al joined", "Alamiri", "alamiri"},
		{"el hyphen", "El-Sayed", "elsayed"},
		{"article inside a full name", "Sara Al Amiri", "sara alamiri"},
		{"article at the end stays", "Sara Al", "sara al"},
		{"abdul spaced", "Abdul Rahman", "abdulrahman"},
		{"abd al", "Abd al-Rahman", "abdalrahman"},
		{"arabic article joined", "العامري", "العامري"},
		{"arabic article spaced", "ال عامري", "العامري"},
		{"arabic abd spaced", "عبد الله", "عبدالله"},
		{"harakat removed", "مُحَمَّد", "محمد"},
		{"superscript alef removed", "رحمٰن", "رحمن"},
		{"tatweel removed", "محـــمد", "محمد"},
		{"teh marbuta", "فاطمة", "فاطمه"},
		{"alef with hamza below", "إبراهيم", "ابراهيم"},
		{"alef with hamza above", "أحمد", "احمد"},
		{"alef with madda", "آمنة", "امنه"},
		{"alef wasla", "ٱلله", "الله"},
		{"alef maksura", "مصطفى", "مصطفي"},
		{"persian yeh and keheh", "کریمی", "كريمي"},
		{"arabic yeh and kaf", "كريمي", "كريمي"},
		{"heh with yeh above", "خانۀ", "خانه"},
		{"waw with hamza", "مؤمن", "مومن"},
		{"yeh with hamza", "عائشة", "عايشه"},
		{"hamza on the line", "آلاء", "الا"},
		{"arabic comma", "سارة، علي", "ساره علي"},
		{"persian zwnj removed", "مهدی\u200cزاده", "مهديزاده"},
		{"presentation forms", "\ufeed\ufef3\ufee0\ufe8e\ufee3", "ويلام"},
		{"punctuation", "Sara (Sally) Ali.", "sara sally ali"},
		{"empty", " - ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, NameMatchKey(tt.in))
		})
	}
}

func TestNameMatchKeyEqual(t *testing.T) {
	groups := [][]string{
		{"Al Amiri", "Al-Amiri", "Alamiri", "AL AMIRI", "al‑amiri"},
		{"العامري", "ال عامري", "ال‌عامري", "العـــامري", "اَلْعَامِرِي"},
		{"فاطمة الزهراء", "فاطمه الزهراء", "فاطمة ال زهراء"},
		{"علی کریمی", "علي كريمي", "علىٰ كريمى"},
		{"Zoë Saldaña", "Zoe Saldana", "ZOË SALDAÑA"},
	}
	for _, g := range groups {
		want := NameMatchKey(g[0])
		for _, s := range g[1:] {
			require.Equal(t, want, NameMatchKey(s), "%q vs %q", g[0], s)
		}
	}
}

func TestNameTokens(t *testing.T) {
	tests := []struct {
		name, first, last string
		want              []string
	}{
		{"simple", "Sara", "Al Amiri", []string{"alamiri", "sara"}},
		{"swapped", "Al Amiri", "Sara", []string{"alamiri", "sara"}},
		{"all in first", "Al Amiri Sara", "", []string{"alamiri", "sara"}},
		{"arabic swapped", "العامري", "سارة", []string{"العامري", "ساره"}},
		{"repeated name kept", "Mohammed", "Mohammed", []string{"mohammed", "mohammed"}},
		{"empty", "", " ", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, NameTokens(tt.first, tt.last))
		})
	}
	require.Equal(t, NameTokens("Sara", "Al Amiri"), NameTokens("AL-AMIRI", "sara"))
}

func FuzzNameKeys(f *testing.F) {
	for _, s := range []string{
		"Sara Al Amiri", "العامري", "ال عامري", "مهدی\u200cزاده", "O'Brien", "Abd al-Rahman", "\ufeed\ufef3", "İ", "ﷺ", "\xff",
		"عبد", "al", "a\u0301\u0301\u0301", "ABd ul 0", "Ꮠ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeName(s)
		if NormalizeName(n) != n {
			t.Fatalf("NormalizeName not idempotent on %q: %q", s, n)
		}
		k := NameMatchKey(s)
		if !utf8.ValidString(k) || strings.Contains(k, "  ") || strings.TrimSpace(k) != k {
			t.Fatalf("NameMatchKey(%q) = %q", s, k)
		}
		if NameMatchKey(k) != k {
			t.Fatalf("NameMatchKey not idempotent on %q: %q -> %q", s, k, NameMatchKey(k))
		}
		if NameMatchKey(n) != k {
			t.Fatalf("NameMatchKey differs after NormalizeName on %q", s)
		}
		if ascii, ok := nameMatchKeyASCII(s); ok && ascii != nameMatchKeyUnicode(s) {
			t.Fatalf("NameMatchKey(%q): %q on the ASCII path, %q on the Unicode one", s, ascii, nameMatchKeyUnicode(s))
		}
		_ = NameTokens(s, s)
		if TransliterationKey(s) != TransliterationKeyOf(k) {
			t.Fatalf("TransliterationKey(%q) is not TransliterationKeyOf its match key", s)
		}
	})
}

// TestNameMatchKeyASCIIPath checks that ASCII input, which takes a path
// without Unicode normalization, gets the key the full path gives: every
// ASCII byte alone and between letters, and random ASCII strings.
func TestNameMatchKeyASCIIPath(t *testing.T) {
	var inputs []string
	for c := range 0x80 {
		inputs = append(inputs, string(rune(c)), "Ab"+string(rune(c))+"Cd", "al"+string(rune(c))+"Amiri")
	}
	inputs = append(inputs, "", "   ", "O'Brien", "Abd al-Rahman", "AL-AMIRI", "abd ul 0", "Mary-Jane  Smith\t", "x`y",
		"El Sayed", "al", "Al", "abd el al x")
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "abcdeflrsuyzABDELRSUZ0123456789 '`-_.,\t\n\x01\x7f\\/"
	for range 20000 {
		b := make([]byte, rng.IntN(16))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		inputs = append(inputs, string(b))
	}
	for _, s := range inputs {
		got, ok := nameMatchKeyASCII(s)
		require.True(t, ok, "%q", s)
		require.Equal(t, nameMatchKeyUnicode(s), got, "%q", s)
	}
	_, ok := nameMatchKeyASCII("Sára")
	require.False(t, ok)
}
