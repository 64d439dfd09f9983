package shopify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/connectors"
	"github.com/crmhub/crmhub/store"
)

// DestinationType is the config type of a Shopify destination.
const DestinationType = "shopify"

// What a destination's push list may name.
const (
	PushTags       = "tags"
	PushMetafields = "metafields"
	// PushDiscounts (birthday discount codes) is accepted and not written
	// yet.
	PushDiscounts = "discounts"
)

// DestinationConfig configures a Destination.
type DestinationConfig struct {
	// Name is the configured destination name.
	Name string
	// Source is the shopify source whose shop the destination writes to:
	// a profile's customers of that source are the ones it updates.
	Source string
	// Push lists what it writes: PushTags, PushMetafields.
	Push []string
	// TagPrefix marks the tags it owns. Default DefaultTagPrefix.
	TagPrefix string
	// Client reaches the source's shop. Give it the shop's SharedBudget,
	// so that the destination and the source's pulls pace by one bucket.
	Client ClientConfig
}

// Destination writes what crmhub knows of a profile to its customers in
// one shop: tags under an owned prefix (see Tags) and metafields in
// namespace crmhub (see Metafields). It sends only what changed: it keeps
// what it wrote to each customer in the store (store.PushState), and a
// profile whose tags and metafields are what it wrote last costs no
// request. That is also the loop guard: its own write comes back as a
// customers/update webhook, the profile is resolved again and announced
// as changed, and the push that follows finds nothing to send.
//
// Tags are added and removed with tagsAdd and tagsRemove, which leave
// every other tag alone. What a customer has of crmhub's tags is what the
// destination wrote last, unless the customer as Shopify last delivered
// it (by webhook or pull) is newer than that write: then its tags are what
// the customer has, so that an owned tag the merchant removed comes back
// and a leftover one goes.
//
// A Destination sends one request at a time: the shop's rate limit is
// the bound anyway, and what it keeps of a customer is read and written
// in order. It is safe for concurrent use.
type Destination struct {
	cfg              DestinationConfig
	tags, metafields bool
	store            *store.Store
	log              *slog.Logger

	// slot is the one request at a time: taken with acquire, which
	// gives up when the caller's context ends.
	slot   chan struct{}
	client *Client
}

