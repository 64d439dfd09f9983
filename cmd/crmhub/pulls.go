package main

import (
	"context"
	"time"

	"github.com/crmhub/crmhub/config"
	"github.com/crmhub/crmhub/connectors"
	"github.com/crmhub/crmhub/connectors/shopify"
)

// newScheduler returns the scheduler of the sources crmhub run pulls: every
// shopify source that has streams and a way to authenticate, every
// schedule apart (webhooks bring changes as they happen; the pull catches
// what they missed), or only when asked through the API when it has no
// schedule.
func (a *app) newScheduler() (*connectors.Scheduler, error) {
	var jobs []connectors.Job
	for i := range a.cfg.Sources {
		src := &a.cfg.Sources[i]
		if src.Type != shopify.SourceType || len(src.Streams) == 0 {
			continue
		}
		if src.AccessToken == "" && src.ClientID == "" && src.Auth != config.ShopifyAuthInstall {
			if src.Schedule > 0 {
				a.log.Warn("shopify source has a schedule but no credentials: it is not pulled", "source", src.Name)
			}
			continue
		}
		jobs = append(jobs, connectors.Job{Name: src.Name, Type: src.Type, Every: time.Duration(src.Schedule),
			Pull: func(ctx context.Context) (int64, error) { return a.pullShopify(ctx, src) }})
		if src.Schedule > 0 {
			a.log.Info("pulling on a schedule", "source", src.Name, "every", time.Duration(src.Schedule))
		}
	}
	return connectors.NewScheduler(a.log, jobs...)
}

// pullShopify runs a sync of a shopify source inside crmhub run: the
// backfill of a stream that has none, then the incremental pull, landing
// page by page. The running pipeline resolves what lands. Its requests
// draw on the shop's budget that the source's pushes share.
func (a *app) pullShopify(ctx context.Context, src *config.SourceConfig) (int64, error) {
	client, err := newShopifyClient(a.store, src, a.log)
	if err != nil {
		return 0, err
	}
	streams, err := syncStreams(ctx, a, src, client, false, func(note string) { a.log.Warn(note, "source", src.Name) })
	if err != nil {
		return 0, err
	}
	var n int64
	for _, st := range streams {
		if st.bulk != nil {
			got, err := st.bulk.Run(ctx, nil)
			n += int64(got.Records)
			if err != nil {
				return n, err
			}
		}
		got, err := st.run(ctx, nil)
		n += int64(got.Records)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
