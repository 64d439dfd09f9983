package bus

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

func TestSQLitePubSub(t *testing.T) {
	// The suite builds several Pub/Subs in one test and expects them to
	// share their messages (Persistent), as processes on one store file do:
	// every constructor call of a test gets a new bus on that test's store.
	var (
		mu     sync.Mutex
		stores = map[*testing.T]*store.Store{}
	)
	storeOf := func(t *testing.T) *store.Store {
		mu.Lock()
		defer mu.Unlock()
		s, ok := stores[t]
		if !ok {
			s = storetest.SQLite(t)
			stores[t] = s
		}
		return s
	}
	// Publisher and subscriber are separate buses because the suite closes
	// one and goes on using the other, and a PubSub's Close closes both.
	constructor := func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
		s := storeOf(t)
		return sqliteTestBus(t, s, group, defaultSQLiteConfig()), sqliteTestBus(t, s, group, defaultSQLiteConfig())
	}

	tests.TestPubSub(t,
		tests.Features{
			// Each message goes to one subscription per group.
			ConsumerGroups: true,
			// At least once: a message handed out when its subscription
			// ends, or whose ack was not yet saved, comes again.
			ExactlyOnceDelivery: false,
			// A window of messages is in flight at once and a nacked
			// message comes back later, after messages behind it.
			GuaranteedOrder:                     false,
			GuaranteedOrderWithSingleSubscriber: false,
			Persistent:                          true,
			// Subscriptions of one group share an offset: a new one goes on
			// where the group is, it does not replay the topic.
			NewSubscriberReceivesOldMessages: false,
		},
		func(t *testing.T) (message.Publisher, message.Subscriber) { return constructor(t, "crmhub") },
		constructor,
	)
}

// sqliteTestBus opens a bus on s, closed when the test ends (before s).
func sqliteTestBus(t testing.TB, s *store.Store, group string, cfg sqliteConfig) *sqliteBus {
	t.Helper()
	return sqliteTestBusPoll(t, s, group, cfg, 50*time.Millisecond)
}

func sqliteTestBusPoll(t testing.TB, s *store.Store, group string, cfg sqliteConfig, poll time.Duration) *sqliteBus {
	t.Helper()
	b, err := newSQLiteBus(context.Background(), Options{
		Driver:        DriverSQLite,
		DB:            s.DB(),
		ReadDB:        s.ReadDB(),
		ConsumerGroup: group,
		PollInterval:  poll,
	}, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, b.Close()) })
	return b
}

// sqliteFastConfig shortens leases and grace periods so that takeovers happen
// within a test's patience.
func sqliteFastConfig() sqliteConfig {
	cfg := defaultSQLiteConfig()
	cfg.leaseTTL = 2 * time.Second // renewed every 0.5 s
	cfg.leaseRetry = 50 * time.Millisecond
	cfg.closeGrace = 50 * time.Millisecond
	return cfg
}

// sqliteReopen opens a second store on s's file: another process, as far as the
// bus can tell (its own connections, no shared in-process notifications).
func sqliteReopen(t *testing.T, s *store.Store) *store.Store {
	t.Helper()
	var seq int
	var name, path string
	require.NoError(t, s.ReadDB().QueryRow(`PRAGMA database_list`).Scan(&seq, &name, &path))
	s2, err := store.Open(context.Background(), store.Options{Driver: store.DriverSQLite, DSN: path})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s2.Close() })
	return s2
}

func sqlitePublishN(t *testing.T, p message.Publisher, topic string, n int) []string {
	t.Helper()
	var ids []string
	var msgs []*message.Message
	for i := range n {
		m := message.NewMessage(watermill.NewUUID(), fmt.Appendf(nil, "%d", i))
		msgs = append(msgs, m)
		ids = append(ids, m.UUID)
	}
	require.NoError(t, p.Publish(topic, msgs...))
	return ids
}

