package main

import (
	"context"
	"encoding/json"
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
	"github.com/crmhub/crmhub/store"
)

func newSyncCmd(g *globals) *cobra.Command {
	var full bool
	cmd := &cobra.Command{
		Use:   "sync SOURCE",
		Short: "Pull the customers and orders a Shopify source changed since its last sync",
		Long: `Pull, over the GraphQL Admin API, the customers and then the orders (the source's streams)
of a shopify source updated since their checkpoints (minus the source's overlap, default 5m),
page by page; land each page with the checkpoint of its last record in one commit, then map
and resolve what is new. Each stream has a checkpoint of its own. An interrupted sync resumes
at its last commit; syncing again changes nothing unless Shopify changed something.

The first sync of a stream reads what changed within the source's backfill (default 60d) with
a Shopify bulk operation instead, streams its JSONL file into the store in batches, each with
how far the file got, and sets the stream's checkpoint to when the operation began; --full
reads all history that way, also for a source synced before. A bulk operation already running
with the same query (one an interrupted sync started) is taken over; a failed one's partial
data lands and a new operation takes over. Without the read_all_orders scope Shopify shows
only the last 60 days of orders.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.runSync(cmd.Context(), args[0], full)
		},
	}
	cmd.Flags().BoolVar(&full, "full", false, "backfill all history with a bulk operation, even for a source synced before")
	return cmd
}

// syncStream is one stream a sync pulls: first its backfill, when it
// needs one, then the incremental pull.
type syncStream struct {
	name    string
	bulk    *shopify.Backfill
	run     func(context.Context, func(shopify.Progress)) (shopify.Progress, error)
	gotBulk shopify.BulkProgress
	got     shopify.Progress
}

func (g *globals) runSync(ctx context.Context, sourceName string, full bool) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	src := cfg.Source(sourceName)
	switch {
	case src == nil || src.Type != shopify.SourceType:
		return usagef("%q is not a shopify source in %s; crmhub sync pulls shopify sources", sourceName, g.configPath)
	case !slices.Contains(src.Streams, shopify.StreamCustomers) && !slices.Contains(src.Streams, shopify.StreamOrders):
		return usagef("source %s pulls nothing (streams: %v); list customers, orders or both in its streams", sourceName, src.Streams)
	}
	app, err := g.open(ctx, true)
	if err != nil {
		return err
	}
	defer app.close()
	client, err := newShopifyClient(app.store, src, nil)
	if err != nil {
		return usageError{err}
	}
	sources, err := mapSources(app.cfg)
	if err != nil {
		return usageError{err}
	}
	before, err := app.store.Counts(ctx)
	if err != nil {
		return err
	}
	base, err := settleBase(ctx, app.store, src.Name, before.RawRecords)
	if err != nil {
		return err
	}
	streams, err := syncStreams(ctx, app, src, client, full, func(note string) { fprintf(g.stderr, "note: %s\n", note) })
	if err != nil {
		return err
	}
	var pullErr error
	for _, st := range streams {
		if pullErr = g.runStream(ctx, src.Name, st); pullErr != nil {
			break
		}
	}

	after, err := app.store.Counts(ctx)
	if err != nil {
		return errors.Join(pullErr, err)
	}
	// What the pull committed goes through the map and persist stages
	// now, even when the pull stopped early: it is landed and its
	// checkpoint saved. Records landed before were resolved then, but for
	// those of an earlier sync that was stopped before it resolved them.
	if landed := after.RawRecords - base.raw; landed > 0 {
		if err := app.runUntil(ctx, app.newStages(sources), base.until(landed)); err != nil {
			return errors.Join(pullErr, fmt.Errorf("resolve pulled records: %w", err))
		}
		if after, err = app.store.Counts(ctx); err != nil {
			return errors.Join(pullErr, err)
		}
	}
	if err := base.settled(ctx); err != nil {
		return errors.Join(pullErr, err)
	}
	pulled := make([]string, 0, len(streams))
	for _, st := range streams {
		var bulk string
		if st.gotBulk.Ran {
			bulk = fmt.Sprintf("%d %s in bulk, ", st.gotBulk.Records, st.name)
		}
		pulled = append(pulled, fmt.Sprintf("%s%d pages, %d %s", bulk, st.got.Pages, st.got.Records, st.name))
	}
	fprintf(g.stdout, "%s: %s; %d new to the raw table; %d profiles (%+d), %d merges (%+d), %d orders (%+d)\n",
		src.Name, strings.Join(pulled, ", "), after.RawRecords-before.RawRecords, after.Customers,
		after.Customers-before.Customers, after.Merges, after.Merges-before.Merges, after.Orders, after.Orders-before.Orders)
	if pullErr != nil {
		return fmt.Errorf("sync %s: %w", src.Name, pullErr)
	}
	for _, st := range streams {
		c := st.got.Cursor
		if c.UpdatedAt.IsZero() {
			c = st.gotBulk.Cursor
		}
		if c.UpdatedAt.IsZero() {
			continue
		}
		id := ""
		if c.ID != "" {
			id = ", id " + c.ID
		}
		fprintf(g.stdout, "checkpoint %s: updated_at %s%s\n", st.name, c.UpdatedAt.Format(time.RFC3339), id)
	}
	return nil
}

// runStream runs a stream's backfill, when it needs one, and then its
// incremental pull, with their progress on standard error.
func (g *globals) runStream(ctx context.Context, source string, st *syncStream) error {
	if st.bulk != nil {
		prog, waiting := newProgress(g.stderr), ""
		var err error
		st.gotBulk, err = st.bulk.Run(ctx, func(p shopify.BulkProgress) {
			if p.Waiting != "" && p.Waiting != waiting {
				// Said at once, and again only when it changes: a sync
				// that waits must say why.
				fprintf(g.stderr, "%s: %s: waiting for the app's other bulk operations on the shop: %s\n", source, st.name, p.Waiting)
			}
			waiting = p.Waiting
			if !prog.due() {
				return
			}
			if p.Records > 0 {
				prog.show(fmt.Sprintf("%d %s landed from bulk operation %s (%.0f/s)", p.Records, st.name, p.Operation, prog.rate(p.Records)))
			} else if p.Operation != "" {
				prog.show(fmt.Sprintf("bulk operation %s of %s: %s, %d objects", p.Operation, st.name, strings.ToLower(p.Status), p.Objects))
			}
		})
		if st.gotBulk.Ran {
			prog.finish(fmt.Sprintf("%d %s landed from bulk operations", st.gotBulk.Records, st.name))
		}
		if err != nil {
			return err
		}
	}
	prog := newProgress(g.stderr)
	var err error
	st.got, err = st.run(ctx, func(p shopify.Progress) {
		if prog.due() {
			prog.show(fmt.Sprintf("%d pages, %d %s (%.0f/s)", p.Pages, p.Records, st.name, prog.rate(p.Records)))
		}
	})
	prog.finish(fmt.Sprintf("%d pages, %d %s", st.got.Pages, st.got.Records, st.name))
	return err
}

// syncStreams builds the backfills and pulls of the source's streams,
// customers first, and notes when orders are asked for further back than
// Shopify shows them without read_all_orders.
func syncStreams(ctx context.Context, app *app, src *config.SourceConfig, client *shopify.Client, full bool, note func(string)) ([]*syncStream, error) {
	var since time.Time
	if src.Backfill > 0 {
		since = time.Now().Add(-time.Duration(src.Backfill))
	}
	pc := shopify.PullConfig{Source: src.Name, Since: since, Overlap: time.Duration(src.Overlap)}
	bc := shopify.BackfillConfig{Source: src.Name, Since: since, Full: full, APIVersion: src.APIVersion}
	if full {
		bc.Since = time.Time{}
	}
	land := pullLander{in: pipeline.NewIngester(app.store, app.bus, true).WithMetrics(app.metrics), source: src.Name}
	var out []*syncStream
	if slices.Contains(src.Streams, shopify.StreamCustomers) {
		st := &syncStream{name: shopify.StreamCustomers}
		p, err := shopify.NewCustomerPull(client, land, app.store, pc, app.log)
		if err != nil {
			return nil, err
		}
		if st.bulk, err = shopify.NewCustomerBackfill(client, land, app.store, bc, app.log); err != nil {
			return nil, err
		}
		st.run = p.Run
		out = append(out, st)
	}
	if slices.Contains(src.Streams, shopify.StreamOrders) {
		st := &syncStream{name: shopify.StreamOrders}
		p, err := shopify.NewOrderPull(client, land, app.store, pc, app.log)
		if err != nil {
			return nil, err
		}
		if st.bulk, err = shopify.NewOrderBackfill(client, land, app.store, bc, app.log); err != nil {
			return nil, err
		}
		st.run = p.Run
		out = append(out, st)
		_, err = app.store.Checkpoint(ctx, src.Name, shopify.StreamOrders)
		switch {
		case full:
			note("--full reaches past the last 60 days of orders, which is all Shopify shows " +
				"without the read_all_orders scope")
		case errors.Is(err, crmhub.ErrNotFound) && src.Backfill > readOrdersWindow:
			note(fmt.Sprintf("the backfill of %s reaches past the last 60 days of orders, which is all Shopify shows "+
				"without the read_all_orders scope", src.Backfill))
		}
	}
	return out, nil
}

// readOrdersWindow is how far back Shopify shows orders to an app without
// the read_all_orders scope.
const readOrdersWindow = config.Duration(60 * config.Day)

// pullLander lands a pull's pages through the pipeline's entry point,
// each with its checkpoint in the same commit; with no records it saves
// the checkpoint alone.
type pullLander struct {
	in     *pipeline.Ingester
	source string
}

func (l pullLander) Land(ctx context.Context, envs []crmhub.Envelope, stream, cursor string) error {
	return l.in.Ingest(ctx, envs, &pipeline.Checkpoint{Source: l.source, Stream: stream, Cursor: cursor})
}

// settleStream is the checkpoint stream under which a sync notes, until
// the records it landed are resolved, the counts it began with.
const settleStream = "sync.settle"

// syncBase is where a sync counts the records to resolve from.
type syncBase struct {
	settledCounts
	raw    int64
	source string
}

// settleMark is a syncBase as its checkpoint keeps it.
type settleMark struct {
	Raw       int64 `json:"raw"`
	Processed int64 `json:"processed"`
	Dead      int64 `json:"dead"`
}

// settleBase returns where the sync counts from: now, or when an earlier
// sync of the source began if that one stopped (was killed, say) before
// it resolved what it landed. The records it landed are in the raw table
// and on the bus, and are resolved by this sync.
func settleBase(ctx context.Context, s *store.Store, source string, raw int64) (syncBase, error) {
	b := syncBase{raw: raw, source: source}
	cp, err := s.Checkpoint(ctx, source, settleStream)
	if err == nil {
		var m settleMark
		if err := json.Unmarshal([]byte(cp.Cursor), &m); err != nil {
			return b, fmt.Errorf("read checkpoint %s/%s: %w", source, settleStream, err)
		}
		b.raw, b.settledCounts = m.Raw, settledCounts{s: s, processed: m.Processed, dead: m.Dead}
		return b, nil
	}
	if !errors.Is(err, crmhub.ErrNotFound) {
		return b, err
	}
	if b.settledCounts, err = settledNow(ctx, s); err != nil {
		return b, err
	}
	mark, err := json.Marshal(settleMark{Raw: raw, Processed: b.processed, Dead: b.dead})
	if err != nil {
		return b, err
	}
	return b, s.InTx(ctx, func(tx *store.Tx) error { return tx.SaveCheckpoint(ctx, source, settleStream, string(mark)) })
}

// settled forgets the base once what the sync landed is resolved.
func (b syncBase) settled(ctx context.Context) error {
	return b.s.InTx(ctx, func(tx *store.Tx) error { return tx.DeleteCheckpoint(ctx, b.source, settleStream) })
}
