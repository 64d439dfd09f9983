package bus

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

func TestPostgresPubSub(t *testing.T) {
	// The suite builds several Pub/Subs in one test and expects them to
	// share messages (Persistent), as crmhub processes on one database do:
	// every constructor call of a test gets a bus with a connection pool of
	// its own (a process) on that test's schema. One pool for all would
	// deadlock TestConcurrentSubscribe: its 50 subscribers each pin a
	// connection while they wait for the group's lock or for an ack, and
	// the suite reads nothing until the 50th has subscribed.
	var (
		mu   sync.Mutex
		dsns = map[*testing.T]string{}
	)
	dsnOf := func(t *testing.T) string {
		mu.Lock()
		defer mu.Unlock()
		dsn, ok := dsns[t]
		if !ok {
			dsn = storetest.PostgresDSN(t)
			dsns[t] = dsn
		}
		return dsn
	}
	constructor := func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
		b := pgTestBus(t, pgTestOpen(t, dsnOf(t)), group, pgTestConfig())
		return pgTestPublisher{b}, pgTestSubscriber{b}
	}

	tests.TestPubSub(t,
		tests.Features{
			// Each message goes to one subscriber per group.
			ConsumerGroups: true,
			// At least once: acks are saved when a batch's transaction
			// commits, so a crash mid-batch delivers its acked messages
			// again (unless a handler writes through TxFromContext, which
			// crmhub's do not).
			ExactlyOnceDelivery: false,
			// Subscribers of a group take turns under a row lock on the
			// group's offset and hand out one message at a time; a nacked
			// message is handed out again before the next one. So order
			// holds even with several subscribers.
			GuaranteedOrder:                     true,
			GuaranteedOrderWithSingleSubscriber: false,
			Persistent:                          true,
			// A new subscriber goes on from its group's offset.
			NewSubscriberReceivesOldMessages: false,
			// No RestartServiceCommand: the server belongs to storetest and
			// serves the whole package. Not ForceShort either: the full
			// suite takes about 40 s under -race on two cores.
		},
		func(t *testing.T) (message.Publisher, message.Subscriber) { return constructor(t, "crmhub") },
		constructor,
	)
}

// The suite treats a publisher and a subscriber as separate objects: it
// closes the publisher of a pair and goes on with the subscriber. These
// halves of one bus close their own side only.
type pgTestPublisher struct{ b *pgBus }

func (p pgTestPublisher) Publish(topic string, msgs ...*message.Message) error {
	return p.b.Publish(topic, msgs...)
}
func (p pgTestPublisher) Close() error { return p.b.closePublisher() }

type pgTestSubscriber struct{ b *pgBus }

func (s pgTestSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	return s.b.Subscribe(ctx, topic)
}
func (s pgTestSubscriber) SubscribeInitialize(topic string) error {
	return s.b.SubscribeInitialize(topic)
}
func (s pgTestSubscriber) Close() error { return s.b.closeSubscriber() }

// pgTestConfig polls often: the suite has a 15 s patience per read and
// nacks hundreds of messages in TestContinueAfterErrors, each waiting a
// ResendInterval.
func pgTestConfig() pgConfig {
	return pgConfigFrom(Options{PollInterval: 10 * time.Millisecond})
}

// pgTestBus opens a bus on db, closed when the test ends.
func pgTestBus(t testing.TB, db *sql.DB, group string, cfg pgConfig) *pgBus {
	t.Helper()
	opts := Options{Driver: DriverPostgres, DB: db, ConsumerGroup: group, PollInterval: cfg.PollInterval}
	opts.defaults()
	b, err := newPostgres(context.Background(), opts, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, b.Close()) })
	return b
}

func pgTestMessages(n int) []*message.Message {
	msgs := make([]*message.Message, n)
	for i := range msgs {
		msgs[i] = message.NewMessage(watermill.NewUUID(), []byte{'m', byte('0' + i%10)})
	}
	return msgs
}

// pgTestReceive reads one message from ch.
func pgTestReceive(t *testing.T, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		require.True(t, ok, "subscription closed")
		return m
	case <-time.After(20 * time.Second):
		t.Fatal("no message within 20s")
		return nil
	}
}

func TestPostgresPublishTx(t *testing.T) {
	s := storetest.Postgres(t)
	b := pgTestBus(t, s.DB(), "crmhub", pgTestConfig())
	ctx := context.Background()
	const topic = "records.raw"

	rolledBack, committed := pgTestMessages(1)[0], pgTestMessages(1)[0]
	errRollback := errors.New("roll back")
	err := s.InTx(ctx, func(tx *store.Tx) error {
		require.NoError(t, b.PublishTx(ctx, tx.SQL(), topic, rolledBack))
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)
	require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
		return b.PublishTx(ctx, tx.SQL(), topic, committed)
	}))

	ch, err := b.Subscribe(ctx, topic)
	require.NoError(t, err)
	// Delivery is in commit order: had the rolled-back message been
	// written, it would come first.
	got := pgTestReceive(t, ch)
	assert.Equal(t, committed.UUID, got.UUID)
	got.Ack()

	var n int
	require.NoError(t, s.DB().QueryRow(`SELECT count(*) FROM "watermill_records.raw"`).Scan(&n))
	assert.Equal(t, 1, n, "rows in the topic's table")
}