// receive reads n messages from ch, acking each unless ack is false.
func sqliteReceive(t *testing.T, ch <-chan *message.Message, n int, ack bool) []*message.Message {
	t.Helper()
	var got []*message.Message
	timeout := time.After(20 * time.Second)
	for len(got) < n {
		select {
		case m, ok := <-ch:
			require.True(t, ok, "channel closed after %d of %d messages", len(got), n)
			if ack {
				m.Ack()
			}
			got = append(got, m)
		case <-timeout:
			require.FailNow(t, "timed out", "received %d of %d messages", len(got), n)
		}
	}
	return got
}

func sqliteAssertQuiet(t *testing.T, ch <-chan *message.Message, d time.Duration) {
	t.Helper()
	select {
	case m, ok := <-ch:
		if ok {
			assert.Fail(t, "unexpected message", "got %s", m.UUID)
		}
	case <-time.After(d):
	}
}

func sqliteUUIDs(msgs []*message.Message) []string {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.UUID
	}
	return ids
}

func TestSQLiteUnackedRedeliveredToNextInstance(t *testing.T) {
	s := storetest.SQLite(t)
	a := sqliteTestBus(t, s, "g", sqliteFastConfig())
	ids := sqlitePublishN(t, a, "t", 10)

	ch, err := a.Subscribe(context.Background(), "t")
	require.NoError(t, err)
	got := sqliteReceive(t, ch, 10, false)
	for _, m := range got[:4] {
		m.Ack()
	}
	got[4].Nack()
	require.NoError(t, a.Close()) // the other five are never acked

	b := sqliteTestBus(t, s, "g", sqliteFastConfig())
	ch, err = b.Subscribe(context.Background(), "t")
	require.NoError(t, err)
	again := sqliteReceive(t, ch, 6, true)
	assert.ElementsMatch(t, ids[4:], sqliteUUIDs(again), "the nacked and unacked messages, and none acked")
	sqliteAssertQuiet(t, ch, 200*time.Millisecond)
}

func TestSQLiteCrashedHolderIsTakenOver(t *testing.T) {
	s := storetest.SQLite(t)
	s2 := sqliteReopen(t, s)
	cfg := sqliteFastConfig()
	pub := sqliteTestBus(t, s, "pub", cfg)
	ids := sqlitePublishN(t, pub, "t", 20)

	a := sqliteTestBus(t, s2, "g", cfg)
	chA, err := a.Subscribe(context.Background(), "t")
	require.NoError(t, err)
	got := sqliteReceive(t, chA, 20, false)
	for _, m := range got[:10] {
		m.Ack()
	}

	b := sqliteTestBus(t, s, "g", cfg)
	chB, err := b.Subscribe(context.Background(), "t")
	require.NoError(t, err)
	sqliteAssertQuiet(t, chB, 300*time.Millisecond) // A holds the lease

	// A's process dies: its connections go, it renews nothing more. B gets
	// every message A did not ack, and those whose acks A had not saved yet.
	require.NoError(t, s2.Close())
	seen := map[string]bool{}
	for !sqliteAllSeen(seen, ids[10:]) {
		seen[sqliteReceive(t, chB, 1, true)[0].UUID] = true
	}
	sqliteAssertQuietAfter(t, chB, 200*time.Millisecond, ids[:10])
}

func sqliteAllSeen(seen map[string]bool, ids []string) bool {
	for _, id := range ids {
		if !seen[id] {
			return false
		}
	}
	return true
}

// sqliteAssertQuietAfter is sqliteAssertQuiet, tolerating redeliveries of allowed.
func sqliteAssertQuietAfter(t *testing.T, ch <-chan *message.Message, d time.Duration, allowed []string) {
	t.Helper()
	for {
		select {
		case m, ok := <-ch:
			if !ok {
				return
			}
			m.Ack()
			assert.Contains(t, allowed, m.UUID, "unexpected message")
		case <-time.After(d):
			return
		}
	}
}

