package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/pipeline/identity"
	"github.com/crmhub/crmhub/privacy"
	"github.com/crmhub/crmhub/store"
)

// MapSource is what the map stage needs to know of one source.
type MapSource struct {
	// Rules map the source's raw records; nil means the source has no
	// mapping, and its records go to the dead letters until it has one.
	Rules *mapping.Rules
	// ByEntity, when set, maps records by their entity instead, for a
	// connector that delivers several kinds of records (a shop's customers
	// and orders). A record of an entity without rules here (a deletion, a
	// privacy request, a topic crmhub does not know) is landed only: the
	// map stage and rebuild leave it alone, with no dead letter.
	ByEntity map[crmhub.Entity]*mapping.Rules
	// Source names the source, its connector type, tenant and default
	// phone region.
	Source identity.Source
	// Privacy, when set, reads the source's privacy records (entity
	// crmhub.EntityPrivacy) into requests, which the persist stage carries
	// out (see Stages.SetPrivacy).
	Privacy func(crmhub.Envelope) (crmhub.PrivacyRequest, error)
}

// Stages are the map and persist handlers: raw records become canonical
// records, and canonical customer records become profiles.
type Stages struct {
	batcher  resolveBatcher
	store    *store.Store
	sources  map[string]MapSource
	resolver *identity.Resolver
	logger   *slog.Logger
	// privacy carries out privacy requests; see SetPrivacy.
	privacy *privacy.Service
	sup     suppressorCache
	// push, when set, is registered with the stages; see SetPush.
	push *Push
}

// NewStages returns the stages for the given sources and identity rules.
func NewStages(s *store.Store, sources map[string]MapSource, resolver *identity.Resolver, logger *slog.Logger) *Stages {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Stages{store: s, sources: sources, resolver: resolver, logger: logger}
}

// Warm prepares identity resolution before records arrive: on the
// embedded store it loads the match index, which the first batch would
// otherwise load inside its unit of work.
func (st *Stages) Warm(ctx context.Context) error {
	if st.resolver == nil {
		return nil
	}
	return st.resolver.Warm(ctx, st.store)
}

