package identity

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// jaroWinklerRef is the textbook Jaro–Winkler, written for clarity with
// no buffers and no swapping, to check the optimized one against.
func jaroWinklerRef(a, b []rune) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	shorter, longer := a, b
	if len(shorter) > len(longer) {
		shorter, longer = longer, shorter
	}
	window := max(len(longer)/2-1, 0)
	matchedS := make([]bool, len(shorter))
	matchedL := make([]bool, len(longer))
	m := 0
	for i := range shorter {
		for j := max(0, i-window); j < min(len(longer), i+window+1); j++ {
			if !matchedL[j] && longer[j] == shorter[i] {
				matchedS[i], matchedL[j] = true, true
				m++
				break
			}
		}
	}
	if m == 0 {
		return 0
	}
	var s, l []rune
	for i, ok := range matchedS {
		if ok {
			s = append(s, shorter[i])
		}
	}
	for j, ok := range matchedL {
		if ok {
			l = append(l, longer[j])
		}
	}
	half := 0
	for i := range s {
		if s[i] != l[i] {
			half++
		}
	}
	fm := float64(m)
	jaro := (fm/float64(len(a)) + fm/float64(len(b)) + (fm-float64(half)/2)/fm) / 3
	prefix := 0
	for prefix < 4 && prefix < len(a) && prefix < len(b) && a[prefix] == b[prefix] {
		prefix++
	}
	return jaro + float64(prefix)*0.1*(1-jaro)
}

// levenshteinRef is the full dynamic programme, without the early exit.
func levenshteinRef(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// osaRef is the optimal string alignment distance: Levenshtein plus the
// transposition of two adjacent bytes, the edits withinOneEdit accepts.
func osaRef(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

func TestJaroWinkler(t *testing.T) {
	// 100 distinct runes, past the 64-rune stack buffers. Distinct, because
	// in a periodic string greedy matching pairs a changed rune's
	// neighbours with the next period and counts transpositions.
	var lb strings.Builder
	for i := range 100 {
		lb.WriteRune(0x4E00 + rune(i))
	}
	long := lb.String()
	sub := []rune(long)
	sub[50] = 'X'
	tests := []struct {
		name string
		a, b string
		want float64
	}{
		{"transposition MARTHA", "MARTHA", "MARHTA", 0.961},
		{"DWAYNE DUANE", "DWAYNE", "DUANE", 0.840},
		{"DIXON DICKSONX", "DIXON", "DICKSONX", 0.813},
		{"JELLYFISH SMELLYFISH", "JELLYFISH", "SMELLYFISH", 0.896},
		{"both empty", "", "", 0},
		{"left empty", "", "sara", 0},
		{"right empty", "sara", "", 0},
		{"identical", "sara", "sara", 1},
		{"identical single rune", "j", "j", 1},
		{"nothing in common", "abc", "xyz", 0},
		// Two runes have a match window of zero: swapped runes never match.
		{"two runes swapped", "ab", "ba", 0},
		{"Arabic identical", "محمد", "محمد", 1},
		{"Arabic Mohammed and Mahmoud", "محمد", "محمود", 0.953},
		{"Arabic teh marbuta and heh", "سارة", "ساره", 0.883},
		{"Arabic against Latin", "سارة", "sara", 0},
		{"Persian yeh against Arabic yeh", "علی", "علي", 0.822},
		{"long identical", long, long, 1},
		{"long one substitution", long, string(sub), 0.996},
		{"long periodic one substitution", strings.Repeat("abcdefghij", 10), strings.Repeat("abcdefghij", 5) + "X" + strings.Repeat("abcdefghij", 5)[1:], 0.9556},
		{"long against empty", long, "", 0},
		{"64 against 65 runes", strings.Repeat("a", 64), strings.Repeat("a", 65), 0.9969},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := []rune(tt.a), []rune(tt.b)
			got := jaroWinkler(a, b)
			if math.Abs(got-tt.want) > 0.0005 {
				t.Errorf("jaroWinkler(%q, %q) = %.4f, want %.3f", tt.a, tt.b, got, tt.want)
			}
			if back := jaroWinkler(b, a); back != got {
				t.Errorf("not symmetric: %.6f one way, %.6f the other", got, back)
			}
			if ref := jaroWinklerRef(a, b); math.Abs(got-ref) > 1e-12 {
				t.Errorf("reference implementation gives %.6f, got %.6f", ref, got)
			}
		})
	}
}

