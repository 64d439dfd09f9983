package pipeline

import (
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/crmhub/crmhub"
)

// Metadata keys an envelope travels under. The payload is the record's raw
// bytes, untouched.
const (
	MetaSource         = "crmhub_source"
	MetaSourceType     = "crmhub_source_type"
	MetaEntity         = "crmhub_entity"
	MetaExternalID     = "crmhub_external_id"
	MetaVersion        = "crmhub_version"
	MetaIdempotencyKey = "crmhub_idempotency_key"
	MetaReceivedAt     = "crmhub_received_at"
	MetaTraceID        = "crmhub_trace_id"
)

// ToMessage wraps an envelope in a message for the bus. Every message gets
// a fresh UUID; the envelope's idempotency key is what stages deduplicate
// on, and it stays the same across redeliveries and replays. A missing
// trace id is set to the idempotency key, so one record's path through the
// stages can be followed in the logs.
func ToMessage(e crmhub.Envelope) *message.Message {
	if e.TraceID == "" {
		e.TraceID = e.IdempotencyKey
	}
	msg := message.NewMessage(watermill.NewUUID(), e.Payload)
	msg.Metadata = message.Metadata{
		MetaSource:         e.Source,
		MetaSourceType:     e.SourceType,
		MetaEntity:         string(e.Entity),
		MetaExternalID:     e.ExternalID,
		MetaVersion:        e.Version,
		MetaIdempotencyKey: e.IdempotencyKey,
		MetaReceivedAt:     e.ReceivedAt.UTC().Format(time.RFC3339Nano),
		MetaTraceID:        e.TraceID,
	}
	return msg
}

// FromMessage reads the envelope a message carries. A message without the
// envelope's required fields is a permanent error: retrying cannot repair
// it.
func FromMessage(msg *message.Message) (crmhub.Envelope, error) {
	md := msg.Metadata
	e := crmhub.Envelope{
		Source:         md.Get(MetaSource),
		SourceType:     md.Get(MetaSourceType),
		Entity:         crmhub.Entity(md.Get(MetaEntity)),
		ExternalID:     md.Get(MetaExternalID),
		Version:        md.Get(MetaVersion),
		IdempotencyKey: md.Get(MetaIdempotencyKey),
		TraceID:        md.Get(MetaTraceID),
		Payload:        msg.Payload,
	}
	if at := md.Get(MetaReceivedAt); at != "" {
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			return e, crmhub.Permanent(fmt.Errorf("message %s: received_at %q: %w", msg.UUID, at, err))
		}
		e.ReceivedAt = t
	}
	if err := e.Validate(); err != nil {
		return e, fmt.Errorf("message %s: %w", msg.UUID, err)
	}
	return e, nil
}
