package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/store"
)

// testRecord is the payload the tests feed through the pipeline.
type testRecord struct {
	Email string `json:"email"`
	Fail  string `json:"fail,omitempty"` // "permanent" or "transient"
}

func testEnvelope(source string, i int, rec testRecord) crmhub.Envelope {
	b, _ := json.Marshal(rec)
	return crmhub.Envelope{Source: source, SourceType: "test", Entity: crmhub.EntityCustomer,
		ExternalID: fmt.Sprint(9007199254740993 + i), Payload: b} // ids beyond 2^53
}

var errDownstream = errors.New("downstream unavailable")

// customerStage is shaped like the real persist stage: it turns a raw
// record into a profile and writes the profile and its idempotency mark in
// one unit of work, relaxed: its input message is acked only after it
// commits, so what a power failure takes is redone. While outage is set, records asking for a transient
// failure fail with a transient error.
type customerStage struct {
	store  *store.Store
	outage atomic.Bool
	calls  atomic.Int64
}

func (st *customerStage) handle(msg *message.Message) error {
	st.calls.Add(1)
	e, err := pipeline.FromMessage(msg)
	if err != nil {
		return err
	}
	var rec testRecord
	if err := json.Unmarshal(e.Payload, &rec); err != nil {
		return crmhub.Permanent(fmt.Errorf("decode record %s: %w", e.ExternalID, err))
	}
	switch {
	case rec.Fail == "permanent":
		return crmhub.Permanent(fmt.Errorf("record %s: no usable identifier", e.ExternalID))
	case rec.Fail == "transient" && st.outage.Load():
		return fmt.Errorf("record %s: %w", e.ExternalID, errDownstream)
	}
	ctx := msg.Context()
	return st.store.InTxShared(ctx, func(tx *store.Tx) error {
		first, err := tx.MarkProcessed(ctx, pipeline.HandlerPersist, e.IdempotencyKey)
		if err != nil || !first {
			return err
		}
		c := crmhub.Customer{ID: crmhub.NewID(crmhub.CustomerIDPrefix), Email: rec.Email, Emails: []string{rec.Email},
			Identities: []crmhub.Identity{{Source: e.Source, Type: e.SourceType, ExternalID: e.ExternalID}}}
		return tx.UpsertCustomers(ctx, []crmhub.Customer{c})
	}, store.Relaxed())
}

// profileSnapshot is the store's state as far as the tests care: which
// identity has which email, and the table sizes.
func profileSnapshot(ctx context.Context, s *store.Store, source string, n int) (map[string]string, store.Counts, error) {
	counts, err := s.Counts(ctx)
	if err != nil {
		return nil, counts, err
	}
	out := map[string]string{}
	for i := range n {
		ext := fmt.Sprint(9007199254740993 + i)
		id, err := s.CustomerIDByIdentity(ctx, source, ext)
		if errors.Is(err, crmhub.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, counts, err
		}
		c, err := s.Customer(ctx, id)
		if err != nil {
			return nil, counts, err
		}
		out[ext] = c.Email
	}
	return out, counts, nil
}