// TestJaroWinklerLongMatchesShort checks that the heap path for long
// strings computes what the stack path does: the same name padded past 64
// runes on both sides must compare like the reference says.
func TestJaroWinklerLongMatchesShort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("abcdeسارةمحد")
	randomRunes := func(n int) []rune {
		r := make([]rune, n)
		for i := range r {
			r[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return r
	}
	for range 500 {
		a, b := randomRunes(40+rng.IntN(60)), randomRunes(40+rng.IntN(60))
		got, want := jaroWinkler(a, b), jaroWinklerRef(a, b)
		if math.Abs(got-want) > 1e-12 {
			t.Fatalf("jaroWinkler(%q, %q) = %v, reference %v", string(a), string(b), got, want)
		}
	}
}

// TestJaroWinklerDoesNotAllocate holds the promise in jaroWinkler's doc
// comment: it runs for every candidate pair of a rebuild.
func TestJaroWinklerDoesNotAllocate(t *testing.T) {
	a, b := []rune("muhammad"), []rune("mohammed")
	if n := testing.AllocsPerRun(100, func() { jaroWinkler(a, b) }); n != 0 {
		t.Errorf("jaroWinkler allocates %v times for short names, want 0", n)
	}
}

func TestWithinOneEdit(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"equal", "19850314", "19850314", true},
		{"both empty", "", "", true},
		{"insert into empty", "", "a", true},
		{"two into empty", "", "ab", false},
		{"substitution first", "19850314", "29850314", true},
		{"substitution middle", "19850314", "19850414", true},
		{"substitution last", "19850314", "19850315", true},
		{"insertion first", "sw1a1aa", "xsw1a1aa", true},
		{"insertion middle", "sw1a1aa", "sw1ax1aa", true},
		{"insertion last", "sw1a1aa", "sw1a1aax", true},
		{"deletion first", "sw1a1aa", "w1a1aa", true},
		{"deletion middle", "sw1a1aa", "sw11aa", true},
		{"deletion last", "sw1a1aa", "sw1a1a", true},
		{"transposition first", "19850314", "91850314", true},
		{"transposition of day digits", "19850312", "19850321", true},
		{"transposition of year digits", "19850314", "19580314", true},
		{"transposition last", "ab", "ba", true},
		{"transposition of email domain", "sara@gmail.com", "sara@gmial.com", true},
		{"non-adjacent swap", "abcd", "adcb", false},
		{"two substitutions", "19850314", "19860315", false},
		{"transposition and substitution", "19850314", "91850315", false},
		{"two transpositions", "abcd", "badc", false},
		{"length differs by two", "abc", "abcde", false},
		{"insertion and substitution", "abc", "xbcd", false},
		{"multi-byte substitution in the last byte", "é", "è", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := withinOneEdit(tt.a, tt.b); got != tt.want {
				t.Errorf("withinOneEdit(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
			if got := withinOneEdit(tt.b, tt.a); got != tt.want {
				t.Errorf("withinOneEdit(%q, %q) = %v, want %v (swapped arguments)", tt.b, tt.a, got, tt.want)
			}
			if ref := osaRef(tt.a, tt.b) <= 1; ref != tt.want {
				t.Errorf("test case disagrees with the reference distance %d", osaRef(tt.a, tt.b))
			}
		})
	}
}

func TestLevenshteinAtMost(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		k    int
		want bool
	}{
		{"k=0 equal", "abc", "abc", 0, true},
		{"k=0 one substitution", "abc", "abd", 0, false},
		{"k=0 adjacent transposition", "abc", "acb", 0, false},
		{"k=0 length differs", "abc", "abcd", 0, false},
		{"k=1 substitution", "abc", "abd", 1, true},
		{"k=1 insertion", "abc", "abxc", 1, true},
		{"k=1 deletion", "abc", "ac", 1, true},
		{"k=1 two substitutions", "abc", "axy", 1, false},
		// Levenshtein distance counts an adjacent transposition as two
		// edits, unlike withinOneEdit.
		{"k=1 adjacent transposition", "sara@gmail.com", "sara@gmial.com", 1, false},
		{"k=1 adjacent transposition at the end", "ab", "ba", 1, false},
		{"k=1 negative k", "abc", "abc", -1, false},
		{"k=2 equal", "sara@example.com", "sara@example.com", 2, true},
		{"k=2 both empty", "", "", 2, true},
		{"k=2 empty against two", "", "ab", 2, true},
		{"k=2 empty against three", "", "abc", 2, false},
		{"k=2 two substitutions", "sara@example.com", "sera@exbmple.com", 2, true},
		{"k=2 three substitutions", "sara@example.com", "sera@exbmple.con", 2, false},
		{"k=2 two insertions", "sara@example.com", "sarah@examples.com", 2, true},
		{"k=2 two deletions", "sarah@example.com", "sara@exampe.com", 2, true},
		{"k=2 insertion and substitution", "sara@example.com", "saraa@exbmple.com", 2, true},
		{"k=2 adjacent transposition", "sara@gmail.com", "sara@gmial.com", 2, true},
		{"k=2 two transpositions", "abcdef", "badcef", 2, false},
		{"k=2 length differs by three", "sara@x.com", "sara123@x.com", 2, false},
		{"k=2 kitten sitting", "kitten", "sitting", 2, false},
		{"k=3 kitten sitting", "kitten", "sitting", 3, true},
		{"k=2 all different", "abcd", "wxyz", 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := levenshteinAtMost(tt.a, tt.b, tt.k); got != tt.want {
				t.Errorf("levenshteinAtMost(%q, %q, %d) = %v, want %v", tt.a, tt.b, tt.k, got, tt.want)
			}
			if got := levenshteinAtMost(tt.b, tt.a, tt.k); got != tt.want {
				t.Errorf("levenshteinAtMost(%q, %q, %d) = %v, want %v (swapped arguments)", tt.b, tt.a, tt.k, got, tt.want)
			}
		})
	}
}