// NewDestination returns the destination cfg describes, keeping its state
// in s. It does no I/O.
func NewDestination(cfg DestinationConfig, s *store.Store, log *slog.Logger) (*Destination, error) {
	if cfg.Name == "" || cfg.Source == "" || s == nil {
		return nil, errors.New("shopify destination: a name, a source and a store are required")
	}
	if cfg.TagPrefix == "" {
		cfg.TagPrefix = DefaultTagPrefix
	}
	if strings.Contains(cfg.TagPrefix, ",") {
		return nil, fmt.Errorf("shopify destination %s: tag prefix %q holds a comma, which Shopify reads as a tag separator", cfg.Name, cfg.TagPrefix)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Destination{cfg: cfg, store: s, log: log.With("destination", cfg.Name, "connector", DestinationType),
		slot: make(chan struct{}, 1)}
	for _, p := range cfg.Push {
		switch p {
		case PushTags:
			d.tags = true
		case PushMetafields:
			d.metafields = true
		case PushDiscounts:
			d.log.Warn("shopify destination: discounts are not written yet; tags and metafields are")
		default:
			return nil, fmt.Errorf("shopify destination %s: unknown push item %q; known: %s, %s, %s", cfg.Name, p,
				PushTags, PushMetafields, PushDiscounts)
		}
	}
	c, err := NewClient(cfg.Client, log)
	if err != nil {
		return nil, fmt.Errorf("shopify destination %s: %w", cfg.Name, err)
	}
	d.client = c
	return d, nil
}

// acquire takes the destination's request slot, or returns ctx's error
// when ctx ends first.
func (d *Destination) acquire(ctx context.Context) error {
	select {
	case d.slot <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *Destination) release() { <-d.slot }

// Name returns the configured destination name.
func (d *Destination) Name() string { return d.cfg.Name }

// Push brings the profile's customers in the destination's shop up to
// date: for each of its identities in the destination's source, it sends
// the tags and metafields that changed, in one request, and records what
// it sent. A customer Shopify no longer has is skipped. Errors keep their
// kind: a permanent one (a refused request) is marked crmhub.Permanent.
func (d *Destination) Push(ctx context.Context, c crmhub.Customer) error {
	for _, id := range c.Identities {
		if id.Source != d.cfg.Source {
			continue
		}
		if err := d.pushCustomer(ctx, c, id.ExternalID); err != nil {
			return fmt.Errorf("push profile %s to shopify customer %s of %s: %w", c.ID, id.ExternalID, d.cfg.Source, err)
		}
	}
	return nil
}

// pushCustomer pushes the profile c to one of its customers.
func (d *Destination) pushCustomer(ctx context.Context, c crmhub.Customer, customerID string) error {
	if err := d.acquire(ctx); err != nil {
		return err
	}
	defer d.release()
	last, err := d.lastPush(ctx, customerID)
	if err != nil {
		return err
	}
	ch, next, err := d.plan(ctx, c, customerID, last)
	if err != nil || ch.empty() {
		return err
	}
	version, err := d.send(ctx, "gid://shopify/Customer/"+customerID, ch)
	if errors.Is(err, errCustomerGone) {
		d.log.Info("shopify customer no longer exists; nothing pushed", "customer", c.ID, "shopify_customer", customerID)
		return d.forget(ctx, customerID)
	}
	if err != nil {
		return err
	}
	if version == "" {
		version = last.version
	}
	d.log.Debug("pushed to shopify customer", "customer", c.ID, "shopify_customer", customerID,
		"tags_added", len(ch.addTags), "tags_removed", len(ch.removeTags), "metafields_set", len(ch.setMetafields),
		"metafields_deleted", len(ch.deleteMetafields))
	return d.remember(ctx, c.ID, customerID, next, version)
}

// plan returns what brings a customer from what it has of crmhub's to
// what the profile c says, and what the customer has once that is done.
func (d *Destination) plan(ctx context.Context, c crmhub.Customer, customerID string, last lastPush) (change, pushed, error) {
	var ch change
	next := last.pushed
	if d.tags {
		want := Tags(c, d.cfg.TagPrefix)
		known, err := d.knownTags(ctx, customerID, last)
		if err != nil {
			return change{}, pushed{}, err
		}
		ch.addTags, ch.removeTags = tagChange(want, known)
		next.Tags = want
	}
	if d.metafields {
		// Before the first write, what the customer has of crmhub's
		// namespace is not known: every value is set (metafieldsSet
		// overwrites), and nothing is deleted.
		want := Metafields(c)
		ch.setMetafields, ch.deleteMetafields = metafieldChange(want, last.pushed.Metafields)
		next.Metafields = want
	}
	return ch, next, nil
}

// lastPush is what the destination keeps of one customer.
type lastPush struct {
	pushed  pushed
	version string
	found   bool
}

// lastPush reads what the destination wrote to a customer last.
func (d *Destination) lastPush(ctx context.Context, customerID string) (lastPush, error) {
	ps, err := d.store.PushState(ctx, d.cfg.Name, d.cfg.Source, customerID)
	if errors.Is(err, crmhub.ErrNotFound) {
		return lastPush{}, nil
	}
	if err != nil {
		return lastPush{}, err
	}
	out := lastPush{version: ps.Version, found: true}
	if err := json.Unmarshal(ps.Pushed, &out.pushed); err != nil {
		return lastPush{}, fmt.Errorf("read what %s pushed to shopify customer %s: %w", d.cfg.Name, customerID, err)
	}
	return out, nil
}

// knownTags returns the owned tags the customer has, as well as crmhub
// knows: those of the customer as Shopify last delivered it when that is
// newer than the destination's last write (or there was none), else those
// the destination wrote.
func (d *Destination) knownTags(ctx context.Context, customerID string, last lastPush) ([]string, error) {
	tags, version, ok, err := d.landedTags(ctx, customerID)
	if err != nil {
		return nil, err
	}
	if ok && (!last.found || newer(version, last.version)) {
		return owned(tags, d.cfg.TagPrefix), nil
	}
	return last.pushed.Tags, nil
}

// landedTags returns the tags and version of the customer as Shopify last
// delivered it and crmhub resolved it; ok is false when there is none.
func (d *Destination) landedTags(ctx context.Context, customerID string) (tags []string, version string, ok bool, err error) {
	recs, err := d.store.IdentityRecords(ctx, []store.RecordKey{{Source: d.cfg.Source, ExternalID: customerID}})
	if err != nil || len(recs) == 0 {
		return nil, "", false, err
	}
	// The record as identity resolution keeps it: its canonical fields.
	var doc struct {
		Fields map[string][]string `json:"fields"`
	}
	if err := json.Unmarshal(recs[0].Doc, &doc); err != nil {
		return nil, "", false, fmt.Errorf("read stored record of shopify customer %s of %s: %w", customerID, d.cfg.Source, err)
	}
	return doc.Fields["tags"], recs[0].Version, true, nil
}

// remember records what was written to a customer.
func (d *Destination) remember(ctx context.Context, profileID, customerID string, p pushed, version string) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode what %s pushed: %w", d.cfg.Name, err)
	}
	return d.store.InTx(ctx, func(tx *store.Tx) error {
		return tx.PutPushState(ctx, store.PushState{Destination: d.cfg.Name, Source: d.cfg.Source, ExternalID: customerID,
			CustomerID: profileID, Pushed: b, Version: version})
	}, store.Relaxed())
}

