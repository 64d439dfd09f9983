package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration, located as precisely as
// the input allows.
type Problem struct {
	// File is the config file's path as given to Load or Parse.
	File string
	// Line is 1-based; 0 when unknown (a Config built in Go code).
	Line int
	// Path is the key path, such as sources[0].access_token.
	Path string
	// Message says what is wrong.
	Message string
	// Hint says what to do about it.
	Hint string

	// err is an underlying error (an unreadable file), for errors.Is.
	err error
}

// Error formats the problem as "file:line: path: message; hint", leaving
// out the parts that are unknown.
func (p Problem) Error() string {
	var b strings.Builder
	switch {
	case p.File != "" && p.Line > 0:
		b.WriteString(p.File + ":" + strconv.Itoa(p.Line) + ": ")
	case p.File != "":
		b.WriteString(p.File + ": ")
	case p.Line > 0:
		b.WriteString("line " + strconv.Itoa(p.Line) + ": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Message)
	if p.Hint != "" {
		b.WriteString("; " + p.Hint)
	}
	return b.String()
}

// Unwrap returns the underlying error, if any.
func (p Problem) Unwrap() error { return p.err }

// Problems is every problem found in one configuration, in file order. It
// is the error returned by Load, Parse and Validate; get at the list with
//
//	var ps config.Problems
//	if errors.As(err, &ps) { ... }
type Problems []Problem

// Error lists one problem per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes each problem to errors.Is and errors.As.
func (ps Problems) Unwrap() []error {
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return errs
}

// Err returns ps sorted by line as an error, or nil when ps is empty. It
// exists because a nil Problems stored in an error interface is not nil.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	ps.sort()
	return ps
}

// sort orders problems by file and line, keeping the order in which
// problems on the same line were found. Problems without a line come first:
// they concern the file as a whole.
func (ps Problems) sort() {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		return a.Line - b.Line
	})
}

// commaList formats known values for a hint: a, b, c.
func commaList(names []string) string {
	return strings.Join(names, ", ")
}

// didYouMean returns ` (did you mean "x"?)` when one of known is close to
// got, or "".
func didYouMean(got string, known []string) string {
	if s := suggest(got, known); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

// suggest returns the entry of known closest to got when it is close enough
// to be a plausible typo, or "".
func suggest(got string, known []string) string {
	norm := func(s string) string {
		return strings.ReplaceAll(strings.ToLower(s), "_", "")
	}
	best, bestDist := "", -1
	for _, k := range known {
		d := editDistance(got, k)
		// accessToken, Access-Token and access_token are the same idea.
		if nd := editDistance(norm(strings.ReplaceAll(got, "-", "_")), norm(k)); nd < d {
			d = nd
		}
		if bestDist < 0 || d < bestDist {
			best, bestDist = k, d
		}
	}
	limit := 1
	if len(got) >= 5 {
		limit = 2
	}
	if len(got) >= 9 {
		limit = 3
	}
	if bestDist < 0 || bestDist > limit || got == best {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of neighbours each cost one,
// because a swapped pair of letters is the most common typo.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rows suffice for the transposition lookback.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
