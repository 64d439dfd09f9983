package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub/config"
	"github.com/crmhub/crmhub/pipeline"
)

// Delivery keys are kept this long: Shopify retries for 4 hours and is
// sometimes a day late. An older redelivery lands again, which changes
// nothing (the raw table and the stages are idempotent).
const (
	deliveryRetention = 7 * 24 * time.Hour
	pruneEvery        = time.Hour
)

func newRunCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Serve the API and webhooks and run the pipelines until SIGINT or SIGTERM",
		Long: `Run crmhub: the HTTP server (GET /healthz, the REST API under /api/v1 for tokens made
with 'crmhub token create', POST /webhooks/shopify/SOURCE for every shopify source with a
webhook_secret, POST /webhooks/in/SOURCE for every webhook source), the scheduled pulls of the shopify sources with a schedule (their
backfill first, when they have none; the pull catches what webhooks missed), and the
pipeline stages that turn landed records into profiles and push changed profiles to the
shopify destinations, whose erasure tasks it also carries out. On SIGINT or SIGTERM it stops accepting requests, answers the ones in flight, then
stops the pipeline; whatever was answered 200 is in the store and is processed on the next start
if the pipeline had not got to it.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			app, err := g.open(ctx, true)
			if err != nil {
				return err
			}
			defer app.close()
			return app.serve(ctx, serveOptions{})
		},
	}
}

// serveOptions adapt serve for commands that run crmhub with more around
// it (crmhub demo).
type serveOptions struct {
	// listener, when set, is served instead of listening on http.listen.
	listener net.Listener
	// started, when set, is called once the server and the pipeline are
	// running, with a context that ends when serve begins to stop. serve
	// waits for it to return before it stops.
	started func(ctx context.Context)
}

// serve runs the HTTP server and the pipeline until ctx ends or one of
// them fails. The server stops first, so that a delivery it accepted is
// landed before the pipeline and the store close.
func (a *app) serve(ctx context.Context, opts serveOptions) error {
	sources, err := mapSources(a.cfg)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(a.cfg.Sources, func(s config.SourceConfig) bool { return s.Type == "sample" }) {
		if err := addSampleSources(sources); err != nil {
			return err
		}
	}
	if a.pulls, err = a.newScheduler(); err != nil {
		return err
	}
	srv, err := a.newServer(pipeline.NewIngester(a.store, a.bus, true).WithMetrics(a.metrics), sources)
	if err != nil {
		return err
	}

	srvCtx, stopServer := context.WithCancel(ctx)
	defer stopServer()
	// The pipeline outlives ctx until the server has drained.
	pipeCtx, stopPipeline := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPipeline()
	st := a.newStages(sources)
	erasing, err := a.startDestinations(srvCtx, st)
	if err != nil {
		return err
	}
	pipeErr := make(chan error, 1)
	go func() {
		err := a.runUntil(pipeCtx, st, nil)
		if err != nil {
			stopServer()
		}
		pipeErr <- err
	}()
	pruned := make(chan struct{})
	go func() { a.pruneDeliveries(srvCtx); close(pruned) }()
	// Pulls stop with the server: what they committed stays committed,
	// with its checkpoint, and the pipeline resolves it.
	pulled := make(chan error, 1)
	go func() { pulled <- a.pulls.Run(srvCtx) }()

	a.log.Info("crmhub running", "sources", len(a.cfg.Sources))
	ln := opts.listener
	if ln == nil {
		var lc net.ListenConfig
		if ln, err = lc.Listen(srvCtx, "tcp", a.cfg.HTTP.Listen); err != nil {
			stopServer()
			stopPipeline()
			<-pruned
			erasing()
			return errors.Join(fmt.Errorf("http server: listen on %s: %w", a.cfg.HTTP.Listen, err), <-pulled, <-pipeErr)
		}
	}
	started := make(chan struct{})
	go func() {
		defer close(started)
		if opts.started != nil {
			opts.started(srvCtx)
		}
	}()
	srvErr := srv.Serve(srvCtx, ln)
	stopServer()
	<-started
	pullErr := <-pulled
	stopPipeline()
	<-pruned
	erasing()
	err = errors.Join(srvErr, pullErr, <-pipeErr)
	if err == nil {
		a.log.Info("crmhub stopped")
	}
	return err
}

// pruneDeliveries forgets old delivery keys now and every pruneEvery
// until ctx ends. A failure is logged and tried again next time.
func (a *app) pruneDeliveries(ctx context.Context) {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		if _, err := a.store.PruneDeliveries(ctx, time.Now().Add(-deliveryRetention)); err != nil && ctx.Err() == nil {
			a.log.Warn("prune delivery keys", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