func TestSQLiteExpiredLeaseIsTakenOver(t *testing.T) {
	s := storetest.SQLite(t)
	b := sqliteTestBus(t, s, "g", sqliteFastConfig())
	ids := sqlitePublishN(t, b, "t", 5)
	// A holder in another process that stopped renewing 0.5 s before expiry.
	_, err := s.DB().Exec(`INSERT INTO bus_offsets (topic, consumer_group, acked_offset, holder, lease_until)
		VALUES ('t', 'g', 0, 'ghost', ?)`, time.Now().Add(500*time.Millisecond).UnixMilli())
	require.NoError(t, err)

	start := time.Now()
	ch, err := b.Subscribe(context.Background(), "t")
	require.NoError(t, err)
	got := sqliteReceive(t, ch, 5, true)
	assert.GreaterOrEqual(t, time.Since(start), 400*time.Millisecond, "delivered before the ghost's lease expired")
	assert.ElementsMatch(t, ids, sqliteUUIDs(got))
}

func TestSQLiteLeaseOfDeadProcessIsTakenOverAtOnce(t *testing.T) {
	// A process that has exited: its pid names nobody now.
	gone := exec.Command("true")
	require.NoError(t, gone.Run())
	host, _ := os.Hostname()
	dead := fmt.Sprintf("%s/%d/x", host, gone.Process.Pid)
	require.True(t, holderDead(dead))
	require.False(t, holderDead(fmt.Sprintf("%s/%d/x", host, os.Getppid())), "a live process")
	require.False(t, holderDead(fmt.Sprintf("%s/%d/x", host, os.Getpid())), "this process")
	require.False(t, holderDead(fmt.Sprintf("other-host/%d/x", gone.Process.Pid)), "another host's pid says nothing")
	require.False(t, holderDead("ghost"))

	s := storetest.SQLite(t)
	b := sqliteTestBus(t, s, "g", sqliteFastConfig())
	ids := sqlitePublishN(t, b, "t", 5)
	// The dead holder's lease would last another hour.
	_, err := s.DB().Exec(`INSERT INTO bus_offsets (topic, consumer_group, acked_offset, holder, lease_until)
		VALUES ('t', 'g', 0, ?, ?)`, dead, time.Now().Add(time.Hour).UnixMilli())
	require.NoError(t, err)
	ch, err := b.Subscribe(context.Background(), "t")
	require.NoError(t, err)
	got := sqliteReceive(t, ch, 5, true)
	assert.ElementsMatch(t, ids, sqliteUUIDs(got))
}

func TestSQLiteHolderStopsWhenLeaseTaken(t *testing.T) {
	s := storetest.SQLite(t)
	b := sqliteTestBus(t, s, "g", sqliteFastConfig())
	ch, err := b.Subscribe(context.Background(), "t")
	require.NoError(t, err)
	sqlitePublishN(t, b, "t", 3)
	sqliteReceive(t, ch, 3, true)
	offsets := func() (acked int64, holder string) {
		require.NoError(t, s.ReadDB().QueryRow(
			`SELECT acked_offset, holder FROM bus_offsets WHERE topic = 't' AND consumer_group = 'g'`).Scan(&acked, &holder))
		return acked, holder
	}
	var last int64
	require.NoError(t, s.ReadDB().QueryRow(`SELECT max("offset") FROM bus_messages`).Scan(&last))
	require.Eventually(t, func() bool { acked, _ := offsets(); return acked == last }, 2*time.Second, 10*time.Millisecond)

	// Another subscriber takes the lease (as it would after ours expired).
	_, err = s.DB().Exec(`UPDATE bus_offsets SET holder = 'other', lease_until = ? WHERE topic = 't'`,
		time.Now().Add(time.Hour).UnixMilli())
	require.NoError(t, err)
	// The holder finds out at its next renewal and stops reading.
	time.Sleep(sqliteFastConfig().leaseTTL)
	ids := sqlitePublishN(t, b, "t", 2)
	sqliteAssertQuiet(t, ch, 300*time.Millisecond)
	acked, holder := offsets()
	assert.Equal(t, last, acked)
	assert.Equal(t, "other", holder)

	// Released: the subscription takes the lease again and goes on.
	_, err = s.DB().Exec(`UPDATE bus_offsets SET holder = '', lease_until = 0 WHERE topic = 't'`)
	require.NoError(t, err)
	assert.ElementsMatch(t, ids, sqliteUUIDs(sqliteReceive(t, ch, 2, true)))
	sqliteAssertQuiet(t, ch, 100*time.Millisecond)
}

