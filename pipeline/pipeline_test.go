package pipeline_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/pipeline/bus"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

// harness runs a pipeline with the customer stage over a bus.
type harness struct {
	store  *store.Store
	bus    bus.PubSub
	stage  *customerStage
	in     *pipeline.Ingester
	pipe   *pipeline.Pipeline
	cancel context.CancelFunc
	done   chan error
}

func startHarness(t *testing.T, s *store.Store, driver string, opts pipeline.Options) *harness {
	t.Helper()
	return newHarness(t, s, driver, opts)
}

func startBenchHarness(b *testing.B, s *store.Store, driver string) *harness {
	b.Helper()
	return newHarness(b, s, driver, pipeline.Options{})
}

func newHarness(t testing.TB, s *store.Store, driver string, opts pipeline.Options) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b, err := bus.Open(ctx, bus.Options{Driver: driver, DB: s.DB(), ReadDB: s.ReadDB(), PollInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	p, err := pipeline.New(s, b, opts)
	require.NoError(t, err)
	h := &harness{store: s, bus: b, stage: &customerStage{store: s}, pipe: p, cancel: cancel, done: make(chan error, 1),
		in: pipeline.NewIngester(s, b, driver != bus.DriverNATS && driver != bus.DriverGoChannel)}
	p.Consume(pipeline.HandlerPersist, pipeline.TopicRaw, h.stage.handle)
	go func() { h.done <- p.Run(ctx) }()
	select {
	case <-p.Running():
	case <-time.After(30 * time.Second):
		t.Fatal("pipeline did not start")
	}
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	<-h.done
	h.bus.Close()
	h.cancel = nil
}

func waitCustomers(t *testing.T, s *store.Store, want int64) {
	t.Helper()
	require.Eventually(t, func() bool {
		c, err := s.Counts(context.Background())
		return err == nil && c.Customers >= want
	}, 60*time.Second, 20*time.Millisecond, "waiting for %d customers", want)
}

func TestEnvelopeRoundTrip(t *testing.T) {
	e := testEnvelope("shop", 1, testRecord{Email: "a@example.com"})
	e.IdempotencyKey = e.DefaultIdempotencyKey()
	e.ReceivedAt = time.Date(2026, 11, 22, 10, 0, 0, 123, time.UTC)
	e.Version = "2026-11-22T09:00:00Z"
	got, err := pipeline.FromMessage(pipeline.ToMessage(e))
	require.NoError(t, err)
	e.TraceID = e.IdempotencyKey
	require.Equal(t, e, got)

	bad := pipeline.ToMessage(e)
	bad.Metadata.Set(pipeline.MetaIdempotencyKey, "")
	_, err = pipeline.FromMessage(bad)
	require.True(t, crmhub.IsPermanent(err), "a message without a key cannot be repaired by retrying")
	bad = pipeline.ToMessage(e)
	bad.Metadata.Set(pipeline.MetaReceivedAt, "yesterday")
	_, err = pipeline.FromMessage(bad)
	require.True(t, crmhub.IsPermanent(err))
}

// TestEveryHandlerTwiceGivesTheSameStore runs each handler twice per message
// (Watermill's Duplicator) and compares the final store with a single run.
func TestEveryHandlerTwiceGivesTheSameStore(t *testing.T) {
	const n = 200
	run := func(t *testing.T, mw []message.HandlerMiddleware, calls int64) (map[string]string, store.Counts, int64) {
		s := storetest.SQLite(t)
		h := startHarness(t, s, bus.DriverGoChannel, pipeline.Options{Middleware: mw})
		envs := make([]crmhub.Envelope, n)
		for i := range envs {
			envs[i] = testEnvelope("shop", i, testRecord{Email: fmt.Sprintf("p%d@example.com", i)})
		}
		require.NoError(t, h.in.Ingest(context.Background(), envs, nil))
		waitCustomers(t, s, n)
		require.Eventually(t, func() bool { return h.stage.calls.Load() >= calls }, 30*time.Second, 5*time.Millisecond)
		h.stop()
		snap, counts, err := profileSnapshot(context.Background(), s, "shop", n)
		require.NoError(t, err)
		return snap, counts, h.stage.calls.Load()
	}
	once, onceCounts, onceCalls := run(t, nil, n)
	twice, twiceCounts, twiceCalls := run(t, []message.HandlerMiddleware{middleware.Duplicator}, 2*n)
	require.Equal(t, int64(n), onceCalls)
	require.Equal(t, int64(2*n), twiceCalls, "the duplicator really ran every handler twice")
	require.Equal(t, once, twice)
	require.Equal(t, onceCounts, twiceCounts)
	require.EqualValues(t, n, twiceCounts.Customers)
	require.EqualValues(t, n, twiceCounts.Identities)
}

func TestPoisonMessagesGoToDeadLettersAndReplay(t *testing.T) {
	s := storetest.SQLite(t)
	reg := prometheus.NewRegistry()
	metrics, err := pipeline.NewMetrics(reg)
	require.NoError(t, err)
	const maxRetries = 2
	h := startHarness(t, s, bus.DriverGoChannel, pipeline.Options{MaxRetries: maxRetries,
		RetryInterval: time.Millisecond, RetryMaxInterval: 5 * time.Millisecond, Metrics: metrics})
	h.stage.outage.Store(true)

	envs := []crmhub.Envelope{
		testEnvelope("shop", 0, testRecord{Email: "ok0@example.com"}),
		testEnvelope("shop", 1, testRecord{Email: "bad@example.com", Fail: "permanent"}),
		testEnvelope("shop", 2, testRecord{Email: "later@example.com", Fail: "transient"}),
		testEnvelope("shop", 3, testRecord{Email: "ok3@example.com"}),
		{Source: "shop", Entity: crmhub.EntityCustomer, ExternalID: "broken", Payload: []byte(`{"email":`)},
	}
	ctx := context.Background()
	require.NoError(t, h.in.Ingest(ctx, envs, nil))
	waitCustomers(t, s, 2) // the good records flow past the poisoned ones

	var dls []store.DeadLetter
	require.Eventually(t, func() bool {
		dls, err = s.DeadLetters(ctx, 0, 10)
		return err == nil && len(dls) == 3
	}, 30*time.Second, 10*time.Millisecond)
	byID := map[string]store.DeadLetter{}
	for _, dl := range dls {
		byID[dl.ExternalID] = dl
		require.Equal(t, pipeline.HandlerPersist, dl.Handler)
		require.Equal(t, pipeline.TopicRaw, dl.Topic)
		require.NotEmpty(t, dl.Metadata[pipeline.MetaIdempotencyKey])
	}
	transient := byID[fmt.Sprint(9007199254740993+2)]
	require.Equal(t, maxRetries+1, transient.Attempts, "a message that keeps failing is tried MaxRetries+1 times")
	require.Contains(t, transient.Reason, errDownstream.Error())
	permanent := byID[fmt.Sprint(9007199254740993+1)]
	require.Equal(t, 1, permanent.Attempts, "a permanent error is not retried")
	require.Contains(t, permanent.Reason, "no usable identifier")
	require.Equal(t, 1, byID["broken"].Attempts)
	require.Contains(t, byID["broken"].Reason, "decode record broken")
	require.Equal(t, 3.0, testutil.ToFloat64(metrics.DeadLetters(pipeline.HandlerPersist)))

	// The outage is over: replaying the transient failure succeeds and
	// clears it; the permanent one comes back.
	h.stage.outage.Store(false)
	require.NoError(t, pipeline.Replay(ctx, s, h.bus, transient.ID))
	waitCustomers(t, s, 3)
	_, err = s.DeadLetter(ctx, transient.ID)
	require.ErrorIs(t, err, crmhub.ErrNotFound)
	require.NoError(t, pipeline.Replay(ctx, s, h.bus, permanent.ID))
	require.Eventually(t, func() bool {
		dls, err = s.DeadLetters(ctx, 0, 10)
		return err == nil && len(dls) == 2
	}, 30*time.Second, 10*time.Millisecond)
	c, err := s.Counts(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 3, c.Customers)
}

func TestARecordLandedAgainIsOneDeadLetter(t *testing.T) {
	s := storetest.SQLite(t)
	h := startHarness(t, s, bus.DriverGoChannel, pipeline.Options{RetryInterval: time.Millisecond})
	ctx := context.Background()
	broken := []crmhub.Envelope{{Source: "shop", Entity: crmhub.EntityCustomer, ExternalID: "broken", Payload: []byte(`{"email":`)}}
	for range 3 {
		// Landing the same record again publishes it again.
		require.NoError(t, h.in.Ingest(ctx, broken, nil))
	}
	require.Eventually(t, func() bool {
		dls, err := s.DeadLetters(ctx, 0, 10)
		return err == nil && len(dls) == 1 && dls[0].Attempts == 3
	}, 30*time.Second, 10*time.Millisecond)
}

func TestPanickingHandlerIsDeadLettered(t *testing.T) {
	s := storetest.SQLite(t)
	ctx, cancel := context.WithCancel(context.Background())
	b, err := bus.Open(ctx, bus.Options{Driver: bus.DriverGoChannel})
	require.NoError(t, err)
	p, err := pipeline.New(s, b, pipeline.Options{RetryInterval: time.Millisecond})
	require.NoError(t, err)
	p.Consume(pipeline.HandlerMap, pipeline.TopicRaw, func(msg *message.Message) error { panic("nil map") })
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	<-p.Running()
	t.Cleanup(func() { cancel(); <-done; b.Close() })

	require.NoError(t, pipeline.NewIngester(s, b, false).Ingest(ctx,
		[]crmhub.Envelope{testEnvelope("shop", 0, testRecord{Email: "x@example.com"})}, nil))
	require.Eventually(t, func() bool {
		dls, err := s.DeadLetters(ctx, 0, 10)
		return err == nil && len(dls) == 1 && dls[0].Attempts == 1
	}, 10*time.Second, 10*time.Millisecond)
	dls, _ := s.DeadLetters(ctx, 0, 10)
	require.Contains(t, dls[0].Reason, "handler panicked: nil map")
}

// TestShutdownLeavesInterruptedMessagesForRedelivery stops the pipeline
// while a stage is in the middle of messages: they are not dead letters,
// and a restarted pipeline handles them.
func TestShutdownLeavesInterruptedMessagesForRedelivery(t *testing.T) {
	s := storetest.SQLite(t)
	ctx, cancel := context.WithCancel(context.Background())
	b, err := bus.Open(ctx, bus.Options{Driver: bus.DriverSQLite, DB: s.DB(), ReadDB: s.ReadDB(), PollInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	p, err := pipeline.New(s, b, pipeline.Options{CloseTimeout: 100 * time.Millisecond})
	require.NoError(t, err)
	started := make(chan struct{}, 10)
	p.Consume(pipeline.HandlerPersist, pipeline.TopicRaw, func(msg *message.Message) error {
		started <- struct{}{}
		<-msg.Context().Done() // a stage that is slow until shutdown
		return msg.Context().Err()
	})
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	<-p.Running()
	require.NoError(t, pipeline.NewIngester(s, b, true).Ingest(ctx,
		[]crmhub.Envelope{testEnvelope("shop", 0, testRecord{Email: "slow@example.com"})}, nil))
	<-started
	cancel()
	require.NoError(t, <-done)
	require.NoError(t, b.Close())

	c, err := s.Counts(context.Background())
	require.NoError(t, err)
	require.Zero(t, c.DeadLetters, "an interrupted message is not a dead letter")

	h := startHarness(t, s, bus.DriverSQLite, pipeline.Options{})
	waitCustomers(t, s, 1)
	require.EqualValues(t, 1, h.stage.calls.Load(), "the restarted pipeline got the message again")
}
