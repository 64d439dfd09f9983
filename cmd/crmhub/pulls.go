package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/api"
	"github.com/crmhub/crmhub/config"
	"github.com/crmhub/crmhub/connectors"
	"github.com/crmhub/crmhub/connectors/shopify"
	"github.com/crmhub/crmhub/pipeline"
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

// apiConnectors shows the configured sources through the REST API, with
// what their pulls in this process did and where their streams stand, and
// starts their pulls.
type apiConnectors struct{ a *app }

var _ api.Connectors = apiConnectors{}

func (c apiConnectors) Connectors(ctx context.Context) ([]api.ConnectorStatus, error) {
	cps, err := c.a.store.Checkpoints(ctx)
	if err != nil {
		return nil, err
	}
	dead, err := c.a.store.DeadLettersBySource(ctx)
	if err != nil {
		return nil, err
	}
	jobs := map[string]connectors.JobStatus{}
	for _, j := range c.a.pulls.Status() {
		jobs[j.Name] = j
	}
	now := time.Now()
	out := make([]api.ConnectorStatus, 0, len(c.a.cfg.Sources))
	for _, src := range c.a.cfg.Sources {
		st := api.ConnectorStatus{Name: src.Name, Type: src.Type, DeadLetters: dead[src.Name], Streams: []api.StreamStatus{}}
		if j, ok := jobs[src.Name]; ok {
			if j.Every > 0 {
				st.Schedule = src.Schedule.String()
			}
			st.Running, st.LastError, st.Errors, st.Records = j.Running, j.LastError, j.Failures, j.Records
			st.LastStarted, st.LastFinished = timeOrNil(j.LastStarted), timeOrNil(j.LastFinished)
		}
		for _, cp := range cps {
			if cp.Source != src.Name || cp.Stream == settleStream {
				continue
			}
			st.Streams = append(st.Streams, api.StreamStatus{Stream: cp.Stream, Cursor: cp.Cursor,
				UpdatedAt: timeOrNil(cp.UpdatedAt), Lag: now.Sub(pipeline.CheckpointTime(cp)).Round(time.Second)})
		}
		out = append(out, st)
	}
	return out, nil
}

func (c apiConnectors) Sync(_ context.Context, name string) error {
	src := c.a.cfg.Source(name)
	if src == nil {
		return fmt.Errorf("no source %q in the config: %w", name, crmhub.ErrNotFound)
	}
	err := c.a.pulls.Trigger(name)
	if errors.Is(err, crmhub.ErrNotFound) {
		return fmt.Errorf("source %s is not pulled by crmhub run (a %s source needs streams and credentials to be): %w",
			name, src.Type, crmhub.ErrInvalid)
	}
	return err
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
