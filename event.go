package crmhub

import "time"

// Event is something a customer did, or that happened to them, as reported
// by analytics, social, support or ERP systems.
type Event struct {
	ID         string            `json:"id"`
	Source     string            `json:"source"`
	ExternalID string            `json:"external_id,omitempty"`
	CustomerID string            `json:"customer_id,omitempty"`
	Type       string            `json:"type"`
	OccurredAt time.Time         `json:"occurred_at"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// Validate checks that the event has an id, a source, a type and a time.
// Errors wrap ErrInvalid.
func (e *Event) Validate() error {
	if !HasIDPrefix(e.ID, EventIDPrefix) {
		return invalidf("event id %q: want %s_<ulid>", e.ID, EventIDPrefix)
	}
	if e.Source == "" || e.Type == "" {
		return invalidf("event %s: needs a source and a type", e.ID)
	}
	if e.OccurredAt.IsZero() {
		return invalidf("event %s: needs occurred_at", e.ID)
	}
	return nil
}
