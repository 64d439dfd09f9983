package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/shopspring/decimal"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/store"
)

// Orders are stored with the customer record they name (source and the
// customer's external id), not with a profile: the store resolves the
// profile through that record's identity whenever an order is read. So an
// order whose customer arrives later, or whose customer's profile is
// merged or unmerged, needs no rewrite, and never points at a merged-away
// profile. Writing the profile into the order instead would need every
// change of identities (a merge, an unmerge, a rebuild, an erasure) to
// rewrite the orders of the records it moves, in the same unit of work; a
// single one forgotten would leave orders on a tombstone. See
// store.Tx.UpsertOrder.

// canonicalOrder is an order as the map stage hands it to the persist
// stage: the order, and the contact details its record gave, which the
// order is stored without but which tell whether it belongs to an erased
// person when it names no customer record (a guest checkout) or one the
// erasure never saw. Messages of earlier versions, without them, decode
// too.
type canonicalOrder struct {
	crmhub.Order
	Emails []string `json:"contact_emails,omitempty"`
	Phones []string `json:"contact_phones,omitempty"`
}

// orderOf builds the canonical order of a mapped record. An amount, a
// time or a line item that failed its transforms fails the record: a
// wrong amount stored is worse than none, and the dead letter says which
// field to fix.
func orderOf(source string, m mapping.Mapped) (crmhub.Order, error) {
	o := crmhub.Order{Source: source, ExternalID: m.ExternalID, LineItems: []crmhub.LineItem{}}
	if bad := failedOrderFields(m.Rejected); len(bad) > 0 {
		return o, fmt.Errorf("%s did not map", strings.Join(bad, "; "))
	}
	one := func(target string) string {
		if v := m.Fields[target]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	o.Number, o.CustomerExternalID = one("number"), one("customer.external_id")
	o.FinancialStatus, o.FulfillmentStatus = one("financial_status"), one("fulfillment_status")
	o.Currency = strings.ToUpper(one("currency"))
	for target, dst := range map[string]*decimal.Decimal{"subtotal": &o.Subtotal, "discounts": &o.Discounts,
		"tax": &o.Tax, "shipping": &o.Shipping, "total": &o.Total, "refunded": &o.Refunded} {
		if v := one(target); v != "" {
			d, err := decimal.NewFromString(v)
			if err != nil {
				return o, fmt.Errorf("%s %q is not an amount; map it with transform: decimal", target, v)
			}
			*dst = d
		}
	}
	var cancelled time.Time
	for target, dst := range map[string]*time.Time{"created_at": &o.CreatedAt, "processed_at": &o.ProcessedAt,
		"cancelled_at": &cancelled, "updated_at": &o.UpdatedAt} {
		if v := one(target); v != "" {
			t, err := mapping.ParseTimestamp(v)
			if err != nil {
				return o, fmt.Errorf("%s: %w", target, err)
			}
			*dst = t.UTC()
		}
	}
	if !cancelled.IsZero() {
		o.CancelledAt = &cancelled
	}
	if err := orderTimes(&o); err != nil {
		return o, err
	}
	for i, it := range m.Items["line_items"] {
		li, err := lineItemOf(it)
		if err != nil {
			return o, fmt.Errorf("line item %d: %w", i, err)
		}
		o.LineItems = append(o.LineItems, li)
	}
	// The store assigns the id; Validate wants one.
	check := o
	check.ID = crmhub.NewID(crmhub.OrderIDPrefix)
	return o, check.Validate()
}

// failedOrderFields lists the fields whose values failed their transforms,
// with why, but for contact details, which an order is stored without.
// The reasons of amounts and times name their values; those are not
// personal data.
func failedOrderFields(rejected map[string]string) []string {
	var out []string
	for _, target := range slices.Sorted(maps.Keys(rejected)) {
		if target == "customer.email" || target == "customer.phone" || strings.HasPrefix(target, "attributes.") {
			continue
		}
		out = append(out, target+" ("+rejected[target]+")")
	}
	return out
}

// orderTimes fills what the record left out: an order was created when
// it was processed or last updated, at the latest, and was last updated
// when it was created, at the earliest. An order with no time at all
// cannot be ordered against its other versions.
func orderTimes(o *crmhub.Order) error {
	for _, t := range []time.Time{o.ProcessedAt, o.UpdatedAt} {
		if o.CreatedAt.IsZero() {
			o.CreatedAt = t
		}
	}
	if o.CreatedAt.IsZero() {
		return errors.New("no created_at, processed_at or updated_at; map one of them")
	}
	if o.UpdatedAt.IsZero() {
		o.UpdatedAt = o.CreatedAt
	}
	return nil
}

func lineItemOf(it map[string]string) (crmhub.LineItem, error) {
	li := crmhub.LineItem{SKU: it["sku"], Title: it["title"]}
	if v := it["quantity"]; v != "" {
		q, err := decimal.NewFromString(mapping.Digits(v))
		if err != nil || !q.IsInteger() {
			return li, fmt.Errorf("quantity %q is not a whole number", v)
		}
		li.Quantity = int(q.IntPart())
	}
	if v := it["unit_price"]; v != "" {
		d, err := decimal.NewFromString(v)
		if err != nil {
			return li, fmt.Errorf("unit_price %q is not an amount; map it with transform: decimal", v)
		}
		li.UnitPrice = d
	}
	return li, nil
}

// persistOrder writes a canonical order in one unit of work with its
// idempotency mark and announces the profile it belongs to, when one is
// known. An older version than the stored one changes nothing.
func (st *Stages) persistOrder(ctx context.Context, e crmhub.Envelope) ([]*message.Message, error) {
	var co canonicalOrder
	if err := json.Unmarshal(e.Payload, &co); err != nil {
		return nil, crmhub.Permanent(fmt.Errorf("decode canonical order %s of %s: %w", e.ExternalID, e.Source, err))
	}
	o := co.Order
	keys, err := st.orderSuppressionKeys(ctx, co)
	if err != nil {
		return nil, err
	}
	var profile string
	err = st.store.InTxShared(ctx, func(tx *store.Tx) error {
		profile = ""
		first, err := tx.MarkProcessed(ctx, HandlerPersist, e.IdempotencyKey)
		if err != nil || !first {
			return err
		}
		if dropped, err := st.dropErasedOrder(ctx, tx, o, keys); err != nil || dropped {
			return err
		}
		_, written, err := tx.UpsertOrder(ctx, o)
		if err != nil || !written {
			return err
		}
		profile, err = profileOf(ctx, tx, o)
		return err
	}, store.Relaxed())
	if err != nil {
		return nil, fmt.Errorf("persist order %s of %s: %w", e.ExternalID, e.Source, err)
	}
	return changedMessages(profile), nil
}

// persistOrderDeletion deletes an order in one unit of work with its
// idempotency mark and announces the profile it belonged to.
func (st *Stages) persistOrderDeletion(ctx context.Context, e crmhub.Envelope) ([]*message.Message, error) {
	var profile string
	err := st.store.InTxShared(ctx, func(tx *store.Tx) error {
		profile = ""
		first, err := tx.MarkProcessed(ctx, HandlerPersist, e.IdempotencyKey)
		if err != nil || !first {
			return err
		}
		prev, err := tx.Order(ctx, e.Source, e.ExternalID)
		switch {
		case err == nil:
			profile = prev.CustomerID
		case !errors.Is(err, crmhub.ErrNotFound):
			return err
		}
		_, err = tx.DeleteOrder(ctx, e.Source, e.ExternalID, e.ReceivedAt)
		return err
	}, store.Relaxed())
	if err != nil {
		return nil, fmt.Errorf("delete order %s of %s: %w", e.ExternalID, e.Source, err)
	}
	return changedMessages(profile), nil
}

// profileOf returns the profile an order belongs to now, "" when its
// customer is not known (yet).
func profileOf(ctx context.Context, tx *store.Tx, o crmhub.Order) (string, error) {
	if o.CustomerExternalID == "" {
		return o.CustomerID, nil
	}
	id, err := tx.CustomerIDByIdentity(ctx, o.Source, o.CustomerExternalID)
	if errors.Is(err, crmhub.ErrNotFound) {
		return o.CustomerID, nil
	}
	return id, err
}

func changedMessages(ids ...string) []*message.Message {
	var msgs []*message.Message
	for _, id := range ids {
		if id == "" {
			continue
		}
		b, _ := json.Marshal(changedPayload{CustomerID: id})
		msgs = append(msgs, message.NewMessage(watermill.NewUUID(), b))
	}
	return msgs
}

// OrderRebuild says what RebuildOrders did or, in a dry run, would do.
type OrderRebuild struct {
	// Records counts the order records of the landing table, every
	// version of every order.
	Records int `json:"records"`
	// Failed counts the records that no longer map.
	Failed int `json:"failed"`
	// Deletions counts the order deletions applied.
	Deletions int `json:"deletions"`
}

// RebuildOrders maps every order record of the landing table again, with
// the current mappings, and writes it, one page of the table per unit of
// work; deletions are applied again too. The table is read in landing
// order and UpsertOrder keeps the newest version of an order (by its
// updated_at) and never revives a deleted one, so what remains is the
// newest version of every order as the current mapping reads it. With
// dryRun it maps and counts, and writes nothing. Run it with the pipeline
// stopped, like the rest of a rebuild.
func (st *Stages) RebuildOrders(ctx context.Context, dryRun bool) (OrderRebuild, error) {
	var rep OrderRebuild
	for after := int64(0); ; {
		page, err := st.store.RawRecords(ctx, "", after, rawPage)
		if err != nil {
			return rep, err
		}
		if len(page) == 0 {
			return rep, nil
		}
		after = page[len(page)-1].ID
		orders, deletions := st.mapOrders(page, &rep)
		if dryRun || len(orders)+len(deletions) == 0 {
			continue
		}
		err = st.store.InTx(ctx, func(tx *store.Tx) error {
			for _, o := range orders {
				if _, _, err := tx.UpsertOrder(ctx, o); err != nil {
					return err
				}
			}
			for _, d := range deletions {
				if _, err := tx.DeleteOrder(ctx, d.Source, d.ExternalID, d.ReceivedAt); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return rep, fmt.Errorf("rebuild orders: %w", err)
		}
	}
}

// mapOrders maps the order records of one page of the landing table on
// all cores and picks its deletions, counting both into rep.
func (st *Stages) mapOrders(page []store.RawRecord, rep *OrderRebuild) ([]crmhub.Order, []store.RawRecord) {
	var todo []int
	var deletions []store.RawRecord
	for i, r := range page {
		switch crmhub.Entity(r.Entity) {
		case crmhub.EntityOrder:
			todo = append(todo, i)
		case crmhub.EntityOrderDeletion:
			deletions = append(deletions, r)
		}
	}
	mapped := make([]*crmhub.Order, len(todo))
	parallelEach(len(todo), func(j int) {
		r := page[todo[j]]
		e := crmhub.Envelope{Source: r.Source, SourceType: r.Meta["source_type"], Entity: crmhub.EntityOrder,
			ExternalID: r.ExternalID, Version: r.Version, ReceivedAt: r.ReceivedAt, Payload: r.Payload}
		m, _, err := st.mapped(e)
		if err != nil || m.Entity != crmhub.EntityOrder {
			return
		}
		if o, err := orderOf(r.Source, m); err == nil {
			mapped[j] = &o
		}
	})
	orders := make([]crmhub.Order, 0, len(todo))
	for _, o := range mapped {
		if o == nil {
			rep.Failed++
			continue
		}
		orders = append(orders, *o)
	}
	rep.Records += len(todo)
	rep.Deletions += len(deletions)
	return orders, deletions
}
