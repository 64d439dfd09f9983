package main

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub/api"
	"github.com/crmhub/crmhub/config"
	"github.com/crmhub/crmhub/connectors/shopify"
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
webhook_secret) and the pipeline stages that turn landed records into
profiles and push changed profiles to the shopify destinations, whose erasure tasks it
also carries out. On SIGINT or SIGTERM it stops accepting requests, answers the ones in flight, then
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
			return app.serve(ctx)
		},
	}
}

// serve runs the HTTP server and the pipeline until ctx ends or one of
// them fails. The server stops first, so that a delivery it accepted is
// landed before the pipeline and the store close.
func (a *app) serve(ctx context.Context) error {
	sources, err := mapSources(a.cfg)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(a.cfg.Sources, func(s config.SourceConfig) bool { return s.Type == "sample" }) {
		if err := addSampleSources(sources); err != nil {
			return err
		}
	}
	srv, err := a.newServer(pipeline.NewIngester(a.store, a.bus, true))
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

	a.log.Info("crmhub running", "sources", len(a.cfg.Sources))
	srvErr := srv.Run(srvCtx)
	stopServer()
	stopPipeline()
	<-pruned
	erasing()
	err = errors.Join(srvErr, <-pipeErr)
	if err == nil {
		a.log.Info("crmhub stopped")
	}
	return err
}

// newServer builds the HTTP server with the REST API and a webhook
// receiver for every shopify source that has a webhook secret.
func (a *app) newServer(in shopify.Ingester) (*api.Server, error) {
	h := a.cfg.HTTP
	srv, err := api.New(api.Options{Addr: h.Listen, ReadTimeout: time.Duration(h.ReadTimeout),
		WriteTimeout: time.Duration(h.WriteTimeout), IdleTimeout: time.Duration(h.IdleTimeout),
		MaxBodyBytes: h.MaxBodyBytes, Logger: a.log})
	if err != nil {
		return nil, err
	}
	rest, err := api.NewREST(api.RESTOptions{Store: a.store, Logger: a.log,
		Replay: func(ctx context.Context, id int64) error { return pipeline.Replay(ctx, a.store, a.bus, id) }})
	if err != nil {
		return nil, err
	}
	srv.Handle(api.RESTPattern, rest)
	if err := a.mountShopifyInstall(srv); err != nil {
		return nil, err
	}
	if err := a.mountMetrics(srv); err != nil {
		return nil, err
	}
	var shops []shopify.WebhookSource
	for _, s := range a.cfg.Sources {
		if s.Type != shopify.SourceType {
			continue
		}
		secret := s.WebhookSecret
		if secret == "" {
			// An app signs its webhooks with its client secret.
			secret = s.ClientSecret
		}
		if secret == "" {
			a.log.Warn("shopify source has no webhook_secret: its webhooks are refused", "source", s.Name)
			continue
		}
		ws := shopify.WebhookSource{Name: s.Name, Shop: s.Shop, Secrets: []string{secret.Reveal()}}
		for _, p := range s.WebhookSecretsPrevious {
			ws.Secrets = append(ws.Secrets, p.Reveal())
		}
		shops = append(shops, ws)
		a.log.Info("receiving shopify webhooks", "source", s.Name, "path", "/webhooks/shopify/"+s.Name,
			"secrets", len(ws.Secrets))
	}
	if len(shops) > 0 {
		wh, err := shopify.NewWebhooks(in, a.log, shops...)
		if err != nil {
			return nil, err
		}
		srv.Handle(shopify.Pattern, wh)
	}
	return srv, nil
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
