package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/connectors/shopify"
	"github.com/crmhub/crmhub/pipeline"
)

func newSyncCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "sync SOURCE",
		Short: "Pull the customers a Shopify source changed since its last sync",
		Long: `Pull, over the GraphQL Admin API, the customers of a shopify source updated since its
checkpoint (minus the source's overlap, default 5m), page by page; land each page with the
checkpoint of its last customer in one commit, then map and resolve what is new. The first
sync reaches back as far as the source's backfill (default 60d). An interrupted sync resumes
at its last commit; syncing again changes nothing unless Shopify changed something.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.runSync(cmd.Context(), args[0])
		},
	}
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
	case !slices.Contains(src.Streams, "customers"):
		return usagef("source %s does not pull customers (streams: %v); add customers to its streams", sourceName, src.Streams)
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
	var since time.Time
	if src.Backfill > 0 {
		since = time.Now().Add(-time.Duration(src.Backfill))
	}
	pull, err := shopify.NewCustomerPull(client, pullLander{in: pipeline.NewIngester(app.store, app.bus, true)}, app.store,
		shopify.PullConfig{Source: src.Name, Since: since, Overlap: time.Duration(src.Overlap)}, app.log)
	if err != nil {
		return err
	}
	prog := newProgress(g.stderr)
	got, pullErr := pull.Run(ctx, func(p shopify.Progress) {
		if prog.due() {
			prog.show(fmt.Sprintf("%d pages, %d customers (%.0f/s)", p.Pages, p.Records, prog.rate(p.Records)))
		}
	})
	prog.finish(fmt.Sprintf("%d pages, %d customers", got.Pages, got.Records))

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
	fprintf(g.stdout, "%s: %d pages, %d customers, %d new to the raw table; %d profiles (%+d), %d merges (%+d)\n",
		src.Name, got.Pages, got.Records, after.RawRecords-before.RawRecords, after.Customers,
		after.Customers-before.Customers, after.Merges, after.Merges-before.Merges)
	if pullErr != nil {
		return fmt.Errorf("sync %s: %w", src.Name, pullErr)
	}
	if !got.Cursor.UpdatedAt.IsZero() {
		fprintf(g.stdout, "checkpoint: updated_at %s, id %s\n", got.Cursor.UpdatedAt.Format(time.RFC3339), got.Cursor.ID)
	}
	return nil
}

// pullLander lands a pull's pages through the pipeline's entry point,
// each with its checkpoint in the same commit.
type pullLander struct{ in *pipeline.Ingester }

func (l pullLander) Land(ctx context.Context, envs []crmhub.Envelope, stream, cursor string) error {
	if len(envs) == 0 {
		return nil
	}
	return l.in.Ingest(ctx, envs, &pipeline.Checkpoint{Source: envs[0].Source, Stream: stream, Cursor: cursor})
}
