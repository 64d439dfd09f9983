package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/config"
	"github.com/crmhub/crmhub/connectors/meta"
	"github.com/crmhub/crmhub/connectors/sample"
	"github.com/crmhub/crmhub/connectors/shopify"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/pipeline/identity"
	"github.com/crmhub/crmhub/privacy"
	"github.com/crmhub/crmhub/store"
)

// mapSources compiles the mapping of every configured source. A source
// without a mapping of its own uses its connector's built-in one, when
// there is one.
func mapSources(cfg *config.Config) (map[string]pipeline.MapSource, error) {
	out := map[string]pipeline.MapSource{}
	for _, src := range cfg.Sources {
		ms := pipeline.MapSource{Source: identity.Source{Name: src.Name, Type: src.Type, Tenant: src.Tenant,
			DefaultRegion: src.DefaultRegion}}
		switch {
		case src.Type == shopify.SourceType:
			// A shop delivers customers, orders and more: each entity has
			// its mapping, and a mapping file replaces the built-in one of
			// its entity.
			byEntity, err := shopify.Mappings()
			if err != nil {
				return nil, err
			}
			if src.Mapping != "" {
				rules, err := mapping.Load(src.Mapping)
				if err != nil {
					return nil, fmt.Errorf("source %s: %w", src.Name, err)
				}
				byEntity[rules.Entity] = rules
			}
			ms.ByEntity = byEntity
			ms.Privacy = shopify.ReadPrivacy
		case src.Type == meta.SourceType:
			// A lead is mapped by the source's mapping file, else by the
			// built-in one; a lead that could not be read is kept, not
			// mapped.
			rules, err := meta.Mapping()
			if src.Mapping != "" {
				rules, err = mapping.Load(src.Mapping)
			}
			if err != nil {
				return nil, fmt.Errorf("source %s: %w", src.Name, err)
			}
			ms.ByEntity = map[crmhub.Entity]*mapping.Rules{rules.Entity: rules}
		case src.Mapping != "":
			rules, err := mapping.Load(src.Mapping)
			if err != nil {
				return nil, fmt.Errorf("source %s: %w", src.Name, err)
			}
			ms.Rules = rules
		case src.Type == "sample":
			// The sample connector imitates several systems; its sources
			// are added below under their own names.
			continue
		}
		out[src.Name] = ms
	}
	return out, nil
}

// addSampleSources adds the built-in mappings of the sample connector's
// sources. Its leads are Meta's: they are mapped as a meta source's are,
// unless the config has a source of that name (the demo's receiver).
func addSampleSources(out map[string]pipeline.MapSource) error {
	if _, ok := out[sample.SourceLeads]; !ok {
		rules, err := meta.Mapping()
		if err != nil {
			return err
		}
		out[sample.SourceLeads] = pipeline.MapSource{Rules: rules, Source: identity.Source{Name: sample.SourceLeads,
			Type: meta.SourceType, DefaultRegion: "AE"}}
	}
	for name, rules := range sample.Mappings() {
		r, err := mapping.Parse("sample/"+name+".yaml", rules)
		if err != nil {
			return fmt.Errorf("built-in mapping of %s: %w", name, err)
		}
		ms := pipeline.MapSource{Rules: r, Source: identity.Source{Name: name, Type: sample.SourceTypes[name],
			DefaultRegion: "AE"}}
		if ms.Source.Type == shopify.SourceType {
			// The sample shop delivers orders too: it is mapped as a shop
			// is, its own mapping replacing the built-in one of its entity.
			if ms.ByEntity, err = shopify.Mappings(); err != nil {
				return err
			}
			ms.ByEntity[r.Entity], ms.Rules, ms.Privacy = r, nil, shopify.ReadPrivacy
		}
		out[name] = ms
	}
	return nil
}