// forget drops what the destination kept of a customer.
func (d *Destination) forget(ctx context.Context, customerID string) error {
	return d.store.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.DeletePushState(ctx, d.cfg.Name, d.cfg.Source, customerID)
		return err
	})
}

// errCustomerGone is Shopify saying that the customer does not exist.
var errCustomerGone = errors.New("shopify customer does not exist")

// userError is one of the userErrors of a mutation's payload.
type userError struct {
	Field   []string `json:"field"`
	Message string   `json:"message"`
}

// customerNode is a customer as a mutation's payload returns it.
type customerNode struct {
	ID        string   `json:"id"`
	Tags      []string `json:"tags"`
	UpdatedAt string   `json:"updatedAt"`
}

// pushPayload is the answer of a push request: one payload per mutation
// it carried.
type pushPayload struct {
	TagsRemove *struct {
		Node       *customerNode `json:"node"`
		UserErrors []userError   `json:"userErrors"`
	} `json:"tagsRemove"`
	TagsAdd *struct {
		Node       *customerNode `json:"node"`
		UserErrors []userError   `json:"userErrors"`
	} `json:"tagsAdd"`
	MetafieldsSet *struct {
		Metafields []struct {
			Key   string        `json:"key"`
			Owner *customerNode `json:"owner"`
		} `json:"metafields"`
		UserErrors []userError `json:"userErrors"`
	} `json:"metafieldsSet"`
	MetafieldsDelete *struct {
		UserErrors []userError `json:"userErrors"`
	} `json:"metafieldsDelete"`
}

