package pipeline

import (
	"context"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/privacy"
	"github.com/crmhub/crmhub/store"
)

// The ingest screen drops a record whose own suppression entry is on the
// list. A new order of an erased person has no entry of its own: it names
// the person only by their customer record, or, for a guest checkout, by
// the email and phone it was placed with. The persist stage catches it.

// orderSuppressionKeys are the suppression entries an order would hit:
// its own, then its customer record's, its emails' and its phones'. They
// are computed by the caller's goroutine, outside the unit of work.
func (st *Stages) orderSuppressionKeys(ctx context.Context, o canonicalOrder) ([]string, error) {
	sup, err := st.sup.get(ctx, st.store)
	if err != nil {
		return nil, err
	}
	keys := []string{sup.Record(o.Source, string(crmhub.EntityOrder), o.ExternalID)}
	if o.CustomerExternalID != "" {
		keys = append(keys, sup.Record(o.Source, string(crmhub.EntityCustomer), o.CustomerExternalID))
	}
	for _, e := range o.Emails {
		keys = append(keys, sup.Email(e))
	}
	for _, p := range o.Phones {
		keys = append(keys, sup.Phone(p))
	}
	return keys, nil
}

// dropErasedOrder drops an order of an erased person in tx, before it is
// written, and reports whether it did: every landed version of the order
// goes from the raw table and the bus, and the order gets a suppression
// entry of its own, so that its later versions are dropped on arrival. A
// stored version of it, which an erasure that committed meanwhile may
// have missed, goes too. keys are orderSuppressionKeys: the order's entry
// first.
//
// The shared identity lock makes an erasure wait for this unit of work,
// or this one for the erasure: either it sees the suppression entries or
// the erasure sees the order.
func (st *Stages) dropErasedOrder(ctx context.Context, tx *store.Tx, o crmhub.Order, keys []string) (bool, error) {
	if err := tx.LockIdentityShared(ctx); err != nil {
		return false, err
	}
	hit, err := tx.Suppressed(ctx, keys)
	if err != nil || len(hit) == 0 {
		return false, err
	}
	var hits []string
	for _, k := range keys {
		if hit[k] {
			hits = append(hits, k)
		}
	}
	if err := tx.CountDropped(ctx, hits); err != nil {
		return false, err
	}
	if own := keys[0]; !hit[own] {
		if err := tx.ExtendSuppression(ctx, hits[0], map[string]string{own: store.SuppressRecord}); err != nil {
			return false, err
		}
	}
	if _, err := tx.DeleteRawOf(ctx, o.Source, o.ExternalID, []string{string(crmhub.EntityOrder)}); err != nil {
		return false, err
	}
	key := store.RecordKey{Source: o.Source, ExternalID: o.ExternalID}
	if _, err := tx.Erase(ctx, store.Erasure{Orders: []store.RecordKey{key}}); err != nil {
		return false, err
	}
	if st.privacy != nil {
		ref := privacy.MessageRef{Source: o.Source, Entity: string(crmhub.EntityOrder), ExternalID: o.ExternalID}
		if err := st.privacy.EraseMessageRefsTx(ctx, tx, ref); err != nil {
			return false, err
		}
	}
	st.logger.Info("order of an erased person dropped", "source", o.Source, "external_id", o.ExternalID)
	return true, nil
}