func TestSQLitePublishTx(t *testing.T) {
	s := storetest.SQLite(t)
	// Polling so slow that only the in-process wake-up delivers in time.
	b := sqliteTestBusPoll(t, s, "g", sqliteFastConfig(), time.Minute)
	ch, err := b.Subscribe(context.Background(), "t")
	require.NoError(t, err)
	ctx := context.Background()

	rolledBack := message.NewMessage(watermill.NewUUID(), []byte("no"))
	err = s.InTx(ctx, func(tx *store.Tx) error {
		require.NoError(t, b.PublishTx(ctx, tx.SQL(), "t", rolledBack))
		return fmt.Errorf("the record failed")
	})
	require.Error(t, err)

	committed := message.NewMessage(watermill.NewUUID(), []byte("yes"))
	committed.Metadata.Set("k", "v")
	start := time.Now()
	require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
		return b.PublishTx(ctx, tx.SQL(), "t", committed)
	}))
	got := sqliteReceive(t, ch, 1, true)
	assert.Equal(t, committed.UUID, got[0].UUID)
	assert.Equal(t, "yes", string(got[0].Payload))
	assert.Equal(t, "v", got[0].Metadata.Get("k"))
	assert.Less(t, time.Since(start), 10*time.Second, "woken by PublishTx, not by the one-minute poll")
	sqliteAssertQuiet(t, ch, 200*time.Millisecond)
}

func TestSQLiteGroupsEachGetEveryMessage(t *testing.T) {
	s := storetest.SQLite(t)
	pub := sqliteTestBus(t, s, "pub", sqliteFastConfig())
	g1 := sqliteTestBus(t, s, "g1", sqliteFastConfig())
	g2 := sqliteTestBus(t, s, "g2", sqliteFastConfig())
	ch1, err := g1.Subscribe(context.Background(), "t")
	require.NoError(t, err)
	ch2, err := g2.Subscribe(context.Background(), "t")
	require.NoError(t, err)

	ids := sqlitePublishN(t, pub, "t", 300)
	assert.ElementsMatch(t, ids, sqliteUUIDs(sqliteReceive(t, ch1, 300, true)))
	assert.ElementsMatch(t, ids, sqliteUUIDs(sqliteReceive(t, ch2, 300, true)))
	sqliteAssertQuiet(t, ch1, 100*time.Millisecond)
	sqliteAssertQuiet(t, ch2, 100*time.Millisecond)
}

func TestSQLiteOneConsumerPerGroupAcrossProcesses(t *testing.T) {
	s := storetest.SQLite(t)
	s2 := sqliteReopen(t, s)
	// Default leases: no takeover from a slow renewal under -race.
	a := sqliteTestBus(t, s, "g", defaultSQLiteConfig())
	b := sqliteTestBus(t, s2, "g", defaultSQLiteConfig())
	chA, err := a.Subscribe(context.Background(), "t")
	require.NoError(t, err)
	chB, err := b.Subscribe(context.Background(), "t")
	require.NoError(t, err)

	const n = 500
	var ids []string
	for range 5 {
		ids = append(ids, sqlitePublishN(t, a, "t", n/5)...)
	}
	seen := map[string]int{}
	timeout := time.After(20 * time.Second)
	for len(seen) < n {
		select {
		case m := <-chA:
			seen[m.UUID]++
			m.Ack()
		case m := <-chB:
			seen[m.UUID]++
			m.Ack()
		case <-timeout:
			require.FailNow(t, "timed out", "received %d of %d", len(seen), n)
		}
	}
	for _, id := range ids {
		assert.Equal(t, 1, seen[id], "message %s", id)
	}
	sqliteAssertQuiet(t, chA, 100*time.Millisecond)
	sqliteAssertQuiet(t, chB, 100*time.Millisecond)
}

