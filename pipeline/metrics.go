package pipeline

import (
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/crmhub/store"
)

// Metrics counts what every stage handles, fails and how long it takes,
// and the records the Ingester lands, for the /metrics endpoint.
type Metrics struct {
	handled     *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	deadLetters *prometheus.CounterVec
	records     *prometheus.CounterVec
}

// NewMetrics creates the pipeline's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "crmhub", Subsystem: "pipeline", Name: "messages_total",
			Help: "Messages handled by each pipeline stage, by outcome (ok, error).",
		}, []string{"handler", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "crmhub", Subsystem: "pipeline", Name: "handler_duration_seconds",
			Help:    "Time one attempt of a pipeline stage takes.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"handler"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "crmhub", Subsystem: "pipeline", Name: "dead_letters_total",
			Help: "Messages each stage gave up on and stored as dead letters.",
		}, []string{"handler"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "crmhub", Subsystem: "source", Name: "records_total",
			Help: "Records of each source landed in the raw table by this process; a record landed again unchanged is not counted.",
		}, []string{"source"}),
	}
	for _, c := range []prometheus.Collector{m.handled, m.latency, m.deadLetters, m.records} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// middleware observes each attempt of a handler. It runs innermost, so
// retries count as attempts.
func (m *Metrics) middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		name := message.HandlerNameFromCtx(msg.Context())
		start := time.Now()
		out, err := h(msg)
		m.latency.WithLabelValues(name).Observe(time.Since(start).Seconds())
		outcome := "ok"
		if err != nil {
			outcome = "error"
		}
		m.handled.WithLabelValues(name, outcome).Inc()
		return out, err
	}
}

func (m *Metrics) deadLettered(handler string) {
	if m != nil {
		m.deadLetters.WithLabelValues(handler).Inc()
	}
}

// landed counts the records of recs that fresh marks as new (what
// store.Tx.InsertRaw reports).
func (m *Metrics) landed(recs []store.RawRecord, fresh []bool) {
	if m == nil {
		return
	}
	for i, r := range recs {
		if i < len(fresh) && fresh[i] {
			m.records.WithLabelValues(r.Source).Inc()
		}
	}
}

// DeadLetters returns the dead-letter counter of one stage.
func (m *Metrics) DeadLetters(handler string) prometheus.Counter {
	return m.deadLetters.WithLabelValues(handler)
}
