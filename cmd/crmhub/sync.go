package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/config"
	"github.com/crmhub/crmhub/connectors/shopify"
	"github.com/crmhub/crmhub/pipeline"
)

func newSyncCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "sync SOURCE",
		Short: "Pull the customers and orders a Shopify source changed since its last sync",
		Long: `Pull, over the GraphQL Admin API, the customers and then the orders (the source's streams)
of a shopify source updated since their checkpoints (minus the source's overlap, default 5m),
page by page; land each page with the checkpoint of its last record in one commit, then map
and resolve what is new. Each stream has a checkpoint of its own. The first sync reaches back
as far as the source's backfill (default 60d); without the read_all_orders scope Shopify shows
only the last 60 days of orders. An interrupted sync resumes at its last commit; syncing again
changes nothing unless Shopify changed something.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.runSync(cmd.Context(), args[0])
		},
	}
}

// syncStream is one stream a sync pulls.
type syncStream struct {
	name string
	run  func(context.Context, func(shopify.Progress)) (shopify.Progress, error)
	got  shopify.Progress
}

func (g *globals) runSync(ctx context.Context, sourceName string) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	src := cfg.Source(sourceName)
	switch {
	case src == nil || src.Type != shopify.SourceType:
		return usagef("%q is not a shopify source in %s; crmhub sync pulls shopify sources", sourceName, g.configPath)
	case src.AccessToken == "":
		return usagef("source %s authenticates with client_id and client_secret, which crmhub sync does not support yet; "+
			"give it an access_token: ${...} of a custom app instead", sourceName)
	case !slices.Contains(src.Streams, shopify.StreamCustomers) && !slices.Contains(src.Streams, shopify.StreamOrders):
		return usagef("source %s pulls nothing (streams: %v); list customers, orders or both in its streams", sourceName, src.Streams)
	}
	client, err := shopify.NewClient(shopify.ClientConfig{Shop: src.Shop, AccessToken: src.AccessToken.Reveal(),
		APIVersion: src.APIVersion, BaseURL: src.BaseURL}, nil)
	if err != nil {
		return usageError{err}
	}

	app, err := g.open(ctx, true)
	if err != nil {
		return err
	}
	defer app.close()
	sources, err := mapSources(app.cfg)
	if err != nil {
		return usageError{err}
	}
	before, err := app.store.Counts(ctx)
	if err != nil {
		return err
	}
	base, err := settledNow(ctx, app.store)
	if err != nil {
		return err
	}
	streams, err := g.syncStreams(ctx, app, src, client)
	if err != nil {
		return err
	}
	var pullErr error
	for _, st := range streams {
		prog := newProgress(g.stderr)
		st.got, pullErr = st.run(ctx, func(p shopify.Progress) {
			if prog.due() {
				prog.show(fmt.Sprintf("%d pages, %d %s (%.0f/s)", p.Pages, p.Records, st.name, prog.rate(p.Records)))
			}
		})
		prog.finish(fmt.Sprintf("%d pages, %d %s", st.got.Pages, st.got.Records, st.name))
		if pullErr != nil {
			break
		}
	}

	after, err := app.store.Counts(ctx)
	if err != nil {
		return errors.Join(pullErr, err)
	}
	// What the pull committed goes through the map and persist stages
	// now, even when the pull stopped early: it is landed and its
	// checkpoint saved. Records landed before were resolved then.
	if landed := after.RawRecords - before.RawRecords; landed > 0 {
		if err := app.runUntil(ctx, app.newStages(sources), base.until(landed)); err != nil {
			return errors.Join(pullErr, fmt.Errorf("resolve pulled records: %w", err))
		}
		if after, err = app.store.Counts(ctx); err != nil {
			return errors.Join(pullErr, err)
		}
	}
	pulled := make([]string, 0, len(streams))
	for _, st := range streams {
		pulled = append(pulled, fmt.Sprintf("%d pages, %d %s", st.got.Pages, st.got.Records, st.name))
	}
	fprintf(g.stdout, "%s: %s; %d new to the raw table; %d profiles (%+d), %d merges (%+d), %d orders (%+d)\n",
		src.Name, strings.Join(pulled, ", "), after.RawRecords-before.RawRecords, after.Customers,
		after.Customers-before.Customers, after.Merges, after.Merges-before.Merges, after.Orders, after.Orders-before.Orders)
	if pullErr != nil {
		return fmt.Errorf("sync %s: %w", src.Name, pullErr)
	}
	for _, st := range streams {
		if c := st.got.Cursor; !c.UpdatedAt.IsZero() {
			fprintf(g.stdout, "checkpoint %s: updated_at %s, id %s\n", st.name, c.UpdatedAt.Format(time.RFC3339), c.ID)
		}
	}
	return nil
}

// syncStreams builds the pulls of the source's streams, customers first,
// and says when the first pull of orders reaches back further than
// Shopify shows orders without read_all_orders.
func (g *globals) syncStreams(ctx context.Context, app *app, src *config.SourceConfig, client *shopify.Client) ([]*syncStream, error) {
	var since time.Time
	if src.Backfill > 0 {
		since = time.Now().Add(-time.Duration(src.Backfill))
	}
	pc := shopify.PullConfig{Source: src.Name, Since: since, Overlap: time.Duration(src.Overlap)}
	land := pullLander{in: pipeline.NewIngester(app.store, app.bus, true)}
	var out []*syncStream
	if slices.Contains(src.Streams, shopify.StreamCustomers) {
		p, err := shopify.NewCustomerPull(client, land, app.store, pc, app.log)
		if err != nil {
			return nil, err
		}
		out = append(out, &syncStream{name: shopify.StreamCustomers, run: p.Run})
	}
	if slices.Contains(src.Streams, shopify.StreamOrders) {
		p, err := shopify.NewOrderPull(client, land, app.store, pc, app.log)
		if err != nil {
			return nil, err
		}
		out = append(out, &syncStream{name: shopify.StreamOrders, run: p.Run})
		_, err = app.store.Checkpoint(ctx, src.Name, shopify.StreamOrders)
		if errors.Is(err, crmhub.ErrNotFound) && src.Backfill > readOrdersWindow {
			fprintf(g.stderr, "note: the backfill of %s reaches past the last 60 days of orders, which is all Shopify shows "+
				"without the read_all_orders scope\n", src.Backfill)
		}
	}
	return out, nil
}

// readOrdersWindow is how far back Shopify shows orders to an app without
// the read_all_orders scope.
const readOrdersWindow = config.Duration(60 * config.Day)

// pullLander lands a pull's pages through the pipeline's entry point,
// each with its checkpoint in the same commit.
type pullLander struct{ in *pipeline.Ingester }

func (l pullLander) Land(ctx context.Context, envs []crmhub.Envelope, stream, cursor string) error {
	if len(envs) == 0 {
		return nil
	}
	return l.in.Ingest(ctx, envs, &pipeline.Checkpoint{Source: envs[0].Source, Stream: stream, Cursor: cursor})
}