// newStages builds the map and persist stages for the app's config.
func (a *app) newStages(sources map[string]pipeline.MapSource) *pipeline.Stages {
	st := pipeline.NewStages(a.store, sources, a.identityResolver(), a.log)
	st.SetPrivacy(a.privacy())
	return st
}

// identityResolver returns the one identity resolver of the process, made
// on first use: the persist stage and the API's merges share it, and with
// it the match index of an embedded store, which takes seconds and
// hundreds of MiB per million records to load. Not safe for concurrent
// first use; commands wire it before they serve.
func (a *app) identityResolver() *identity.Resolver {
	if a.resolver == nil {
		a.resolver = identity.NewResolver(identity.ConfigFrom(a.cfg.Identity))
	}
	return a.resolver
}

// privacy builds the service that carries out privacy requests, from the
// webhooks of sources and from crmhub privacy.
func (a *app) privacy() *privacy.Service {
	opts := privacy.Options{Regions: map[string]string{}, Logger: a.log,
		Survivorship: identity.ConfigFrom(a.cfg.Identity).Survivorship}
	for _, s := range a.cfg.Sources {
		opts.Regions[s.Name] = s.DefaultRegion
	}
	for _, d := range a.cfg.Destinations {
		opts.Destinations = append(opts.Destinations, d.Name)
	}
	if a.bus != nil {
		opts.Messages = pipeline.MessageEraser(a.bus)
	}
	return privacy.New(a.store, opts)
}

// runUntil runs the stages until done reports true or ctx ends, then shuts
// the pipeline down. A nil done runs them until ctx ends.
func (a *app) runUntil(ctx context.Context, st *pipeline.Stages, done func(context.Context) (bool, error)) error {
	// A one-off run (import) reports what matters itself; the router's
	// start and stop chatter is left to debug logging.
	p, err := pipeline.New(a.store, a.bus, pipeline.Options{Logger: slog.New(minLevel{a.log.Handler(), slog.LevelWarn}),
		Metrics: a.metrics})
	if err != nil {
		return err
	}
	if err := st.Warm(ctx); err != nil {
		return err
	}
	st.Register(p)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- p.Run(runCtx) }()
	if done == nil {
		return ignoreCanceled(<-errc)
	}
	// done counts rows, which takes longer as the tables grow: it is
	// asked at most every 50 ms, and never takes more than a tenth of
	// the time, so that it does not slow the stages it waits for.
	tick := time.NewTimer(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-errc:
			if err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return ctx.Err()
		case <-tick.C:
			t0 := time.Now()
			ok, err := done(ctx)
			if err != nil {
				cancel()
				<-errc
				return err
			}
			if ok {
				cancel()
				return ignoreCanceled(<-errc)
			}
			tick.Reset(max(50*time.Millisecond, 10*time.Since(t0)))
		}
	}
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// settledCounts is how many messages had left the pipeline at one moment:
// resolved by the persist stage or dead-lettered.
type settledCounts struct {
	s               *store.Store
	processed, dead int64
}

func settledNow(ctx context.Context, s *store.Store) (settledCounts, error) {
	p, d, err := settled(ctx, s)
	return settledCounts{s: s, processed: p, dead: d}, err
}

// until returns a condition that holds once n more messages have left the
// pipeline.
func (c settledCounts) until(n int64) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		p, d, err := settled(ctx, c.s)
		return p-c.processed+d-c.dead >= n, err
	}
}

// settled counts what left the pipeline. It runs every few tens of
// milliseconds while a command waits for the stages, so it counts only
// the two tables it needs, not every table's rows.
func settled(ctx context.Context, s *store.Store) (processed, dead int64, err error) {
	if processed, err = s.CountProcessed(ctx, pipeline.HandlerPersist); err != nil {
		return 0, 0, err
	}
	dead, err = s.CountDeadLetters(ctx)
	return processed, dead, err
}

// minLevel drops records below a level.
type minLevel struct {
	slog.Handler
	level slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.level}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.level}
}
