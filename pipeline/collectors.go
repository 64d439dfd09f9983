package pipeline

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/crmhub/pipeline/bus"
	"github.com/crmhub/crmhub/store"
)

// scrapeTimeout bounds the store and bus reads of one scrape.
const scrapeTimeout = 5 * time.Second

// DeadLetterStatePending is the one state of a dead letter the store
// keeps: waiting for a fix and a replay, which removes it.
const DeadLetterStatePending = "pending"

// StoreCollector exposes the dead letters and the connectors' checkpoints
// to Prometheus, read from the store at each scrape with cheap queries
// (the dead-letter and checkpoint tables are small):
//
//	crmhub_dead_letters{state}                         dead letters kept, by state
//	crmhub_source_dead_letters{source}                 dead letters of each source's records
//	crmhub_source_checkpoint_lag_seconds{source,stream} now minus the time the stream's cursor stands at
type StoreCollector struct {
	store   *store.Store
	log     *slog.Logger
	now     func() time.Time
	dead    *prometheus.Desc
	bySrc   *prometheus.Desc
	lag     *prometheus.Desc
	timeout time.Duration
}

// NewStoreCollector returns the collector of s's dead letters and
// checkpoints; register it with a prometheus.Registerer. A failed read is
// logged and leaves its metrics out of that scrape.
func NewStoreCollector(s *store.Store, log *slog.Logger) *StoreCollector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &StoreCollector{store: s, log: log, now: time.Now, timeout: scrapeTimeout,
		dead: prometheus.NewDesc("crmhub_dead_letters",
			"Dead letters kept in the store, by state (pending: waiting for a fix and a replay).",
			[]string{"state"}, nil),
		bySrc: prometheus.NewDesc("crmhub_source_dead_letters",
			"Dead letters of each source's records, kept in the store; messages that name no source are left out.",
			[]string{"source"}, nil),
		lag: prometheus.NewDesc("crmhub_source_checkpoint_lag_seconds",
			"How far each connector stream's saved cursor is behind now: the updated_at of the last record it covers when the cursor tells it, else the time the cursor was saved.",
			[]string{"source", "stream"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *StoreCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.dead
	ch <- c.bySrc
	ch <- c.lag
}

// Collect implements prometheus.Collector.
func (c *StoreCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if counts, err := c.store.DeadLettersBySource(ctx); err != nil {
		c.log.Warn("dead letters not counted for /metrics", "err", err)
	} else {
		var total int64
		for src, n := range counts {
			total += n
			if src != "" {
				ch <- prometheus.MustNewConstMetric(c.bySrc, prometheus.GaugeValue, float64(n), src)
			}
		}
		ch <- prometheus.MustNewConstMetric(c.dead, prometheus.GaugeValue, float64(total), DeadLetterStatePending)
	}
	cps, err := c.store.Checkpoints(ctx)
	if err != nil {
		c.log.Warn("checkpoints not read for /metrics", "err", err)
		return
	}
	now := c.now()
	for _, cp := range cps {
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, now.Sub(CheckpointTime(cp)).Seconds(),
			cp.Source, cp.Stream)
	}
}

// CheckpointTime is the time a checkpoint's stream has got to: the
// updated_at its cursor carries (a pull's cursor, {"updated_at": ...,
// "id": ...}), or, for a cursor that is not a time (a file's line, a
// seed), when it was saved.
func CheckpointTime(cp store.Checkpoint) time.Time {
	var c struct {
		UpdatedAt time.Time `json:"updated_at"`
	}
	if err := json.Unmarshal([]byte(cp.Cursor), &c); err == nil && !c.UpdatedAt.IsZero() {
		return c.UpdatedAt
	}
	return cp.UpdatedAt
}

// BusCollector exposes how many messages wait on the bus, asked of the bus
// at each scrape:
//
//	crmhub_bus_pending_messages{topic}   published and not yet acked by the pipeline's consumer group
type BusCollector struct {
	bus     bus.Depther
	log     *slog.Logger
	pending *prometheus.Desc
	timeout time.Duration
}

// NewBusCollector returns the collector of b's depth; register it with a
// prometheus.Registerer. A failed read is logged and leaves the metric out
// of that scrape.
func NewBusCollector(b bus.Depther, log *slog.Logger) *BusCollector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &BusCollector{bus: b, log: log, timeout: scrapeTimeout,
		pending: prometheus.NewDesc("crmhub_bus_pending_messages",
			"Messages published on each bus topic and not yet acked by the pipeline's consumer group, in flight included.",
			[]string{"topic"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *BusCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.pending }

// Collect implements prometheus.Collector.
func (c *BusCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	pending, err := c.bus.Pending(ctx)
	if err != nil {
		c.log.Warn("bus depth not read for /metrics", "err", err)
		return
	}
	for topic, n := range pending {
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(n), topic)
	}
}

var (
	_ prometheus.Collector = (*StoreCollector)(nil)
	_ prometheus.Collector = (*BusCollector)(nil)
)
