package crmhub

import (
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"strings"
	"time"
)

// Entity names the kind of record an envelope carries.
type Entity string

// Entities crmhub knows.
const (
	EntityCustomer Entity = "customer"
	EntityOrder    Entity = "order"
	EntityEvent    Entity = "event"
	EntityLead     Entity = "lead"
	// EntityPrivacy carries data-request and erasure requests.
	EntityPrivacy Entity = "privacy"
	// EntityOrderDeletion says that a source deleted the order with the
	// envelope's external id. A deletion is final: the source never
	// reuses the id, so it has no version.
	EntityOrderDeletion Entity = "order_deletion"
)

// Envelope carries one raw record from a source through the pipeline. Every
// stage is idempotent on IdempotencyKey, because the bus delivers at least
// once.
type Envelope struct {
	Source     string `json:"source"` // configured source name
	SourceType string `json:"source_type,omitempty"`
	Entity     Entity `json:"entity"`
	ExternalID string `json:"external_id"`
	// Version orders updates of one record: the source's updated_at (RFC
	// 3339) or a sequence number. See CompareVersions.
	Version        string    `json:"version,omitempty"`
	IdempotencyKey string    `json:"idempotency_key"`
	ReceivedAt     time.Time `json:"received_at"`
	TraceID        string    `json:"trace_id,omitempty"`
	Payload        []byte    `json:"payload"`
}

// ContentHash returns the hex SHA-256 of the payload: two deliveries of the
// same bytes have the same hash.
func (e *Envelope) ContentHash() string {
	sum := sha256.Sum256(e.Payload)
	return hex.EncodeToString(sum[:])
}

// DefaultIdempotencyKey derives the key of a record from what identifies one
// version of it: source, entity, external id and content. Redeliveries of the
// same bytes get the same key; a changed record gets a new one.
func (e *Envelope) DefaultIdempotencyKey() string {
	h := sha256.New()
	for _, part := range []string{e.Source, string(e.Entity), e.ExternalID, e.ContentHash()} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Validate checks that the envelope can be stored and routed. Errors wrap
// ErrInvalid.
func (e *Envelope) Validate() error {
	switch {
	case e.Source == "":
		return invalidf("envelope: no source")
	case e.Entity == "":
		return invalidf("envelope from %s: no entity", e.Source)
	case e.ExternalID == "":
		return invalidf("envelope %s/%s: no external id", e.Source, e.Entity)
	case e.IdempotencyKey == "":
		return invalidf("envelope %s/%s/%s: no idempotency key", e.Source, e.Entity, e.ExternalID)
	}
	return nil
}

// CompareVersions orders two record versions and returns -1, 0 or +1.
// Versions that both parse as RFC 3339 times compare as times; versions that
// are both integers compare as integers of any size; otherwise they compare
// as strings. An empty version is older than any other.
func CompareVersions(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "":
		return -1
	case b == "":
		return 1
	}
	if ta, err := time.Parse(time.RFC3339Nano, a); err == nil {
		if tb, err := time.Parse(time.RFC3339Nano, b); err == nil {
			return ta.Compare(tb)
		}
	}
	if ia, ok := new(big.Int).SetString(a, 10); ok {
		if ib, ok := new(big.Int).SetString(b, 10); ok {
			return ia.Cmp(ib)
		}
	}
	return strings.Compare(a, b)
}

// Delivery identifies one delivery pushed to crmhub from outside, such as a
// webhook, which carries one or more envelopes.
type Delivery struct {
	// Source is the configured source the delivery came to.
	Source string
	// Keys are what the sender identifies the delivery by (a delivery id,
	// an event id per topic): a delivery that shares a key with one
	// received before is a redelivery. Without keys every delivery is new,
	// and only the raw landing table tells the same record twice.
	Keys []string
	// Meta are details of the delivery (topic, API version, delivery id)
	// kept with each landed record. Never customer data.
	Meta map[string]string
}
