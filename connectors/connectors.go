// Package connectors holds what every connector implements. A connector
// package (connectors/shopify, connectors/file, ...) talks to one external
// system; the pipeline and the commands use it through these interfaces,
// and a connector never imports the pipeline or another connector.
package connectors

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/crmhub/crmhub"
)

// Destination brings an external system up to date with profiles: it
// writes what it derives from a profile (tags, fields, audience members)
// to the records the system holds of the person.
type Destination interface {
	// Name is the destination's configured name; it keys what the
	// destination remembers of its pushes and its erasure tasks.
	Name() string
	// Push brings the system up to date with one profile. It sends only
	// what changed since its last push, and nothing at all when nothing
	// did, so pushing a profile again, or the echo of its own write coming
	// back as a change, costs no request. ctx bounds the call, waits for
	// the system's rate limit included. An error marked crmhub.Permanent
	// fails the same way when tried again (the system refused the
	// request); any other may succeed later. Push is safe for concurrent
	// use.
	Push(ctx context.Context, c crmhub.Customer) error
}

// Eraser is implemented by a Destination that can remove what it wrote
// about a person from its system.
type Eraser interface {
	// Erase removes from the system what the destination wrote about the
	// erased person. It returns nil when the system holds nothing more of
	// it, also when it never held anything or erases the person itself;
	// an error leaves the task to be tried again, and names ids only,
	// never personal data. It is safe for concurrent use.
	Erase(ctx context.Context, e crmhub.Erasure) error
}

// ReadDelivery reads the body of a webhook delivery. When it cannot, it
// answers the request itself, 413 for a body over the server's limit
// (http.MaxBytesReader) and 400 otherwise, and returns false.
func ReadDelivery(w http.ResponseWriter, r *http.Request, log *slog.Logger) ([]byte, bool) {
	body, err := io.ReadAll(r.Body)
	if err == nil {
		return body, true
	}
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		log.Warn("webhook refused: body too large", "limit", mbe.Limit)
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return nil, false
	}
	http.Error(w, "cannot read the request body", http.StatusBadRequest)
	return nil, false
}

// ByName builds a receiver's sources by their names: name says a
// source's name, build what the receiver keeps of it, or why it cannot
// take it. A source without a name, one given twice and one build refuses
// are errors, prefixed with what (the receiver, "meta webhooks").
func ByName[S, T any](what string, sources []S, name func(S) string, build func(S) (T, error)) (map[string]T, error) {
	out := make(map[string]T, len(sources))
	for _, s := range sources {
		n := name(s)
		if n == "" {
			return nil, fmt.Errorf("%s: a source without a name", what)
		}
		if _, dup := out[n]; dup {
			return nil, fmt.Errorf("%s: source %s given twice", what, n)
		}
		t, err := build(s)
		if err != nil {
			return nil, fmt.Errorf("%s: source %s: %w", what, n, err)
		}
		out[n] = t
	}
	return out, nil
}

// Keys returns the non-empty secrets as HMAC keys.
func Keys(secrets []string) [][]byte {
	var keys [][]byte
	for _, s := range secrets {
		if s != "" {
			keys = append(keys, []byte(s))
		}
	}
	return keys
}

// CheckSignature checks sig, "sha256=" and the hex HMAC-SHA256 of body,
// against every key, and returns why it fails, or "" when it holds. With
// bareHex the hex alone is accepted too. The reason names no key and no
// content, so that it can be logged.
func CheckSignature(sig string, bareHex bool, keys [][]byte, body []byte) string {
	if sig == "" {
		return "no signature"
	}
	hexSig, prefixed := strings.CutPrefix(sig, "sha256=")
	if !prefixed && !bareHex {
		return "malformed signature"
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return "malformed signature"
	}
	if !MACMatches(keys, body, got) {
		return "signature mismatch"
	}
	return ""
}

// MACMatches reports whether mac is the HMAC-SHA256 of body under one of
// keys. Every key is tried, so the time taken does not tell which one
// matched, and each comparison takes constant time.
func MACMatches(keys [][]byte, body, mac []byte) bool {
	ok := false
	for _, k := range keys {
		h := hmac.New(sha256.New, k)
		h.Write(body)
		if hmac.Equal(h.Sum(nil), mac) {
			ok = true
		}
	}
	return ok
}