func FuzzJaroWinkler(f *testing.F) {
	for _, s := range [][2]string{{"MARTHA", "MARHTA"}, {"DWAYNE", "DUANE"}, {"DIXON", "DICKSONX"},
		{"", ""}, {"a", ""}, {"محمد", "محمود"}, {strings.Repeat("ab", 40), strings.Repeat("ba", 41)}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, x, y string) {
		a, b := []rune(x), []rune(y)
		s := jaroWinkler(a, b)
		if !(s >= 0 && s <= 1) {
			t.Fatalf("jaroWinkler(%q, %q) = %v, outside [0, 1]", x, y, s)
		}
		if back := jaroWinkler(b, a); back != s {
			t.Fatalf("jaroWinkler(%q, %q) = %v but %v with the arguments swapped", x, y, s, back)
		}
		if self := jaroWinkler(a, a); len(a) > 0 && self != 1 {
			t.Fatalf("jaroWinkler(%q, itself) = %v, want 1", x, self)
		}
		if len(a) <= 200 && len(b) <= 200 {
			if ref := jaroWinklerRef(a, b); math.Abs(s-ref) > 1e-12 {
				t.Fatalf("jaroWinkler(%q, %q) = %v, reference %v", x, y, s, ref)
			}
		}
		// The comparisons take text, on bytes when both sides are ASCII:
		// the same characters, so the same result to the last bit.
		if got := similarity(newText(x), newText(y)); got != s {
			t.Fatalf("similarity(%q, %q) = %v, jaroWinkler of the runes %v", x, y, got, s)
		}
	})
}

// TestSimilarityOfText compares text of every kind, ASCII on both sides,
// on one side and on none, with the rune comparison, and checks that ASCII
// names need no allocation.
func TestSimilarityOfText(t *testing.T) {
	words := []string{"", "a", "sara", "sarah", "muhammad", "mohammed", "محمد", "محمود", "zoë", "zoe",
		"123 high street", "123 hihg st", strings.Repeat("ab", 40), "ab" + strings.Repeat("سا", 30)}
	for _, x := range words {
		for _, y := range words {
			want := jaroWinkler([]rune(x), []rune(y))
			require.Equal(t, want, similarity(newText(x), newText(y)), "%q, %q", x, y)
		}
		tx := newText(x)
		require.Equal(t, len([]rune(x)), tx.len(), "%q", x)
		if x != "" {
			require.Equal(t, []rune(x)[0], tx.first(), "%q", x)
		}
		require.Equal(t, latin([]rune(x)), tx.latin(), "%q", x)
	}
	a, b := newText("muhammad"), newText("mohammed")
	if n := testing.AllocsPerRun(100, func() { similarity(a, b) }); n != 0 {
		t.Errorf("similarity allocates %v times for ASCII names, want 0", n)
	}
	c := newText("محمد")
	if n := testing.AllocsPerRun(100, func() { similarity(a, c) }); n != 0 {
		t.Errorf("similarity allocates %v times for names in two scripts, want 0", n)
	}
}

func FuzzWithinOneEdit(f *testing.F) {
	for _, s := range [][2]string{{"19850314", "19850341"}, {"", "a"}, {"abc", "abd"}, {"ab", "ba"},
		{"sw1a1aa", "sw1a1a"}, {"abcd", "badc"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		one := withinOneEdit(a, b)
		if one != withinOneEdit(b, a) {
			t.Fatalf("withinOneEdit(%q, %q) is not symmetric", a, b)
		}
		// One Levenshtein edit is one edit of any kind; the converse does
		// not hold, as withinOneEdit also takes an adjacent transposition.
		if levenshteinAtMost(a, b, 1) && !one {
			t.Fatalf("levenshteinAtMost(%q, %q, 1) but not withinOneEdit", a, b)
		}
		if len(a) > 64 || len(b) > 64 {
			return // the references are quadratic
		}
		if want := osaRef(a, b) <= 1; one != want {
			t.Fatalf("withinOneEdit(%q, %q) = %v, reference distance %d", a, b, one, osaRef(a, b))
		}
		for k := 0; k <= 3; k++ {
			if got, want := levenshteinAtMost(a, b, k), levenshteinRef(a, b) <= k; got != want {
				t.Fatalf("levenshteinAtMost(%q, %q, %d) = %v, Levenshtein distance %d", a, b, k, got, levenshteinRef(a, b))
			}
		}
		if a == b && !one {
			t.Fatalf("withinOneEdit(%q, itself) = false", a)
		}
	})
}
