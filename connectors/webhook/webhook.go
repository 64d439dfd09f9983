// Package webhook receives the records other systems push to crmhub over
// HTTP, an ERP's or an MIS's customers say: POST /webhooks/in/{source}
// with one JSON record, a JSON array of them or NDJSON, signed with the
// source's shared secret. The source's mapping file says what the records
// are and where their ids are.
package webhook

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/connectors"
	"github.com/crmhub/crmhub/mapping"
)

// SourceType is the type of a webhook source in the config.
const SourceType = "webhook"

// Pattern is where the Receiver is served (Go 1.22 ServeMux syntax).
const Pattern = "POST /webhooks/in/{source}"

// Headers of a delivery.
const (
	// DefaultSignatureHeader carries "sha256=" and the hex HMAC-SHA256 of
	// the raw body under the source's secret, unless the source names
	// another header.
	DefaultSignatureHeader = "X-Signature-256"
	// HeaderIdempotencyKey, when a sender sets it, names the delivery: a
	// delivery with a key seen before is a redelivery and lands nothing.
	HeaderIdempotencyKey = "Idempotency-Key"
)

// MaxRecords is how many records one delivery may carry.
const MaxRecords = 1000

// Ingester lands a verified delivery's records durably; see
// pipeline.Ingester.Receive.
type Ingester interface {
	Receive(ctx context.Context, d crmhub.Delivery, envs []crmhub.Envelope) (fresh bool, err error)
}

// Source is one configured webhook source.
type Source struct {
	// Name is the configured source name, the {source} of the URL.
	Name string
	// Secrets verify signatures: the current one first, then any still
	// accepted while it is rotated. At least one is required.
	Secrets []string
	// SignatureHeader is where the signature is; DefaultSignatureHeader
	// when empty.
	SignatureHeader string
	// Rules are the source's mapping: its entity, and where a record's id
	// and version are.
	Rules *mapping.Rules
	// Options are the mapping's per-source settings.
	Options mapping.Options
}

// Receiver receives the deliveries of webhook sources: it verifies each
// signature on the raw body, splits the body into records, lands them
// through an Ingester in one unit of work and answers 200 once they are
// durable. A record the mapping finds no id in is landed all the same,
// under its content hash, and the map stage puts it in the dead letters
// with the reason, where it can be looked at and replayed. It is an
// http.Handler; the caller bounds the body size (http.MaxBytesReader).
type Receiver struct {
	sources map[string]source
	in      Ingester
	log     *slog.Logger
}

type source struct {
	Source
	keys [][]byte
}

