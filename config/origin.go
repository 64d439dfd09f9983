package config

import (
	"strconv"
	"strings"
)

// origin records where a parsed Config's values were written.
type origin struct {
	file string
	// dir is the directory relative paths in the file are resolved against.
	dir string
	// lines maps a key path (sources[0].shop) to the line it was written on.
	lines map[string]int
	// flagged holds paths that already have a problem, so that later stages
	// do not pile a second, derived problem onto the same mistake.
	flagged map[string]bool
	// fromEnv holds paths whose value contained a ${VAR} reference.
	fromEnv map[string]bool
}

func newOrigin(file, dir string) *origin {
	return &origin{
		file:    file,
		dir:     dir,
		lines:   map[string]int{},
		flagged: map[string]bool{},
		fromEnv: map[string]bool{},
	}
}

// line returns the line of path, or of its closest recorded ancestor, so a
// missing key is reported where its parent is.
func (o *origin) line(path string) int {
	for {
		if l, ok := o.lines[path]; ok {
			return l
		}
		if path == "" {
			return 0
		}
		path = parentPath(path)
	}
}

// isFlagged reports whether path or one of its ancestors already has a
// problem.
func (o *origin) isFlagged(path string) bool {
	for {
		if o.flagged[path] {
			return true
		}
		if path == "" {
			return false
		}
		path = parentPath(path)
	}
}

// pathAt guesses the key path of a decoding error reported only by line:
// the deepest path written on that line, or the common ancestor when
// several equally deep paths share it (flow style), or else the nearest
// path above it.
func (o *origin) pathAt(line int) string {
	var best []string
	bestDepth := -1
	nearest, nearestLine := "", 0
	for p, l := range o.lines {
		if l == line {
			switch d := pathDepth(p); {
			case d > bestDepth:
				best, bestDepth = []string{p}, d
			case d == bestDepth:
				best = append(best, p)
			}
		}
		if l <= line && (l > nearestLine || l == nearestLine && (len(p) > len(nearest) || len(p) == len(nearest) && p < nearest)) {
			nearest, nearestLine = p, l
		}
	}
	switch len(best) {
	case 0:
		return nearest
	case 1:
		return best[0]
	}
	anc := parentPath(best[0])
	for _, p := range best[1:] {
		for !isWithin(p, anc) {
			anc = parentPath(anc)
		}
	}
	return anc
}

// parentPath strips the last .key or [i] from path.
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

func pathDepth(path string) int {
	if path == "" {
		return 0
	}
	return 1 + strings.Count(path, ".") + strings.Count(path, "[")
}

// isWithin reports whether path is anc or below it.
func isWithin(path, anc string) bool {
	if anc == "" || path == anc {
		return true
	}
	return strings.HasPrefix(path, anc) && (path[len(anc)] == '.' || path[len(anc)] == '[')
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func indexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// lastKey is the last key of path, for messages.
func lastKey(path string) string {
	for strings.HasSuffix(path, "]") {
		path = parentPath(path)
	}
	if path == "" {
		return "the top level"
	}
	return path[strings.LastIndexByte(path, '.')+1:]
}
