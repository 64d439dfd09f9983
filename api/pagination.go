package api

import (
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Page sizes of list endpoints.
const (
	DefaultPageSize = 100
	// DefaultMaxPageSize is the default cap on limit; a larger limit is
	// clamped to it, not refused.
	DefaultMaxPageSize = 1000
)

// cursorPrefix versions cursors, so that their content can change
// without a client's saved cursor being misread.
const cursorPrefix = "v1:"

// page is the body of every list endpoint. NextCursor is null on the last
// page.
type page[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

// encodeCursor makes the opaque cursor that resumes a list after key.
func encodeCursor(key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + key))
}

// decodeCursor reads the cursor parameter back into the key the list
// resumes after; no cursor is "" (start at the beginning).
func decodeCursor(r *http.Request) (string, error) {
	c := r.URL.Query().Get("cursor")
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	key, ok := strings.CutPrefix(string(b), cursorPrefix)
	if err != nil || !ok || key == "" || !utf8.ValidString(key) {
		return "", invalidParam("cursor", "not a cursor this API returned; pass next_cursor as it came")
	}
	return key, nil
}

// pageLimit reads the limit parameter: DefaultPageSize when absent,
// clamped to max when larger.
func pageLimit(r *http.Request, max int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return min(DefaultPageSize, max), nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, invalidParam("limit", "want a whole number from 1 (at most %d are returned)", max)
	}
	return min(n, max), nil
}

// newPage builds a page from up to limit+1 items read in key order: the
// extra one, when there, only says that there is a next page.
func newPage[T any](items []T, limit int, key func(T) string) page[T] {
	p := page[T]{Data: items}
	if len(items) > limit {
		p.Data = items[:limit]
		next := encodeCursor(key(items[limit-1]))
		p.NextCursor = &next
	}
	if p.Data == nil {
		p.Data = []T{}
	}
	return p
}

// writePage answers one page of a list kept in order of a string key: the
// page size and the cursor come from the request, read returns up to n
// items with a key greater than after, and key is an item's key.
func writePage[T any](w http.ResponseWriter, r *http.Request, maxPage int,
	read func(ctx context.Context, after string, n int) ([]T, error), key func(T) string) error {
	limit, err := pageLimit(r, maxPage)
	if err != nil {
		return err
	}
	after, err := decodeCursor(r)
	if err != nil {
		return err
	}
	items, err := read(r.Context(), after, limit+1)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newPage(items, limit, key))
	return nil
}
