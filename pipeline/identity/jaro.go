package identity

import "unicode/utf8"

// text is a name, street or city in the form comparisons take: the string,
// and its runes only when it is not all ASCII. Most text is ASCII, whose
// bytes are its runes, so most values need no rune array.
type text struct {
	s     string
	runes []rune // nil when s is ASCII
}

func newText(s string) text {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return text{s: s, runes: []rune(s)}
		}
	}
	return text{s: s}
}

func (t text) empty() bool { return t.s == "" }

// len returns the number of runes.
func (t text) len() int {
	if t.runes != nil {
		return len(t.runes)
	}
	return len(t.s)
}

// first returns the first rune; t must not be empty.
func (t text) first() rune {
	if t.runes != nil {
		return t.runes[0]
	}
	return rune(t.s[0])
}

// latin reports whether every letter of t is in the Latin script.
func (t text) latin() bool { return t.runes == nil || latin(t.runes) }

// similarity is the Jaro–Winkler similarity of x and y, on bytes when both
// are ASCII.
func similarity(x, y text) float64 {
	if x.runes == nil && y.runes == nil {
		return jaroWinkler([]byte(x.s), []byte(y.s))
	}
	var bx, by [48]rune
	return jaroWinkler(x.wide(bx[:0]), y.wide(by[:0]))
}

// wide returns the runes of t, appended to buf when t is ASCII.
func (t text) wide(buf []rune) []rune {
	if t.runes != nil {
		return t.runes
	}
	for i := range len(t.s) {
		buf = append(buf, rune(t.s[i]))
	}
	return buf
}

// jaroWinkler returns the Jaro–Winkler similarity of two strings of
// characters, runes or the bytes of ASCII text, 0 (nothing alike) to 1
// (equal), with the usual prefix scale 0.1 over at most four characters.
// It is written here rather than taken from a library because it runs for
// every candidate pair of a rebuild and must not allocate for names of
// ordinary length.
func jaroWinkler[C byte | rune](a, b []C) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	window := max(len(b)/2-1, 0)
	var bufA, bufB [64]bool
	matchedA, matchedB := bufA[:0], bufB[:0]
	if len(a) <= len(bufA) && len(b) <= len(bufB) {
		matchedA, matchedB = bufA[:len(a)], bufB[:len(b)]
	} else {
		matchedA, matchedB = make([]bool, len(a)), make([]bool, len(b))
	}
	matches := 0
	for i, r := range a {
		lo, hi := max(0, i-window), min(len(b), i+window+1)
		for j := lo; j < hi; j++ {
			if !matchedB[j] && b[j] == r {
				matchedA[i], matchedB[j] = true, true
				matches++
				break
			}
		}
	}
	if matches == 0 {
		return 0
	}
	transpositions, j := 0, 0
	for i := range a {
		if !matchedA[i] {
			continue
		}
		for !matchedB[j] {
			j++
		}
		if a[i] != b[j] {
			transpositions++
		}
		j++
	}
	m := float64(matches)
	jaro := (m/float64(len(a)) + m/float64(len(b)) + (m-float64(transpositions)/2)/m) / 3
	prefix := 0
	for prefix < min(4, len(a)) && a[prefix] == b[prefix] {
		prefix++
	}
	return jaro + float64(prefix)*0.1*(1-jaro)
}

// withinOneEdit reports whether a and b differ by at most one insertion,
// deletion, substitution or transposition of adjacent characters, the
// typing mistakes that corrupt dates, postcodes and emails.
func withinOneEdit(a, b string) bool {
	if a == b {
		return true
	}
	la, lb := len(a), len(b)
	if la > lb {
		a, b, la, lb = b, a, lb, la
	}
	if lb-la > 1 {
		return false
	}
	i := 0
	for i < la && a[i] == b[i] {
		i++
	}
	if la == lb {
		if a[i+1:] == b[i+1:] {
			return true // substitution
		}
		return i+1 < la && a[i] == b[i+1] && a[i+1] == b[i] && a[i+2:] == b[i+2:] // transposition
	}
	return a[i:] == b[i+1:] // insertion
}

// levenshteinAtMost reports whether the edit distance of a and b is at
// most k, for small k, in O(k·n).
func levenshteinAtMost(a, b string, k int) bool {
	if abs(len(a)-len(b)) > k {
		return false
	}
	switch {
	case k <= 0:
		return a == b
	case k == 1 && !adjacentSwap(a, b):
		return withinOneEdit(a, b)
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		best := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			best = min(best, cur[j])
		}
		if best > k {
			return false
		}
		prev, cur = cur, prev
	}
	return prev[len(b)] <= k
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// adjacentSwap reports whether a and b differ exactly by two adjacent
// characters swapped, which withinOneEdit counts as one edit and
// Levenshtein distance as two.
func adjacentSwap(a, b string) bool {
	if len(a) != len(b) || a == b {
		return false
	}
	i := 0
	for i < len(a) && a[i] == b[i] {
		i++
	}
	return i+1 < len(a) && a[i] == b[i+1] && a[i+1] == b[i] && a[i+2:] == b[i+2:]
}