// Register adds the stages to p: map, persist and, when set, push.
func (st *Stages) Register(p *Pipeline) {
	p.Handle(HandlerMap, TopicRaw, TopicCanonical, st.Map)
	p.Handle(HandlerPersist, TopicCanonical, TopicProfilesChanged, st.Persist)
	if st.push != nil {
		st.push.Register(p)
	}
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
// customer the payload is an identity.Record, for an order a
// crmhub.Order, for other entities the mapped fields. An order deletion
// passes as it is: its external id is all it says. It returns nil for a
// record its source does not map.
func (st *Stages) MapEnvelope(e crmhub.Envelope) (*crmhub.Envelope, error) {
	if e.Entity == crmhub.EntityOrderDeletion {
		return &e, nil
	}
	if e.Entity == crmhub.EntityPrivacy {
		return st.mapPrivacy(e)
	}
	m, src, err := st.mapped(e)
	if err != nil || m.Entity == "" {
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
	if m.Entity == crmhub.EntityOrder {
		o, err := orderOf(e.Source, m)
		if err != nil {
			return nil, crmhub.Permanent(fmt.Errorf("map order record %s of %s: %w", m.ExternalID, e.Source, err))
		}
		co := canonicalOrder{Order: o, Emails: m.Fields["customer.email"], Phones: m.Fields["customer.phone"]}
		if out.Payload, err = json.Marshal(co); err != nil {
			return nil, fmt.Errorf("encode canonical order: %w", err)
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

// mapped maps a raw envelope with its source's rules; a zero Mapped with a
// nil error means the record is not to be mapped (see MapSource.ByEntity).
func (st *Stages) mapped(e crmhub.Envelope) (mapping.Mapped, MapSource, error) {
	src, ok := st.sources[e.Source]
	if ok && src.ByEntity != nil {
		if src.Rules = src.ByEntity[e.Entity]; src.Rules == nil {
			return mapping.Mapped{}, src, nil
		}
	}
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

// Persist resolves a canonical customer record into profiles, writes or
// deletes an order, each in one unit of work with its idempotency mark,
// and announces the profiles that changed. Events are not stored yet: they
// are acknowledged and left in the raw table.
func (st *Stages) Persist(msg *message.Message) ([]*message.Message, error) {
	e, err := FromMessage(msg)
	if err != nil {
		return nil, err
	}
	ctx := msg.Context()
	switch e.Entity {
	case crmhub.EntityCustomer:
	case crmhub.EntityOrder:
		return st.persistOrder(ctx, e)
	case crmhub.EntityOrderDeletion:
		return st.persistOrderDeletion(ctx, e)
	case crmhub.EntityPrivacy:
		return nil, st.persistPrivacy(ctx, e)
	default:
		return nil, st.store.InTxShared(ctx, func(tx *store.Tx) error {
			_, err := tx.MarkProcessed(ctx, HandlerPersist, e.IdempotencyKey)
			return err
		}, store.Relaxed())
	}
	var rec identity.Record
	if err := json.Unmarshal(e.Payload, &rec); err != nil {
		return nil, crmhub.Permanent(fmt.Errorf("decode canonical record %s of %s: %w", e.ExternalID, e.Source, err))
	}
	out, err := st.Resolve(ctx, e.IdempotencyKey, rec)
	if err != nil {
		return nil, err
	}
	return changedMessages(out.Changed...), nil
}

// Resolve applies one customer record under its idempotency key: a key
// seen before changes nothing. Records that arrive while another batch is
// being resolved are resolved together in one unit of work (see
// resolveBatcher), which is what keeps identity resolution fast on SQLite.
//
// The record is prepared (features, keys, comparisons with its candidates)
// by the caller's goroutine before it joins the queue: many callers
// prepare on all cores while the leader's unit of work writes.
func (st *Stages) Resolve(ctx context.Context, key string, rec identity.Record) (identity.Outcome, error) {
	ps, err := st.resolver.Prepare([]identity.Record{rec})
	if err != nil {
		return identity.Outcome{}, crmhub.Permanent(err)
	}
	suppress, err := st.suppressKeys(ctx, rec)
	if err != nil {
		return identity.Outcome{}, err
	}
	return st.batcher.do(ctx, st, &resolveReq{key: key, rec: ps[0], suppress: suppress, done: make(chan resolveResult, 1)})
}

// maxResolveBatch bounds how many records one unit of work resolves.
const maxResolveBatch = 500

type resolveReq struct {
	key string
	rec *identity.Prepared
	// suppress are the suppression entries the record would hit.
	suppress []string
	done     chan resolveResult
}

type resolveResult struct {
	out identity.Outcome
	err error
	// lead hands the queue over: the receiver resolves the next batches.
	lead bool
}

// resolveBatcher gathers concurrent Resolve calls into batches without a
// goroutine of its own: the first caller leads, resolving the queue batch
// by batch until its own record is done, then hands the lead to the first
// waiting caller. Identity resolution is serial anyway (one writer on
// SQLite, an advisory lock on PostgreSQL); batching turns many small units
// of work into a few large ones.
type resolveBatcher struct {
	mu      sync.Mutex
	queue   []*resolveReq
	leading bool
}

func (b *resolveBatcher) do(ctx context.Context, st *Stages, req *resolveReq) (identity.Outcome, error) {
	b.mu.Lock()
	b.queue = append(b.queue, req)
	lead := !b.leading
	b.leading = true
	b.mu.Unlock()
	for {
		if lead {
			b.lead(st)
		}
		select {
		case r := <-req.done:
			if r.lead {
				lead = true
				continue
			}
			return r.out, r.err
		case <-ctx.Done():
			// The record may still be resolved by the leader; that is
			// harmless, the unit of work is idempotent. But a follower
			// asked to lead must not leave the queue stranded.
			go func() {
				if r := <-req.done; r.lead {
					b.lead(st)
				}
			}()
			return identity.Outcome{}, ctx.Err()
		}
	}
}

// lead resolves one batch from the queue, then hands the lead to the
// next waiting caller, or gives it up when none waits, so that every
// leader returns after a bounded wait.
func (b *resolveBatcher) lead(st *Stages) {
	b.mu.Lock()
	if len(b.queue) == 0 {
		b.leading = false
		b.mu.Unlock()
		return
	}
	n := min(len(b.queue), maxResolveBatch)
	batch := slices.Clone(b.queue[:n])
	b.queue = b.queue[n:]
	b.mu.Unlock()
	st.resolveBatch(batch)
	b.mu.Lock()
	if len(b.queue) == 0 {
		b.leading = false
		b.mu.Unlock()
		return
	}
	next := b.queue[0]
	b.mu.Unlock()
	next.done <- resolveResult{lead: true}
}

// resolveBatch resolves a batch in one unit of work; when that fails, each
// record gets a unit of work of its own, so one bad record fails alone.
func (st *Stages) resolveBatch(batch []*resolveReq) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	outs, err := st.resolveTogether(ctx, batch)
	if err == nil {
		for i, r := range batch {
			r.done <- resolveResult{out: outs[i]}
		}
		return
	}
	if len(batch) == 1 {
		batch[0].done <- resolveResult{err: err}
		return
	}
	for _, r := range batch {
		outs, err := st.resolveTogether(ctx, []*resolveReq{r})
		if err != nil {
			r.done <- resolveResult{err: err}
			continue
		}
		r.done <- resolveResult{out: outs[0]}
	}
}

func (st *Stages) resolveTogether(ctx context.Context, batch []*resolveReq) ([]identity.Outcome, error) {
	outs := make([]identity.Outcome, len(batch))
	err := st.store.InTx(ctx, func(tx *store.Tx) error {
		clear(outs)
		var recs []*identity.Prepared
		var idx []int
		for i, r := range batch {
			first, err := tx.MarkProcessed(ctx, HandlerPersist, r.key)
			if err != nil {
				return err
			}
			if first {
				recs = append(recs, r.rec)
				idx = append(idx, i)
			}
		}
		if len(recs) == 0 {
			return nil
		}
		if err := tx.LockIdentity(ctx); err != nil {
			return err
		}
		idx, err := st.dropSuppressed(ctx, tx, batch, idx)
		if err != nil {
			return err
		}
		recs = recs[:0]
		for _, i := range idx {
			recs = append(recs, batch[i].rec)
		}
		if len(recs) == 0 {
			return nil
		}
		res, err := st.resolver.ApplyPrepared(ctx, tx, recs)
		if err != nil {
			return err
		}
		for j, i := range idx {
			outs[i] = res[j]
		}
		return nil
	}, store.Relaxed())
	if err != nil {
		if len(batch) == 1 {
			r := batch[0].rec.Record()
			return nil, fmt.Errorf("resolve %s record %s: %w", r.Source, r.ExternalID, err)
		}
		return nil, fmt.Errorf("resolve a batch of %d records: %w", len(batch), err)
	}
	return outs, nil
}
