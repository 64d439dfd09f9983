package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/time/rate"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/api"
	"github.com/crmhub/crmhub/connectors/meta"
	"github.com/crmhub/crmhub/connectors/shopify"
	"github.com/crmhub/crmhub/connectors/webhook"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/pipeline/identity"
	"github.com/crmhub/crmhub/store"
)

// newServer builds the HTTP server with the REST API, GET /readyz, a
// webhook receiver for every shopify source that has a webhook secret and
// one for every webhook source, whose records sources maps.
// The API's merges run on the resolver the pipeline's stages get.
func (a *app) newServer(in *pipeline.Ingester, sources map[string]pipeline.MapSource) (*api.Server, error) {
	h := a.cfg.HTTP
	srv, err := api.New(api.Options{Addr: h.Listen, ReadTimeout: time.Duration(h.ReadTimeout),
		WriteTimeout: time.Duration(h.WriteTimeout), IdleTimeout: time.Duration(h.IdleTimeout),
		MaxBodyBytes: h.MaxBodyBytes, Logger: a.log})
	if err != nil {
		return nil, err
	}
	opts := api.RESTOptions{Store: a.store, Logger: a.log,
		Replay:      func(ctx context.Context, id int64) error { return pipeline.Replay(ctx, a.store, a.bus, id) },
		Identity:    apiIdentity{store: a.store, ann: pipeline.NewAnnouncer(a.bus, true), res: a.identityResolver()},
		MaxPageSize: h.PageSizeMax, RateLimit: rate.Limit(h.RateLimit), RateBurst: h.RateBurst}
	if a.pulls != nil {
		opts.Connectors = apiConnectors{a}
	}
	rest, err := api.NewREST(opts)
	if err != nil {
		return nil, err
	}
	srv.Handle(api.RESTPattern, rest)
	srv.Handle(api.ReadyPattern, api.Ready(a.log, a.store.Ping))
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
	if err := a.mountMetaSources(srv, in, sources); err != nil {
		return nil, err
	}
	return srv, a.mountWebhookSources(srv, in, sources)
}

// mountMetaSources serves GET|POST /webhooks/meta/SOURCE for every meta
// source: Meta's subscription check and its leadgen webhooks, whose leads
// are read from the Graph API with the source's token.
func (a *app) mountMetaSources(srv *api.Server, in meta.Ingester, sources map[string]pipeline.MapSource) error {
	var ms []meta.Source
	for _, s := range a.cfg.Sources {
		if s.Type != meta.SourceType {
			continue
		}
		rules := sources[s.Name].ByEntity[crmhub.EntityCustomer]
		if rules == nil {
			return fmt.Errorf("meta source %s has no mapping of customers", s.Name)
		}
		client, err := meta.NewClient(meta.ClientConfig{AccessToken: s.AccessToken.Reveal(), AppSecret: s.AppSecret.Reveal(),
			APIVersion: s.APIVersion, BaseURL: s.BaseURL})
		if err != nil {
			return fmt.Errorf("source %s: %w", s.Name, err)
		}
		ms = append(ms, meta.Source{Name: s.Name, AppSecrets: []string{s.AppSecret.Reveal()}, VerifyToken: s.VerifyToken.Reveal(),
			PageID: s.PageID, Leads: client, Rules: rules, Options: mapping.Options{DefaultRegion: s.DefaultRegion}})
		a.log.Info("receiving meta lead ads webhooks", "source", s.Name, "path", "/webhooks/meta/"+s.Name)
	}
	if len(ms) == 0 {
		return nil
	}
	rc, err := meta.New(in, a.log, ms...)
	if err != nil {
		return err
	}
	srv.Handle(meta.Pattern, rc)
	return nil
}

// mountWebhookSources serves POST /webhooks/in/SOURCE for every webhook
// source (an ERP, an MIS), with the mapping its records are mapped with.
func (a *app) mountWebhookSources(srv *api.Server, in webhook.Ingester, sources map[string]pipeline.MapSource) error {
	var ws []webhook.Source
	for _, s := range a.cfg.Sources {
		if s.Type != webhook.SourceType {
			continue
		}
		ms, ok := sources[s.Name]
		if !ok || ms.Rules == nil {
			return fmt.Errorf("webhook source %s has no mapping", s.Name)
		}
		ws = append(ws, webhook.Source{Name: s.Name, Secrets: []string{s.Secret.Reveal()}, SignatureHeader: s.SignatureHeader,
			Rules: ms.Rules, Options: mapping.Options{DefaultRegion: s.DefaultRegion}})
		a.log.Info("receiving webhooks", "source", s.Name, "path", "/webhooks/in/"+s.Name,
			"signature_header", s.SignatureHeader)
	}
	if len(ws) == 0 {
		return nil
	}
	rc, err := webhook.New(in, a.log, ws...)
	if err != nil {
		return err
	}
	srv.Handle(webhook.Pattern, rc)
	return nil
}

