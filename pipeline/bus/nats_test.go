package bus

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/pipeline/bus/natstest"
)

func TestNATSPubSub(t *testing.T) {
	url := natstest.Start(t)
	// Every constructor call is a process of its own: its own connection,
	// the same server and stream prefix, so that buses of one test share
	// their topics (Persistent). Topics are unique per test.
	constructor := func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
		b := natsTestBus(t, url, group, natsTestConfig())
		return natsTestPublisher{b}, natsTestSubscriber{b}
	}

	tests.TestPubSub(t,
		tests.Features{
			// Each message goes to one subscription of the group's durable
			// consumer, whichever process it is in.
			ConsumerGroups: true,
			// At least once: acks are not confirmed by the server, and a
			// message not acked within AckWait is delivered again.
			ExactlyOnceDelivery: false,
			// Up to InFlight messages are out per subscription, and a
			// nacked message comes back after later ones.
			GuaranteedOrder:                     false,
			GuaranteedOrderWithSingleSubscriber: false,
			Persistent:                          true,
			// A new subscription joins its group's consumer where it is; it
			// does not replay the stream.
			NewSubscriberReceivesOldMessages: false,
			// TestReconnect needs a shell command that restarts the broker;
			// this one lives in the test binary, so
			// TestNATSMessagesSurviveAServerRestart does that instead.
			// Not ForceShort: the full suite takes about 10 s under -race.
		},
		func(t *testing.T) (message.Publisher, message.Subscriber) { return constructor(t, "crmhub") },
		constructor,
	)
}

// The suite treats a publisher and a subscriber as separate objects: it
// closes the publisher of a pair and goes on with the subscriber. These
// halves of one bus close their own side only.
type natsTestPublisher struct{ b *natsBus }

func (p natsTestPublisher) Publish(topic string, msgs ...*message.Message) error {
	return p.b.Publish(topic, msgs...)
}
func (p natsTestPublisher) Close() error { p.b.closePublisher(); return nil }

type natsTestSubscriber struct{ b *natsBus }

func (s natsTestSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	return s.b.Subscribe(ctx, topic)
}
func (s natsTestSubscriber) SubscribeInitialize(topic string) error {
	return s.b.SubscribeInitialize(topic)
}
func (s natsTestSubscriber) Close() error { return s.b.Close() }

// natsTestConfig is the production tuning with a short close grace:
// TestMessageCtx closes a bus while a message is out and waits at most
// 15 s for its context to end.
func natsTestConfig() natsConfig {
	cfg := defaultNATSConfig()
	cfg.CloseGrace = time.Second
	return cfg
}

// natsTestBus opens a bus on the server at url, closed when the test ends.
func natsTestBus(t testing.TB, url, group string, cfg natsConfig) *natsBus {
	t.Helper()
	opts := Options{Driver: DriverNATS, NATSURL: url, ConsumerGroup: group}
	opts.defaults()
	b, err := newNATS(context.Background(), opts, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, b.Close()) })
	return b
}

func natsTestPublish(t *testing.T, p message.Publisher, topic string, n int) map[string]bool {
	t.Helper()
	ids := make(map[string]bool, n)
	var batch []*message.Message
	for i := range n {
		m := message.NewMessage(watermill.NewUUID(), fmt.Appendf(nil, "%d", i))
		ids[m.UUID] = true
		batch = append(batch, m)
		if len(batch) == 100 || i == n-1 {
			require.NoError(t, p.Publish(topic, batch...))
			batch = nil
		}
	}
	return ids
}

func natsTestReceive(t *testing.T, ch <-chan *message.Message, within time.Duration) *message.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		require.True(t, ok, "subscription closed")
		return m
	case <-time.After(within):
		t.Fatalf("no message within %s", within)
		return nil
	}
}

// natsTestConsumer reads the group's consumer on the server.
func natsTestConsumer(t *testing.T, url, topic, group string) *jetstream.ConsumerInfo {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, natsName("crmhub_"+topic), natsName(group))
	require.NoError(t, err)
	info, err := c.Info(ctx)
	require.NoError(t, err)
	return info
}

