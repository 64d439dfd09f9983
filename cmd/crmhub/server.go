package main

import (
	"context"
	"time"

	"github.com/crmhub/crmhub/api"
	"github.com/crmhub/crmhub/connectors/shopify"
	"github.com/crmhub/crmhub/pipeline"
)

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
