// Package shopify connects crmhub to Shopify shops: it receives a shop's
// webhooks, verified by their HMAC signature, and lands them for the
// pipeline; it pulls customers and orders over the GraphQL Admin API in
// the webhooks' shape; and it ships the built-in mappings of Shopify
// customers and orders.
//
// A connector does not import the pipeline: what lands a delivery is the
// Ingester interface, which pipeline.Ingester satisfies.
package shopify

import (
	"context"
	"embed"
	"fmt"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/mapping"
)

// SourceType is the config type of a Shopify source.
const SourceType = "shopify"

// Entities of landed deliveries that the pipeline does not map (yet): they
// are kept in the raw landing table with their topic, and nothing else
// happens to them.
const (
	// EntityCustomerDeletion is a customers/delete delivery.
	EntityCustomerDeletion crmhub.Entity = "customer_deletion"
	// EntityUnknown is a delivery of a topic this package does not know.
	EntityUnknown crmhub.Entity = "unknown"
)

// EntityOrderDeletion is an orders/delete delivery, under the deleted
// order's id: the pipeline deletes the order.
const EntityOrderDeletion = crmhub.EntityOrderDeletion

// Ingester makes accepted deliveries durable. pipeline.Ingester is the
// implementation; tests may use it too, on a real store.
type Ingester interface {
	// Receive lands and publishes envs unless a delivery with one of d's
	// keys was received before, and reports whether it was new. When it
	// returns nil the records are durable. It is safe for concurrent use.
	Receive(ctx context.Context, d crmhub.Delivery, envs []crmhub.Envelope) (fresh bool, err error)
}

//go:embed mappings/*.yaml
var mappingFiles embed.FS

// Mappings compiles the built-in mappings of a Shopify source, by the
// entity of the records they map: customers and orders. Records of other
// entities (customer deletions, unknown topics) are landed and left alone
// by the map stage; order deletions need no mapping, and privacy requests
// are read by ReadPrivacy.
func Mappings() (map[crmhub.Entity]*mapping.Rules, error) {
	out := map[crmhub.Entity]*mapping.Rules{}
	entries, err := mappingFiles.ReadDir("mappings")
	if err != nil {
		return nil, fmt.Errorf("read built-in shopify mappings: %w", err)
	}
	for _, e := range entries {
		b, err := mappingFiles.ReadFile("mappings/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("read built-in shopify mapping %s: %w", e.Name(), err)
		}
		r, err := mapping.Parse("shopify/"+e.Name(), b)
		if err != nil {
			return nil, fmt.Errorf("built-in shopify mapping: %w", err)
		}
		out[r.Entity] = r
	}
	return out, nil
}