func TestSQLiteBadRowsDoNotStopTheSubscriber(t *testing.T) {
	s := storetest.SQLite(t)
	b := sqliteTestBus(t, s, "g", sqliteFastConfig())
	_, err := s.DB().Exec(`INSERT INTO bus_messages (topic, uuid, payload, metadata) VALUES
		('t', 'bad-json', x'01', '{"unterminated'),
		('t', 'wrong-type', x'02', '[1, 2]'),
		('t', 'text-payload', 'plain text', '{"k": "v"}'),
		('t', 'number-payload', 42, '{}')`)
	require.NoError(t, err)
	ids := sqlitePublishN(t, b, "t", 1)

	ch, err := b.Subscribe(context.Background(), "t")
	require.NoError(t, err)
	got := sqliteReceive(t, ch, 5, true)
	byID := map[string]*message.Message{}
	for _, m := range got {
		byID[m.UUID] = m
	}
	require.Contains(t, byID, "bad-json")
	assert.Empty(t, byID["bad-json"].Metadata)
	assert.Equal(t, []byte{1}, []byte(byID["bad-json"].Payload))
	assert.Empty(t, byID["wrong-type"].Metadata)
	assert.Equal(t, "plain text", string(byID["text-payload"].Payload))
	assert.Equal(t, "v", byID["text-payload"].Metadata.Get("k"))
	assert.Equal(t, "42", string(byID["number-payload"].Payload))
	assert.Contains(t, byID, ids[0])
}

func TestSQLiteNackBacksOff(t *testing.T) {
	s := storetest.SQLite(t)
	b := sqliteTestBus(t, s, "g", sqliteFastConfig())
	ids := sqlitePublishN(t, b, "t", 1)
	ch, err := b.Subscribe(context.Background(), "t")
	require.NoError(t, err)

	var at []time.Time
	for range 4 {
		m := sqliteReceive(t, ch, 1, false)[0]
		require.Equal(t, ids[0], m.UUID)
		at = append(at, time.Now())
		m.Nack()
	}
	sqliteReceive(t, ch, 1, true)
	// At least 100, 200, 400 ms between deliveries. Only lower bounds: a
	// busy machine may deliver later, never earlier.
	for i, want := range []time.Duration{100, 200, 400} {
		assert.GreaterOrEqual(t, at[i+1].Sub(at[i]), want*time.Millisecond*9/10, "delay before delivery %d", i+2)
	}
}

func TestSQLiteCloseWaitsForHandlers(t *testing.T) {
	s := storetest.SQLite(t)
	cfg := sqliteFastConfig()
	cfg.closeGrace = 5 * time.Second
	b := sqliteTestBus(t, s, "g", cfg)
	sqlitePublishN(t, b, "t", 3)
	ch, err := b.Subscribe(context.Background(), "t")
	require.NoError(t, err)
	got := sqliteReceive(t, ch, 3, false)

	closed := make(chan error)
	go func() { closed <- b.Close() }()
	// Handlers still running when Close is called finish and publish.
	time.Sleep(50 * time.Millisecond)
	for _, m := range got {
		require.NoError(t, m.Context().Err(), "message context cancelled before the grace period")
		require.NoError(t, b.Publish("next", message.NewMessage(watermill.NewUUID(), nil)))
		m.Ack()
	}
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not return once every message was acked")
	}
	_, ok := <-ch
	assert.False(t, ok, "channel closed")
	require.ErrorIs(t, b.Publish("t", message.NewMessage(watermill.NewUUID(), nil)), errSQLiteBusClosed)

	var acked, last int64
	require.NoError(t, s.ReadDB().QueryRow(`SELECT acked_offset FROM bus_offsets WHERE topic = 't'`).Scan(&acked))
	require.NoError(t, s.ReadDB().QueryRow(`SELECT max("offset") FROM bus_messages WHERE topic = 't'`).Scan(&last))
	assert.Equal(t, last, acked, "acks saved on Close")
}

