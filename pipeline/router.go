package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/pipeline/bus"
	"github.com/crmhub/crmhub/store"
)

// Options tune the pipeline. Zero values pick the defaults.
type Options struct {
	// MaxRetries is how often a stage retries a transient error before the
	// message goes to the dead letters; a message is tried MaxRetries+1
	// times in all. Permanent errors are not retried. Default 3.
	MaxRetries int
	// RetryInterval is the first wait between retries; it doubles up to
	// RetryMaxInterval. Defaults 100ms and 5s.
	RetryInterval    time.Duration
	RetryMaxInterval time.Duration
	// HandlerTimeout bounds one attempt of a stage. Default 30s.
	HandlerTimeout time.Duration
	// PushTimeout bounds one attempt of the push stage instead: a push
	// waits for the destination's rate limit behind the pushes before it,
	// which during a backfill is minutes. Default 10m.
	PushTimeout time.Duration
	// CloseTimeout bounds how long shutdown waits for messages in flight;
	// what does not finish is redelivered after the restart. Default 20s.
	CloseTimeout time.Duration
	// Logger receives the pipeline's logs; nil discards them.
	Logger *slog.Logger
	// Metrics, when set, observes every stage.
	Metrics *Metrics
	// Middleware is added innermost, after the pipeline's own; tests use it
	// to run every handler twice (middleware.Duplicator).
	Middleware []message.HandlerMiddleware
}

func (o *Options) defaults() {
	if o.MaxRetries == 0 {
		o.MaxRetries = 3
	}
	if o.RetryInterval == 0 {
		o.RetryInterval = 100 * time.Millisecond
	}
	if o.RetryMaxInterval == 0 {
		o.RetryMaxInterval = 5 * time.Second
	}
	if o.HandlerTimeout == 0 {
		o.HandlerTimeout = 30 * time.Second
	}
	if o.PushTimeout == 0 {
		o.PushTimeout = 10 * time.Minute
	}
	if o.CloseTimeout == 0 {
		o.CloseTimeout = 20 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Pipeline is the router with crmhub's middleware and stages. Build it with
// New, add stages with Handle and Consume, then Run it.
type Pipeline struct {
	router *message.Router
	bus    bus.PubSub
	opts   Options
}

// New builds a pipeline over a bus, with dead letters kept in s. It does no
// I/O.
//
// Every stage runs inside, from the outside in: Recoverer (a panic in the
// middleware itself becomes an error and the message is redelivered), the
// dead-letter poison queue, Retry with exponential backoff for transient
// errors only (crmhub.IsPermanent decides), and a per-attempt Timeout.
// Watermill's Deduplicator is deliberately not used: it marks a message seen
// before the handler runs and would drop the redelivery of a failed
// attempt. Idempotency lives in the store instead.
func New(s *store.Store, b bus.PubSub, opts Options) (*Pipeline, error) {
	opts.defaults()
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: opts.CloseTimeout},
		watermill.NewSlogLogger(opts.Logger))
	if err != nil {
		return nil, fmt.Errorf("new router: %w", err)
	}
	dl := &deadLetters{store: s, log: opts.Logger, metrics: opts.Metrics}
	retry := middleware.Retry{
		MaxRetries:      opts.MaxRetries,
		InitialInterval: opts.RetryInterval,
		MaxInterval:     opts.RetryMaxInterval,
		Multiplier:      2,
		ShouldRetry:     func(p middleware.RetryParams) bool { return !crmhub.IsPermanent(p.Err) },
		// The per-attempt Timeout inside cancels the message's context
		// when an attempt ends; without a fresh one every retry would
		// fail at once (https://github.com/ThreeDotsLabs/watermill/issues/467).
		ResetContextOnRetry: true,
		Logger:              watermill.NewSlogLogger(opts.Logger),
	}
	r.AddMiddleware(
		middleware.Recoverer,
		dl.middleware,
		retry.Middleware,
		stageTimeout(opts),
		countAttempts,
	)
	if opts.Metrics != nil {
		r.AddMiddleware(opts.Metrics.middleware)
	}
	r.AddMiddleware(opts.Middleware...)
	return &Pipeline{router: r, bus: b, opts: opts}, nil
}

// Handle adds a stage that consumes topic and publishes what fn returns to
// outTopic.
func (p *Pipeline) Handle(name, topic, outTopic string, fn message.HandlerFunc) {
	p.router.AddHandler(name, topic, sharedSubscriber{p.bus}, outTopic, sharedPublisher{p.bus}, fn)
}

// Consume adds a stage that consumes topic and publishes nothing.
func (p *Pipeline) Consume(name, topic string, fn message.NoPublishHandlerFunc) {
	p.router.AddConsumerHandler(name, topic, sharedSubscriber{p.bus}, fn)
}

// The router closes each handler's publisher and subscriber as the handler
// stops; every stage shares the one bus, which its owner closes after Run
// returns. Subscriptions still end with the router, through its context.
type (
	sharedPublisher  struct{ message.Publisher }
	sharedSubscriber struct{ message.Subscriber }
)

func (sharedPublisher) Close() error  { return nil }
func (sharedSubscriber) Close() error { return nil }

// Run runs the stages until ctx is cancelled, then shuts down: it stops
// taking messages, waits up to CloseTimeout for the ones in flight, and
// returns. Messages that did not finish are redelivered after a restart.
// The bus stays open: close it after Run returns.
func (p *Pipeline) Run(ctx context.Context) error {
	err := p.router.Run(ctx)
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("run pipeline: %w", err)
	}
	return nil
}

// Running is closed once every stage has subscribed.
func (p *Pipeline) Running() chan struct{} { return p.router.Running() }

// Close stops the router, waiting up to CloseTimeout for messages in flight.
func (p *Pipeline) Close() error { return p.router.Close() }
