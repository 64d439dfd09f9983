package pipeline

import (
	"cmp"
	"context"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/crmhub/store"
)

// Reconciliation: which way each change reached crmhub first.
//
// A change is a new version of a record: a (source, entity, external id,
// version) with a non-empty version that no landed record had before. The
// Ingester counts each one, per source, under the channel that landed it
// first, in the unit of work that lands it:
//
//   - webhook: a delivery the source pushed (Ingester.Receive);
//   - pull: a pull (Ingester.Ingest: a sync, the scheduled reconciliation
//     pull, an import) found it before any webhook did;
//   - backfill: a pull found it, and its version is an RFC 3339 time
//     before the source's first counted change: history from before
//     crmhub listened, which no webhook could have brought.
//
// The share of changes that arrived by webhook first is then
// webhook / (webhook + pull): what the webhooks delivered on their own, as
// against what the reconciliation pull had to catch. A version that is a
// time is compared as the instant it names: Shopify writes updated_at in
// the shop's zone in webhooks and in UTC in the GraphQL Admin API. On
// PostgreSQL a webhook and a pull that land one change at the same instant
// may both count it.

// countChanges counts the changes among recs, which are about to be
// landed in tx; pushed says they came by a delivery.
func countChanges(ctx context.Context, tx *store.Tx, recs []store.RawRecord, pushed bool, now time.Time) error {
	fresh, err := tx.NewVersions(ctx, recs)
	if err != nil {
		return err
	}
	counts := map[[2]string]int64{}
	var since map[string]time.Time
	for i, r := range recs {
		if !fresh[i] {
			continue
		}
		channel := store.ChannelWebhook
		if !pushed {
			if since == nil {
				if since, err = tx.ChangesSince(ctx, sourcesOf(recs)); err != nil {
					return err
				}
			}
			channel = pulledChannel(r.Version, since, r.Source, now)
		}
		counts[[2]string{r.Source, channel}]++
	}
	for _, k := range slices.SortedFunc(maps.Keys(counts), compareKeys) {
		if err := tx.AddChanges(ctx, k[0], k[1], counts[k], now); err != nil {
			return err
		}
	}
	return nil
}

// pulledChannel says whether a change a pull found first is history
// (backfill) or a change the webhooks missed (pull). Counting starts for
// a source with its first change, now when it has none yet.
func pulledChannel(version string, since map[string]time.Time, source string, now time.Time) string {
	start, ok := since[source]
	if !ok {
		start = now
	}
	at, err := time.Parse(time.RFC3339Nano, version)
	if err == nil && at.Before(start) {
		return store.ChannelBackfill
	}
	return store.ChannelPull
}

func sourcesOf(recs []store.RawRecord) []string {
	set := map[string]bool{}
	for _, r := range recs {
		set[r.Source] = true
	}
	return slices.Sorted(maps.Keys(set))
}

func compareKeys(a, b [2]string) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) }

// WebhookFirstShare is the share of a source's changes that arrived by
// webhook first: webhook / (webhook + pull), backfill left out. ok is
// false when the source has no such change yet.
func WebhookFirstShare(counts []store.ChangeCount, source string) (share float64, ok bool) {
	var webhook, pull int64
	for _, c := range counts {
		if c.Source != source {
			continue
		}
		switch c.Channel {
		case store.ChannelWebhook:
			webhook += c.Changes
		case store.ChannelPull:
			pull += c.Changes
		}
	}
	if webhook+pull == 0 {
		return 0, false
	}
	return float64(webhook) / float64(webhook+pull), true
}

// ChangeCollector exposes the change counts of the store to Prometheus,
// read from the store at each scrape: every crmhub process that shares the
// store reports the same totals.
//
//	crmhub_source_changes_total{source,channel}    changes by the channel that landed them first
//	crmhub_source_webhook_first_ratio{source}      webhook / (webhook + pull)
type ChangeCollector struct {
	store   *store.Store
	log     *slog.Logger
	timeout time.Duration
	changes *prometheus.Desc
	share   *prometheus.Desc
}

// NewChangeCollector returns the collector of s's change counts; register
// it with a prometheus.Registerer. A failed read is logged and leaves the
// metrics out of that scrape.
func NewChangeCollector(s *store.Store, log *slog.Logger) *ChangeCollector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ChangeCollector{store: s, log: log, timeout: 5 * time.Second,
		changes: prometheus.NewDesc("crmhub_source_changes_total",
			"Changes (new versions of records) of each source, by the channel that landed them first: webhook, pull (the reconciliation pull found them first) or backfill (history pulled before the source's first counted change).",
			[]string{"source", "channel"}, nil),
		share: prometheus.NewDesc("crmhub_source_webhook_first_ratio",
			"Share of each source's changes that arrived by webhook before any pull found them: webhook / (webhook + pull).",
			[]string{"source"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *ChangeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.changes
	ch <- c.share
}

// Collect implements prometheus.Collector.
func (c *ChangeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	counts, err := c.store.ChangeCounts(ctx)
	if err != nil {
		c.log.Warn("change counts not read for /metrics", "err", err)
		return
	}
	sources := map[string]bool{}
	for _, n := range counts {
		sources[n.Source] = true
		ch <- prometheus.MustNewConstMetric(c.changes, prometheus.CounterValue, float64(n.Changes), n.Source, n.Channel)
	}
	for _, src := range slices.Sorted(maps.Keys(sources)) {
		if share, ok := WebhookFirstShare(counts, src); ok {
			ch <- prometheus.MustNewConstMetric(c.share, prometheus.GaugeValue, share, src)
		}
	}
}

var _ prometheus.Collector = (*ChangeCollector)(nil)
