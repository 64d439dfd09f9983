package pipeline

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/pipeline/bus"
	"github.com/crmhub/crmhub/pipeline/identity"
	"github.com/crmhub/crmhub/privacy"
	"github.com/crmhub/crmhub/store"
)

// SetPrivacy makes the persist stage carry out the privacy requests that
// sources deliver (see MapSource.Privacy) with p. Without it they are
// landed and acknowledged only.
func (st *Stages) SetPrivacy(p *privacy.Service) { st.privacy = p }

// mapPrivacy reads a privacy request with its source's reader into a
// canonical envelope carrying a crmhub.PrivacyRequest. A source without a
// reader leaves its privacy records landed only.
func (st *Stages) mapPrivacy(e crmhub.Envelope) (*crmhub.Envelope, error) {
	src, ok := st.sources[e.Source]
	if !ok || src.Privacy == nil {
		return nil, nil
	}
	req, err := src.Privacy(e)
	if err == nil {
		req.Source = e.Source
		err = req.Validate()
	}
	if err != nil {
		return nil, crmhub.Permanent(fmt.Errorf("read privacy request %s of %s: %w", e.ExternalID, e.Source, err))
	}
	out := e
	if out.Payload, err = json.Marshal(req); err != nil {
		return nil, fmt.Errorf("encode privacy request: %w", err)
	}
	return &out, nil
}

// persistPrivacy carries out a privacy request under its message's
// idempotency key. The privacy service records the request and its
// outcome itself, durably, once per key.
func (st *Stages) persistPrivacy(ctx context.Context, e crmhub.Envelope) error {
	if st.privacy == nil {
		return st.store.InTxShared(ctx, func(tx *store.Tx) error {
			_, err := tx.MarkProcessed(ctx, HandlerPersist, e.IdempotencyKey)
			return err
		}, store.Relaxed())
	}
	var req crmhub.PrivacyRequest
	if err := json.Unmarshal(e.Payload, &req); err != nil {
		return crmhub.Permanent(fmt.Errorf("decode privacy request %s of %s: %w", e.ExternalID, e.Source, err))
	}
	if _, err := st.privacy.Handle(ctx, e.IdempotencyKey, "", req); err != nil {
		return err
	}
	return st.store.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.MarkProcessed(ctx, HandlerPersist, e.IdempotencyKey)
		return err
	})
}

// suppressionKeys are the suppression entries a customer record would hit:
// its emails, phones and its own key. They are computed by the caller's
// goroutine, outside the unit of work.
func suppressionKeys(sup store.Suppressor, source, externalID string, emails, phones []string) []string {
	keys := []string{sup.Record(source, string(crmhub.EntityCustomer), externalID)}
	for _, e := range emails {
		keys = append(keys, sup.Email(e))
	}
	for _, p := range phones {
		keys = append(keys, sup.Phone(p))
	}
	return keys
}

// dropSuppressed removes from a batch the records of people who were
// erased, in the unit of work that resolves the batch, after the identity
// lock: an erasure that committed before is seen, one that commits after
// finds the records and erases them. A dropped record's raw landing goes
// too, since it may have come from a source the erasure never saw. It
// returns the positions that remain.
func (st *Stages) dropSuppressed(ctx context.Context, tx *store.Tx, batch []*resolveReq, idx []int) ([]int, error) {
	var all []string
	for _, i := range idx {
		all = append(all, batch[i].suppress...)
	}
	if len(all) == 0 {
		return idx, nil
	}
	hit, err := tx.Suppressed(ctx, all)
	if err != nil || len(hit) == 0 {
		return idx, err
	}
	keep := idx[:0:0]
	for _, i := range idx {
		var hits []string
		for _, k := range batch[i].suppress {
			if hit[k] {
				hits = append(hits, k)
			}
		}
		if len(hits) == 0 {
			keep = append(keep, i)
			continue
		}
		r := batch[i].rec.Record()
		if err := tx.CountDropped(ctx, hits); err != nil {
			return nil, err
		}
		if _, err := tx.DeleteRawOf(ctx, r.Source, r.ExternalID, customerEntities); err != nil {
			return nil, err
		}
		if st.privacy != nil {
			if err := st.privacy.EraseRecordMessagesTx(ctx, tx, r.Source, r.ExternalID, customerEntities); err != nil {
				return nil, err
			}
		}
		st.logger.Info("record of an erased person dropped", "source", r.Source, "external_id", r.ExternalID)
	}
	return keep, nil
}

// customerEntities are the raw entities that map to customer records.
var customerEntities = []string{string(crmhub.EntityCustomer), string(crmhub.EntityLead)}

// MessageEraser returns what deletes the bus messages of erased records
// for a bus that keeps them in the store's database, or nil for a bus
// that does not (NATS deletes a message once every consumer acked it).
func MessageEraser(b message.Publisher) privacy.MessageEraser {
	d, ok := b.(bus.MessageDeleter)
	if !ok {
		return nil
	}
	return busEraser{d}
}

type busEraser struct{ d bus.MessageDeleter }

// EraseMessagesTx deletes the messages whose envelope names one of refs.
func (e busEraser) EraseMessagesTx(ctx context.Context, tx *sql.Tx, refs []privacy.MessageRef) (int64, error) {
	seen := map[privacy.MessageRef]bool{}
	for _, r := range refs {
		seen[r] = true
	}
	matches := make([]map[string]string, 0, len(seen))
	for _, r := range slices.SortedFunc(maps.Keys(seen), compareRefs) {
		m := map[string]string{MetaSource: r.Source}
		if r.Entity != "" {
			m[MetaEntity] = r.Entity
		}
		if r.ExternalID != "" {
			m[MetaExternalID] = r.ExternalID
		}
		matches = append(matches, m)
	}
	return e.d.DeleteMessagesTx(ctx, tx, matches)
}

func compareRefs(a, b privacy.MessageRef) int {
	return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Entity, b.Entity), cmp.Compare(a.ExternalID, b.ExternalID))
}

// suppressorCache loads a store's Suppressor once it is first needed; its
// key never changes.
type suppressorCache struct {
	mu  sync.Mutex
	sup *store.Suppressor
}

func (c *suppressorCache) get(ctx context.Context, s *store.Store) (store.Suppressor, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sup == nil {
		sup, err := s.Suppressor(ctx)
		if err != nil {
			return sup, err
		}
		c.sup = &sup
	}
	return *c.sup, nil
}

// suppressKeys returns the suppression entries rec would hit.
func (st *Stages) suppressKeys(ctx context.Context, rec identity.Record) ([]string, error) {
	sup, err := st.sup.get(ctx, st.store)
	if err != nil {
		return nil, err
	}
	return suppressionKeys(sup, rec.Source, rec.ExternalID, rec.Fields["emails"], rec.Fields["phones"]), nil
}
