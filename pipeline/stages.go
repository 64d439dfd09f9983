package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/pipeline/identity"
	"github.com/crmhub/crmhub/store"
)

// MapSource is what the map stage needs to know of one source.
type MapSource struct {
	// Rules map the source's raw records; nil means the source has no
	// mapping, and its records go to the dead letters until it has one.
	Rules *mapping.Rules
	// Source names the source, its connector type, tenant and default
	// phone region.
	Source identity.Source
}

// Stages are the map and persist handlers: raw records become canonical
// records, and canonical customer records become profiles.
type Stages struct {
	store    *store.Store
	sources  map[string]MapSource
	resolver *identity.Resolver
	logger   *slog.Logger
}

// NewStages returns the stages for the given sources and identity rules.
func NewStages(s *store.Store, sources map[string]MapSource, resolver *identity.Resolver, logger *slog.Logger) *Stages {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Stages{store: s, sources: sources, resolver: resolver, logger: logger}
}

// Register adds the stages to p.
func (st *Stages) Register(p *Pipeline) {
	p.Handle(HandlerMap, TopicRaw, TopicCanonical, st.Map)
	p.Handle(HandlerPersist, TopicCanonical, TopicProfilesChanged, st.Persist)
}

// Map turns one raw record into a canonical one with its source's mapping.
// A record that cannot be mapped (no mapping, not JSON, no id) is a
// permanent failure: it goes to the dead letters, to be replayed once the
// mapping is fixed.
func (st *Stages) Map(msg *message.Message) ([]*message.Message, error) {
	e, err := FromMessage(msg)
	if err != nil {
		return nil, err
	}
	out, err := st.MapEnvelope(e)
	if err != nil || out == nil {
		return nil, err
	}
	m := ToMessage(*out)
	return []*message.Message{m}, nil
}

// MapEnvelope maps one raw envelope into its canonical envelope: for a
// customer the payload is an identity.Record, for other entities the
// mapped fields.
func (st *Stages) MapEnvelope(e crmhub.Envelope) (*crmhub.Envelope, error) {
	m, src, err := st.mapped(e)
	if err != nil {
		return nil, err
	}
	out := e
	out.Entity = m.Entity
	out.ExternalID = m.ExternalID
	if m.Version != "" {
		out.Version = m.Version
	}
	if m.Entity == crmhub.EntityCustomer {
		r, err := st.customer(e, m, src)
		if err != nil {
			return nil, err
		}
		if out.Payload, err = json.Marshal(r); err != nil {
			return nil, fmt.Errorf("encode canonical record: %w", err)
		}
		return &out, nil
	}
	if out.Payload, err = json.Marshal(m); err != nil {
		return nil, fmt.Errorf("encode canonical record: %w", err)
	}
	return &out, nil
}

// CustomerRecord maps a raw envelope to the customer record identity
// resolution takes; ok is false for records of other entities.
func (st *Stages) CustomerRecord(e crmhub.Envelope) (rec identity.Record, ok bool, err error) {
	m, src, err := st.mapped(e)
	if err != nil || m.Entity != crmhub.EntityCustomer {
		return identity.Record{}, false, err
	}
	rec, err = st.customer(e, m, src)
	return rec, err == nil, err
}

func (st *Stages) mapped(e crmhub.Envelope) (mapping.Mapped, MapSource, error) {
	src, ok := st.sources[e.Source]
	if !ok || src.Rules == nil {
		return mapping.Mapped{}, src, crmhub.Permanent(fmt.Errorf("map %s record %s: source %q has no mapping", e.Entity, e.ExternalID, e.Source))
	}
	rec, err := mapping.JSONRecord(e.Payload)
	if err != nil {
		return mapping.Mapped{}, src, crmhub.Permanent(fmt.Errorf("map %s record %s of %s: %w", e.Entity, e.ExternalID, e.Source, err))
	}
	m, err := src.Rules.Apply(rec, mapping.Options{DefaultRegion: src.Source.DefaultRegion})
	if err != nil {
		return mapping.Mapped{}, src, crmhub.Permanent(fmt.Errorf("map %s record %s of %s: %w", e.Entity, e.ExternalID, e.Source, err))
	}
	return m, src, nil
}

func (st *Stages) customer(e crmhub.Envelope, m mapping.Mapped, src MapSource) (identity.Record, error) {
	r, rejected := identity.NewRecord(src.Source, m, e.ReceivedAt)
	if !r.Identifiable() {
		return r, crmhub.Permanent(fmt.Errorf("map customer record %s of %s: no email, phone or name to tell who it is",
			e.ExternalID, e.Source))
	}
	if len(rejected) > 0 {
		// Field names only: the values are customer data.
		st.logger.Debug("fields left out of a record", "source", e.Source, "fields", fieldNames(rejected))
	}
	return r, nil
}

func fieldNames(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// changedPayload is the body of a profiles.changed message.
type changedPayload struct {
	CustomerID string `json:"customer_id"`
}

// Persist resolves a canonical customer record into profiles, in one unit
// of work with its idempotency mark, and announces the profiles that
// changed. Orders and events are persisted from #5 on; until then they are
// acknowledged and left in the raw table, from which rebuild re-derives
// them.
func (st *Stages) Persist(msg *message.Message) ([]*message.Message, error) {
	e, err := FromMessage(msg)
	if err != nil {
		return nil, err
	}
	if e.Entity != crmhub.EntityCustomer {
		ctx := msg.Context()
		return nil, st.store.InTxShared(ctx, func(tx *store.Tx) error {
			_, err := tx.MarkProcessed(ctx, HandlerPersist, e.IdempotencyKey)
			return err
		}, store.Relaxed())
	}
	var rec identity.Record
	if err := json.Unmarshal(e.Payload, &rec); err != nil {
		return nil, crmhub.Permanent(fmt.Errorf("decode canonical record %s of %s: %w", e.ExternalID, e.Source, err))
	}
	out, err := st.Resolve(msg.Context(), e.IdempotencyKey, rec)
	if err != nil {
		return nil, err
	}
	msgs := make([]*message.Message, 0, len(out.Changed))
	for _, id := range out.Changed {
		b, _ := json.Marshal(changedPayload{CustomerID: id})
		m := message.NewMessage(watermill.NewUUID(), b)
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// Resolve applies one customer record under its idempotency key: a key
// seen before changes nothing.
func (st *Stages) Resolve(ctx context.Context, key string, rec identity.Record) (identity.Outcome, error) {
	var out identity.Outcome
	err := st.store.InTxShared(ctx, func(tx *store.Tx) error {
		out = identity.Outcome{}
		first, err := tx.MarkProcessed(ctx, HandlerPersist, key)
		if err != nil || !first {
			return err
		}
		if err := tx.LockIdentity(ctx); err != nil {
			return err
		}
		out, err = st.resolver.Apply(ctx, tx, rec)
		return err
	}, store.Relaxed())
	if err != nil {
		return identity.Outcome{}, fmt.Errorf("resolve %s record %s: %w", rec.Source, rec.ExternalID, err)
	}
	return out, nil
}