func TestSQLiteLargePublishIsChunked(t *testing.T) {
	s := storetest.SQLite(t)
	b := sqliteTestBus(t, s, "g", sqliteFastConfig())
	n := 2*sqliteInsertChunk + 7
	ids := sqlitePublishN(t, b, "t", n)
	var count int
	require.NoError(t, s.ReadDB().QueryRow(`SELECT count(*) FROM bus_messages WHERE topic = 't'`).Scan(&count))
	assert.Equal(t, n, count)
	ch, err := b.Subscribe(context.Background(), "t")
	require.NoError(t, err)
	assert.ElementsMatch(t, ids, sqliteUUIDs(sqliteReceive(t, ch, n, true)))
}

func TestSQLitePublishWakesOtherBusesOnTheStore(t *testing.T) {
	s := storetest.SQLite(t)
	pub := sqliteTestBusPoll(t, s, "pub", sqliteFastConfig(), time.Minute)
	sub := sqliteTestBusPoll(t, s, "g", sqliteFastConfig(), time.Minute)
	ch, err := sub.Subscribe(context.Background(), "t")
	require.NoError(t, err)
	for range 3 {
		ids := sqlitePublishN(t, pub, "t", 2)
		assert.ElementsMatch(t, ids, sqliteUUIDs(sqliteReceive(t, ch, 2, true)))
	}
}

func TestSQLiteCloseLeavesNoGoroutines(t *testing.T) {
	s := storetest.SQLite(t)
	before := runtime.NumGoroutine()
	b, err := newSQLiteBus(context.Background(), Options{DB: s.DB(), ReadDB: s.ReadDB()}, sqliteFastConfig())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, topic := range []string{"a", "b", "c"} {
		ch, err := b.Subscribe(ctx, topic)
		require.NoError(t, err)
		sqlitePublishN(t, b, topic, 5)
		got := sqliteReceive(t, ch, 5, false)
		got[0].Ack()
		got[1].Nack()
	}
	waiting, err := b.Subscribe(ctx, "a") // waits for the lease
	require.NoError(t, err)
	require.NoError(t, b.Close())
	_, ok := <-waiting
	assert.False(t, ok)
	// Polled here, not with Eventually, whose own goroutine would count.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if runtime.NumGoroutine() > before {
		t.Error("goroutines left after Close")
		buf := make([]byte, 1<<20)
		t.Logf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
	}
}

func TestSQLiteOpenNeedsDB(t *testing.T) {
	_, err := Open(context.Background(), Options{Driver: DriverSQLite})
	require.Error(t, err)
}

func TestSQLitePrunesWhatEveryGroupAcked(t *testing.T) {
	s := storetest.SQLite(t)
	cfg := sqliteFastConfig()
	cfg.retention, cfg.pruneEvery = 0, 0
	cfg.flushInterval = 10 * time.Millisecond
	slow := sqliteTestBus(t, s, "slow", cfg)
	fast := sqliteTestBus(t, s, "fast", cfg)
	sqlitePublishN(t, fast, "t", 10)

	// The slow group subscribes and acks nothing yet: nothing may go.
	slowCh, err := slow.Subscribe(context.Background(), "t")
	require.NoError(t, err)
	held := sqliteReceive(t, slowCh, 10, false)
	fastCh, err := fast.Subscribe(context.Background(), "t")
	require.NoError(t, err)
	sqliteReceive(t, fastCh, 10, true)
	count := func() int {
		var n int
		require.NoError(t, s.ReadDB().QueryRow(`SELECT COUNT(*) FROM bus_messages WHERE topic = 't'`).Scan(&n))
		return n
	}
	time.Sleep(200 * time.Millisecond)
	require.Equal(t, 10, count(), "the slow group has not acked them")

	for _, m := range held {
		m.Ack()
	}
	require.Eventually(t, func() bool { return count() == 0 }, 10*time.Second, 20*time.Millisecond,
		"acked by every group, older than the retention: pruned")
}