// apiIdentity carries out the REST API's merges and unmerges as `crmhub
// merge` and `crmhub unmerge` do, with the resolver the persist stage
// uses (see app.identityResolver).
type apiIdentity struct {
	store *store.Store
	ann   *pipeline.Announcer
	res   *identity.Resolver
}

var _ api.Identity = apiIdentity{}

func (i apiIdentity) Merge(ctx context.Context, a, b, actor, reason string) (api.IdentityOutcome, error) {
	return i.do(ctx, func(ctx context.Context, res *identity.Resolver, tx *store.Tx) (identity.Outcome, error) {
		return res.ForceMerge(ctx, tx, a, b, actor, reason)
	})
}

func (i apiIdentity) Unmerge(ctx context.Context, id, mergeID, actor string) (api.IdentityOutcome, error) {
	undone := mergeID
	out, err := i.do(ctx, func(ctx context.Context, res *identity.Resolver, tx *store.Tx) (identity.Outcome, error) {
		if _, err := tx.Customer(ctx, id); err != nil {
			return identity.Outcome{}, err
		}
		if undone == "" {
			latest, err := latestMerge(ctx, tx, id)
			if err != nil {
				return identity.Outcome{}, err
			}
			if latest == "" {
				return identity.Outcome{}, fmt.Errorf("profile %s has no merge to undo; name records to split off: %w", id, crmhub.ErrConflict)
			}
			undone = latest
		} else {
			m, err := tx.Merge(ctx, undone)
			if err != nil {
				return identity.Outcome{}, err
			}
			if m.SurvivorID != id && !slices.Contains(m.MergedIDs, id) {
				return identity.Outcome{}, fmt.Errorf("merge %s did not merge profile %s: %w", undone, id, crmhub.ErrInvalid)
			}
		}
		return res.Unmerge(ctx, tx, undone, actor)
	})
	out.Undone = undone
	return out, err
}

func (i apiIdentity) SplitOff(ctx context.Context, id string, records []string, actor string) (api.IdentityOutcome, error) {
	return i.do(ctx, func(ctx context.Context, res *identity.Resolver, tx *store.Tx) (identity.Outcome, error) {
		if _, err := tx.Customer(ctx, id); err != nil {
			return identity.Outcome{}, err
		}
		keys := make([]identity.Key, len(records))
		stored := make([]store.RecordKey, len(records))
		for n, r := range records {
			k, ok := identity.ParseKey(r)
			if !ok {
				return identity.Outcome{}, fmt.Errorf("record %q: want source:external_id: %w", r, crmhub.ErrInvalid)
			}
			keys[n], stored[n] = k, store.RecordKey(k)
		}
		recs, err := tx.IdentityRecords(ctx, stored)
		if err != nil {
			return identity.Outcome{}, err
		}
		for _, r := range recs {
			if r.CustomerID != id {
				return identity.Outcome{}, fmt.Errorf("record %s belongs to profile %s, not %s: %w", r.RecordKey, r.CustomerID, id, crmhub.ErrInvalid)
			}
		}
		return res.SplitOff(ctx, tx, keys, actor)
	})
}

// do runs op as the CLI does and says what it did in the API's terms. A
// merge that did not record its sides cannot be undone as a whole: a
// conflict the client can resolve by naming records.
func (i apiIdentity) do(ctx context.Context, op identityFunc) (api.IdentityOutcome, error) {
	out, err := changeIdentity(ctx, i.store, i.ann, i.res, op)
	if errors.Is(err, identity.ErrNoSides) {
		err = fmt.Errorf("%w: %w", err, crmhub.ErrConflict)
	}
	if err != nil {
		return api.IdentityOutcome{}, err
	}
	return api.IdentityOutcome{Merges: out.Merges, Changed: out.Changed}, nil
}
