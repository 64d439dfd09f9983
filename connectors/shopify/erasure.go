package shopify

import (
	"context"
	"errors"
	"fmt"

	"github.com/crmhub/crmhub"
)

// Erase removes what the destination wrote about an erased person from
// their customers in its shop: the tags with its prefix and the metafields
// in namespace crmhub, whatever the destination's push list says now, and
// nothing else. It reads each customer first, so that it removes what is
// there, also what an earlier configuration wrote. A customer Shopify no
// longer has needs nothing.
//
// When the erasure came from the destination's own source as
// customers/redact or shop/redact, Shopify erases the shop's customer
// itself (or the shop uninstalled the app): nothing is sent.
func (d *Destination) Erase(ctx context.Context, e crmhub.Erasure) error {
	own := e.Source == d.cfg.Source && (e.Kind == crmhub.PrivacyRedact || e.Kind == crmhub.PrivacyShopRedact)
	for _, id := range e.Identities {
		if id.Source != d.cfg.Source {
			continue
		}
		if !own {
			if err := d.eraseCustomer(ctx, id.ExternalID); err != nil {
				return fmt.Errorf("erase profile %s from shopify customer %s of %s (task %d): %w", e.CustomerID,
					id.ExternalID, d.cfg.Source, e.Task, err)
			}
		}
		if err := d.acquire(ctx); err != nil {
			return err
		}
		err := d.forget(ctx, id.ExternalID)
		d.release()
		if err != nil {
			return err
		}
	}
	return nil
}

// ownedQuery reads a customer's tags and the metafields of one namespace.
const ownedQuery = `query CrmhubOwned($id: ID!, $namespace: String!) {
  customer(id: $id) {
    id
    tags
    metafields(namespace: $namespace, first: 25) { nodes { key } }
  }
}`

type ownedAnswer struct {
	Customer *struct {
		Tags       []string `json:"tags"`
		Metafields struct {
			Nodes []struct {
				Key string `json:"key"`
			} `json:"nodes"`
		} `json:"metafields"`
	} `json:"customer"`
}

// eraseCustomer removes the owned tags and metafields of one customer.
func (d *Destination) eraseCustomer(ctx context.Context, customerID string) error {
	if err := d.acquire(ctx); err != nil {
		return err
	}
	defer d.release()
	gid := "gid://shopify/Customer/" + customerID
	var a ownedAnswer
	d.client.expect(ownedQuery, 1+2+maxMetafieldsSet)
	if err := d.client.Query(ctx, ownedQuery, map[string]any{"id": gid, "namespace": MetafieldNamespace}, &a); err != nil {
		return err
	}
	if a.Customer == nil {
		return nil
	}
	ch := change{removeTags: owned(a.Customer.Tags, d.cfg.TagPrefix)}
	for _, n := range a.Customer.Metafields.Nodes {
		ch.deleteMetafields = append(ch.deleteMetafields, n.Key)
	}
	if ch.empty() {
		return nil
	}
	_, err := d.send(ctx, gid, ch)
	switch {
	case errors.Is(err, errCustomerGone):
		return nil
	case err != nil:
		return err
	}
	d.log.Info("removed crmhub's tags and metafields from a shopify customer", "shopify_customer", customerID,
		"tags", len(ch.removeTags), "metafields", len(ch.deleteMetafields))
	return nil
}