// New returns the receiver of sources. It does no I/O.
func New(in Ingester, log *slog.Logger, sources ...Source) (*Receiver, error) {
	if in == nil {
		return nil, errors.New("webhooks: no ingester")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srcs, err := connectors.ByName("webhooks", sources, func(s Source) string { return s.Name },
		func(s Source) (source, error) {
			if s.SignatureHeader == "" {
				s.SignatureHeader = DefaultSignatureHeader
			}
			src := source{Source: s, keys: connectors.Keys(s.Secrets)}
			switch {
			case s.Rules == nil:
				return src, errors.New("no mapping")
			case len(src.keys) == 0:
				return src, errors.New("no secret")
			}
			return src, nil
		})
	if err != nil {
		return nil, err
	}
	return &Receiver{sources: srcs, in: in, log: log.With("connector", SourceType)}, nil
}

// received is the answer to a landed delivery.
type received struct {
	Records    int  `json:"records"`
	Redelivery bool `json:"redelivery"`
}

// ServeHTTP handles one delivery. Nothing is written, and nothing of the
// body is logged, unless the signature holds. A failure to land a
// verified delivery is answered 503, so that the sender delivers it
// again; a body that is not records is answered 400.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	src, ok := rc.sources[r.PathValue("source")]
	if !ok {
		http.Error(w, "no webhook source of that name", http.StatusNotFound)
		return
	}
	log := rc.log.With("source", src.Name)
	body, ok := connectors.ReadDelivery(w, r, log)
	if !ok {
		return
	}
	if reason := src.verify(r.Header.Get(src.SignatureHeader), body); reason != "" {
		log.Warn("webhook refused", "reason", reason, "bytes", len(body))
		http.Error(w, "invalid webhook signature in "+src.SignatureHeader, http.StatusUnauthorized)
		return
	}
	recs, err := split(r.Header.Get("Content-Type"), body)
	if err != nil {
		log.Warn("webhook refused: not records", "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	d := crmhub.Delivery{Source: src.Name, Meta: map[string]string{"delivery": r.Header.Get(HeaderIdempotencyKey)}}
	if k := r.Header.Get(HeaderIdempotencyKey); k != "" {
		d.Keys = []string{"idempotency:" + k}
	}
	now := time.Now().UTC()
	envs := make([]crmhub.Envelope, len(recs))
	for i, rec := range recs {
		envs[i] = src.envelope(rec, now)
	}
	fresh, err := rc.in.Receive(r.Context(), d, envs)
	if err != nil {
		log.Error("webhook not landed", "records", len(envs), "err", err)
		http.Error(w, "not stored, deliver again", http.StatusServiceUnavailable)
		return
	}
	log.Debug("webhook", "records", len(envs), "redelivery", !fresh)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(received{Records: len(envs), Redelivery: !fresh})
}

// verify checks sig, "sha256=" and hex (or the hex alone), against every
// secret of the source and returns why it fails, or "" when it holds. The
// reason names no secret and no content.
func (s source) verify(sig string, body []byte) string {
	return connectors.CheckSignature(sig, true, s.keys, body)
}

// envelope is one record as it lands: under the id its mapping finds in
// it, or, when it finds none, under its content hash.
func (s source) envelope(raw json.RawMessage, at time.Time) crmhub.Envelope {
	e := crmhub.Envelope{Source: s.Name, SourceType: SourceType, Entity: s.Rules.Entity, Payload: raw, ReceivedAt: at}
	if rec, err := mapping.JSONRecord(raw); err == nil {
		e.ExternalID, e.Version, _ = s.Rules.Key(rec, s.Options)
	}
	if e.ExternalID == "" {
		e.ExternalID = "sha256:" + e.ContentHash()
	}
	return e
}

// split returns the records of a body: a JSON object, a JSON array of
// objects, or, as application/x-ndjson, one object per line.
func split(contentType string, body []byte) ([]json.RawMessage, error) {
	var recs []json.RawMessage
	mt, _, _ := mime.ParseMediaType(contentType)
	trimmed := bytes.TrimSpace(body)
	switch {
	case mt == "application/x-ndjson" || mt == "application/jsonl":
		sc := bufio.NewScanner(bytes.NewReader(trimmed))
		sc.Buffer(make([]byte, 64<<10), len(body)+1)
		for n := 1; sc.Scan(); n++ {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			if !isObject(line) {
				return nil, fmt.Errorf("line %d is not a JSON object", n)
			}
			recs = append(recs, json.RawMessage(bytes.Clone(line)))
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("read the NDJSON body: %w", err)
		}
	case len(trimmed) > 0 && trimmed[0] == '[':
		if err := json.Unmarshal(trimmed, &recs); err != nil {
			return nil, errors.New("the body is not a JSON array of objects")
		}
		for i, r := range recs {
			if !isObject(r) {
				return nil, fmt.Errorf("item %d of the array is not a JSON object", i)
			}
		}
	case isObject(trimmed):
		recs = []json.RawMessage{trimmed}
	default:
		return nil, errors.New("the body is neither a JSON object, a JSON array of objects nor NDJSON")
	}
	switch {
	case len(recs) == 0:
		return nil, errors.New("the body holds no record")
	case len(recs) > MaxRecords:
		return nil, fmt.Errorf("%d records in one delivery; send at most %d", len(recs), MaxRecords)
	}
	return recs, nil
}

func isObject(b []byte) bool {
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}

// Sign returns the signature header value of body under secret: "sha256="
// and the hex HMAC-SHA256 of the raw bytes. Senders and tests use it.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

var _ http.Handler = (*Receiver)(nil)