func TestPostgresPublishTxRefusesWhatWouldAbortTheTransaction(t *testing.T) {
	s := storetest.Postgres(t)
	b := pgTestBus(t, s.DB(), "crmhub", pgTestConfig())
	ctx := context.Background()

	require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
		long := message.NewMessage(strings.Repeat("x", 37), nil)
		require.ErrorContains(t, b.PublishTx(ctx, tx.SQL(), "records.raw", long), "longer than 36")
		require.ErrorIs(t, b.PublishTx(ctx, tx.SQL(), `bad"topic`, pgTestMessages(1)...), wsql.ErrInvalidTopicName)
		// The transaction is still usable.
		return b.PublishTx(ctx, tx.SQL(), "records.raw", pgTestMessages(1)...)
	}))
}

func TestPostgresBinaryPayloadsAndMetadata(t *testing.T) {
	s := storetest.Postgres(t)
	b := pgTestBus(t, s.DB(), "crmhub", pgTestConfig())
	payloads := [][]byte{
		{0x00, 0xff, 0xfe, 0x01},                          // not UTF-8
		[]byte("id,email\n1,sara@example.com\n"),          // CSV row
		[]byte(`{"name":"سارا","phone":"+971٥٠١٢٣٤٥٦٧"}`), // JSON
		{},
	}
	var sent []*message.Message
	for _, p := range payloads {
		m := message.NewMessage(watermill.NewUUID(), p)
		m.Metadata.Set("source", "erp")
		sent = append(sent, m)
	}
	require.NoError(t, b.Publish("records.raw", sent...))
	ch, err := b.Subscribe(context.Background(), "records.raw")
	require.NoError(t, err)
	for _, want := range sent {
		got := pgTestReceive(t, ch)
		assert.Equal(t, want.UUID, got.UUID)
		assert.Equal(t, []byte(want.Payload), []byte(got.Payload))
		assert.Equal(t, "erp", got.Metadata.Get("source"))
		got.Ack()
	}
}

func TestPostgresLargePublishIsChunked(t *testing.T) {
	s := storetest.Postgres(t)
	b := pgTestBus(t, s.DB(), "crmhub", pgTestConfig())
	// More than one INSERT's worth of bind parameters (65535 / 3).
	msgs := pgTestMessages(22000)
	require.NoError(t, b.Publish("records.raw", msgs...))
	var n int
	require.NoError(t, s.DB().QueryRow(`SELECT count(*) FROM "watermill_records.raw"`).Scan(&n))
	assert.Equal(t, len(msgs), n)
}

func TestPostgresConcurrentFirstUseOfATopic(t *testing.T) {
	// Several processes starting at once all create the same tables.
	dsn := storetest.PostgresDSN(t)
	const processes = 8
	var wg sync.WaitGroup
	errs := make(chan error, processes)
	for range processes {
		db := pgTestOpen(t, dsn)
		b := pgTestBus(t, db, "crmhub", pgTestConfig())
		wg.Go(func() { errs <- b.SubscribeInitialize("profiles.changed") })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
}

func TestPostgresUnackedMessageGoesToTheNextProcessAfterACrash(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	ctx := context.Background()
	const topic = "records.canonical"

	// Process A takes the message and dies holding it: its connection is
	// cut, its transaction never commits.
	const appA = "crmhub-test-dying"
	dying := pgTestBus(t, pgTestOpen(t, pgTestWithAppName(t, dsn, appA)), "crmhub", pgTestConfig())
	msg := pgTestMessages(1)[0]
	require.NoError(t, dying.Publish(topic, msg))
	chA, err := dying.Subscribe(ctx, topic)
	require.NoError(t, err)
	got := pgTestReceive(t, chA)
	require.Equal(t, msg.UUID, got.UUID)

	admin := pgTestOpen(t, dsn)
	var killed int
	require.NoError(t, admin.QueryRow(
		`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, appA).Scan(&killed))
	require.Positive(t, killed, "backends of process A")

	// Process B, started afterwards, gets it.
	next := pgTestBus(t, pgTestOpen(t, dsn), "crmhub", pgTestConfig())
	chB, err := next.Subscribe(ctx, topic)
	require.NoError(t, err)
	again := pgTestReceive(t, chB)
	assert.Equal(t, msg.UUID, again.UUID)
	again.Ack()
}

func pgTestOpen(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func pgTestWithAppName(t testing.TB, dsn, name string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return dsn + " application_name=" + name
	}
	q := u.Query()
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	return u.String()
}