func TestNATSUnackedMessageGoesToANewInstanceAfterACrash(t *testing.T) {
	url := natstest.Start(t)
	cfg := natsTestConfig()
	cfg.AckWait = time.Second // how soon the server gives up on the dead process
	const topic = "records.canonical"

	dying := natsTestBus(t, url, "crmhub", cfg)
	msg := message.NewMessage(watermill.NewUUID(), []byte(`{"id":1}`))
	require.NoError(t, dying.Publish(topic, msg))
	ch, err := dying.Subscribe(context.Background(), topic)
	require.NoError(t, err)
	got := natsTestReceive(t, ch, 10*time.Second)
	require.Equal(t, msg.UUID, got.UUID)
	// The process dies: its connections drop with nothing acked or nacked.
	dying.sub.nc.Close()
	dying.pub.nc.Close()

	next := natsTestBus(t, url, "crmhub", cfg)
	ch, err = next.Subscribe(context.Background(), topic)
	require.NoError(t, err)
	again := natsTestReceive(t, ch, 10*time.Second)
	assert.Equal(t, msg.UUID, again.UUID)
	assert.Equal(t, `{"id":1}`, string(again.Payload))
	again.Ack()
}

func TestNATSGroupSplitsMessagesWithoutDuplicates(t *testing.T) {
	url := natstest.Start(t)
	const (
		topic = "records.raw"
		n     = 2000
	)
	a := natsTestBus(t, url, "crmhub", natsTestConfig())
	b := natsTestBus(t, url, "crmhub", natsTestConfig())
	require.NoError(t, a.SubscribeInitialize(topic))

	var (
		mu   sync.Mutex
		seen = map[string]int{}
		per  = map[string]int{}
		all  = make(chan struct{})
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for name, bus := range map[string]*natsBus{"a": a, "b": b} {
		ch, err := bus.Subscribe(ctx, topic)
		require.NoError(t, err)
		go func() {
			for m := range ch {
				// Handlers take a moment, as real ones do, so that neither
				// process can drain the stream alone.
				time.Sleep(100 * time.Microsecond)
				mu.Lock()
				seen[m.UUID]++
				per[name]++
				if len(seen) == n {
					close(all)
				}
				mu.Unlock()
				m.Ack()
			}
		}()
	}
	sent := natsTestPublish(t, a, topic, n)
	select {
	case <-all:
	case <-time.After(60 * time.Second):
		t.Fatal("not every message arrived within 60s")
	}

	mu.Lock()
	defer mu.Unlock()
	for id, times := range seen {
		assert.True(t, sent[id], "unexpected message %s", id)
		assert.Equal(t, 1, times, "message %s delivered %d times", id, times)
	}
	assert.Positive(t, per["a"], "messages handled by a")
	assert.Positive(t, per["b"], "messages handled by b")
	t.Logf("a handled %d, b handled %d", per["a"], per["b"])
}

func TestNATSMessagesSurviveAServerRestart(t *testing.T) {
	srv := natstest.StartServer(t)
	const topic = "profiles.changed"
	b := natsTestBus(t, srv.URL(), "crmhub", natsTestConfig())
	before := natsTestPublish(t, b, topic, 100)

	srv.Restart(t)

	// The bus reconnects on its own and publishes again.
	var after map[string]bool
	require.Eventually(t, func() bool {
		m := message.NewMessage(watermill.NewUUID(), []byte("after"))
		if b.Publish(topic, m) != nil {
			return false
		}
		after = map[string]bool{m.UUID: true}
		return true
	}, 30*time.Second, 100*time.Millisecond)

	ch, err := b.Subscribe(context.Background(), topic)
	require.NoError(t, err)
	for range len(before) + len(after) {
		m := natsTestReceive(t, ch, 20*time.Second)
		assert.True(t, before[m.UUID] || after[m.UUID], "unexpected message %s", m.UUID)
		delete(before, m.UUID)
		delete(after, m.UUID)
		m.Ack()
	}
	assert.Empty(t, before, "messages published before the restart and lost")
}

func TestNATSCancelledSubscriptionHandsPrefetchedMessagesBack(t *testing.T) {
	// watermill-nats' jetstream subscriber panics here (send on closed
	// channel); this one naks what it prefetched, so another subscription
	// gets it at once rather than after AckWait.
	url := natstest.Start(t)
	const topic = "records.raw"
	b := natsTestBus(t, url, "crmhub", natsTestConfig())
	sent := natsTestPublish(t, b, topic, 500)

	ctx, cancel := context.WithCancel(context.Background())
	ch, err := b.Subscribe(ctx, topic)
	require.NoError(t, err)
	first := natsTestReceive(t, ch, 10*time.Second)
	first.Ack()
	delete(sent, first.UUID)
	cancel()
	for m := range ch { // closes once everything is handed back
		m.Nack()
	}

	ch, err = b.Subscribe(context.Background(), topic)
	require.NoError(t, err)
	deadline := time.After(10 * time.Second) // well under AckWait (30 s)
	for len(sent) > 0 {
		select {
		case m := <-ch:
			delete(sent, m.UUID)
			m.Ack()
		case <-deadline:
			t.Fatalf("%d messages not handed back within 10s", len(sent))
		}
	}
}

func TestNATSCloseLetsHandlersFinish(t *testing.T) {
	url := natstest.Start(t)
	const topic = "profiles.enriched"
	b := natsTestBus(t, url, "crmhub", natsTestConfig())
	require.NoError(t, b.Publish(topic, message.NewMessage(watermill.NewUUID(), []byte("x"))))
	ch, err := b.Subscribe(context.Background(), topic)
	require.NoError(t, err)
	m := natsTestReceive(t, ch, 10*time.Second)

	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	// The handler is still at work when Close starts, and produces a message.
	require.Eventually(t, func() bool { return b.stopPulls.Err() != nil }, 10*time.Second, time.Millisecond)
	require.NoError(t, m.Context().Err(), "message cancelled before the grace period ended")
	require.NoError(t, b.Publish(topic+"-out", message.NewMessage(watermill.NewUUID(), nil)))
	m.Ack()
	require.NoError(t, <-closed)

	info := natsTestConsumer(t, url, topic, "crmhub")
	assert.Equal(t, 0, info.NumAckPending, "messages delivered and not acked")
	assert.Equal(t, uint64(0), info.NumPending, "messages not delivered")
	assert.Equal(t, 0, info.NumRedelivered)
}

func TestNATSNames(t *testing.T) {
	assert.Equal(t, "crmhub_topic-1", natsName("crmhub_topic-1"), "valid names are kept")
	assert.Equal(t, "crmhub_records_raw", natsName("crmhub_records_raw"))
	dotted := natsName("crmhub_records.raw")
	assert.Regexp(t, `^crmhub_records_raw_[0-9a-f]{8}$`, dotted)
	assert.NotEqual(t, natsName("crmhub_records_raw"), dotted, "names that differ only in replaced characters must not collide")
	assert.Equal(t, dotted, natsName("crmhub_records.raw"), "names are stable")

	for _, tc := range []struct {
		subject string
		ok      bool
	}{
		{"records.raw", true},
		{"topic-1", true},
		{"", false},
		{"records.*", false},
		{"records.>", false},
		{"records raw", false},
		{".records", false},
		{"records..raw", false},
		{"records.", false},
	} {
		err := natsCheckSubject(tc.subject)
		assert.Equal(t, tc.ok, err == nil, "natsCheckSubject(%q) = %v", tc.subject, err)
	}
}

func TestNATSOpenErrors(t *testing.T) {
	ctx := context.Background()
	_, err := newNATS(ctx, Options{NATSURL: "", StreamPrefix: "crmhub"}, natsTestConfig())
	assert.ErrorContains(t, err, "no server URL")

	_, err = newNATS(ctx, Options{NATSURL: "nats://crmhub:s3cret@bad host:4222", StreamPrefix: "crmhub"}, natsTestConfig())
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret")

	_, err = newNATS(ctx, Options{NATSURL: "nats://crmhub:s3cret@127.0.0.1:1", StreamPrefix: "crmhub"}, natsTestConfig())
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret")
}