// pushMutation is the request that makes ch on the customer gid: one
// mutation per kind of change, executed in order (tags removed before
// tags added). Every one of them can be repeated without harm, which is
// what makes the client's retries of a request whose answer was lost safe.
func pushMutation(gid string, ch change) (string, map[string]any) {
	var params, fields []string
	vars := map[string]any{}
	const node = "node { ... on Customer { id tags updatedAt } } userErrors { field message }"
	if len(ch.removeTags)+len(ch.addTags) > 0 {
		params, vars["id"] = append(params, "$id: ID!"), gid
	}
	if len(ch.removeTags) > 0 {
		params, vars["remove"] = append(params, "$remove: [String!]!"), ch.removeTags
		fields = append(fields, "tagsRemove(id: $id, tags: $remove) { "+node+" }")
	}
	if len(ch.addTags) > 0 {
		params, vars["add"] = append(params, "$add: [String!]!"), ch.addTags
		fields = append(fields, "tagsAdd(id: $id, tags: $add) { "+node+" }")
	}
	if len(ch.setMetafields) > 0 {
		var set []map[string]string
		for _, k := range slices.Sorted(maps.Keys(ch.setMetafields)) {
			m := ch.setMetafields[k]
			set = append(set, map[string]string{"ownerId": gid, "namespace": MetafieldNamespace, "key": k,
				"type": m.Type, "value": m.Value})
		}
		params, vars["set"] = append(params, "$set: [MetafieldsSetInput!]!"), set
		fields = append(fields, "metafieldsSet(metafields: $set) { metafields { key owner { ... on Customer { id tags updatedAt } } } userErrors { field message } }")
	}
	if len(ch.deleteMetafields) > 0 {
		var del []map[string]string
		for _, k := range ch.deleteMetafields {
			del = append(del, map[string]string{"ownerId": gid, "namespace": MetafieldNamespace, "key": k})
		}
		params, vars["delete"] = append(params, "$delete: [MetafieldIdentifierInput!]!"), del
		fields = append(fields, "metafieldsDelete(metafields: $delete) { deletedMetafields { key } userErrors { field message } }")
	}
	return "mutation CrmhubPush(" + strings.Join(params, ", ") + ") {\n  " + strings.Join(fields, "\n  ") + "\n}", vars
}

// send makes ch on the customer gid in one request and returns the
// customer's updatedAt after it, "" when the answer did not say. A
// customer Shopify does not have is errCustomerGone; a refused change is
// permanent.
func (d *Destination) send(ctx context.Context, gid string, ch change) (string, error) {
	if len(ch.setMetafields) > maxMetafieldsSet {
		return "", crmhub.Permanent(fmt.Errorf("%d metafields to set, more than the %d one request takes", len(ch.setMetafields), maxMetafieldsSet))
	}
	q, vars := pushMutation(gid, ch)
	d.client.expect(q, float64(strings.Count(q, "userErrors"))*mutationCost)
	var out pushPayload
	if err := d.client.Query(ctx, q, vars, &out); err != nil {
		return "", err
	}
	var errs []string
	version := ""
	note := func(op string, n *customerNode, ues []userError) {
		for _, ue := range ues {
			errs = append(errs, op+": "+strings.Join(ue.Field, ".")+": "+ue.Message)
		}
		if n != nil && newer(n.UpdatedAt, version) {
			version = n.UpdatedAt
		}
	}
	if p := out.TagsRemove; p != nil {
		note("tagsRemove", p.Node, p.UserErrors)
	}
	if p := out.TagsAdd; p != nil {
		note("tagsAdd", p.Node, p.UserErrors)
	}
	if p := out.MetafieldsSet; p != nil {
		note("metafieldsSet", nil, p.UserErrors)
		for _, m := range p.Metafields {
			note("metafieldsSet", m.Owner, nil)
		}
	}
	if p := out.MetafieldsDelete; p != nil {
		note("metafieldsDelete", nil, p.UserErrors)
	}
	if len(errs) == 0 {
		return version, nil
	}
	if gone(errs) {
		return "", errCustomerGone
	}
	return "", crmhub.Permanent(fmt.Errorf("shopify refused the change: %s", strings.Join(errs, "; ")))
}

// maxMetafieldsSet is the most metafields one metafieldsSet takes.
const maxMetafieldsSet = 25

// mutationCost is what Shopify charges for one mutation.
const mutationCost = 10

// expect tells the client what a query it has not sent yet will likely
// cost, so that even its first request is paced by the shop's budget;
// Shopify's count replaces the guess with the first answer. The caller
// holds the destination's slot: a Client is not safe for concurrent use.
func (c *Client) expect(query string, cost float64) {
	if _, ok := c.cost[query]; !ok {
		c.cost[query] = cost
	}
}

// gone reports whether user errors say that the customer does not exist.
func gone(errs []string) bool {
	for _, e := range errs {
		l := strings.ToLower(e)
		if !strings.Contains(l, "does not exist") && !strings.Contains(l, "not found") {
			return false
		}
	}
	return true
}

var (
	_ connectors.Destination = (*Destination)(nil)
	_ connectors.Eraser      = (*Destination)(nil)
)
