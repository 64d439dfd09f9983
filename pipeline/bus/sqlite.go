package bus

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// The SQLite bus keeps its messages in the store's own file:
//
//   - bus_messages is an append-only log; "offset" is an AUTOINCREMENT rowid.
//     SQLite has one writer at a time, so offsets become visible to readers in
//     increasing order and a subscriber can read "everything after N"
//     without missing a row that commits later with a smaller offset.
//   - bus_offsets holds, per (topic, consumer group), the highest offset
//     below which every message has been acked, and the lease that makes one
//     subscription at a time (in this process or another one on the same
//     file) the consumer of that topic for that group. Offsets are written
//     only by the lease holder (WHERE holder = ?), so a subscription that
//     lost its lease can no longer move them.
//
// Handlers never run inside a bus transaction: a subscription reads a batch
// through the read pool, hands the messages out, and writes its offset in a
// short transaction of its own, every few hundred acks or milliseconds.
var sqliteSchema = []string{
	`CREATE TABLE IF NOT EXISTS bus_messages (
		"offset"   INTEGER PRIMARY KEY AUTOINCREMENT,
		topic      TEXT NOT NULL,
		uuid       TEXT NOT NULL,
		payload    BLOB NOT NULL,
		metadata   TEXT NOT NULL DEFAULT '{}',
		created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
	)`,
	`CREATE INDEX IF NOT EXISTS bus_messages_topic_offset ON bus_messages (topic, "offset")`,
	`CREATE TABLE IF NOT EXISTS bus_offsets (
		topic          TEXT NOT NULL,
		consumer_group TEXT NOT NULL,
		acked_offset   INTEGER NOT NULL DEFAULT 0,
		holder         TEXT NOT NULL DEFAULT '',
		lease_until    INTEGER NOT NULL DEFAULT 0,
		updated_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
		PRIMARY KEY (topic, consumer_group)
	) WITHOUT ROWID`,
}

// sqliteConfig holds the knobs of the SQLite bus that Options does not
// expose; tests shorten the timeouts.
type sqliteConfig struct {
	// window caps the messages of one subscription that are fetched but not
	// yet acked: how many handlers run at once.
	window int
	// maxSpan caps how far past the oldest unacked message a subscription
	// reads ahead, so that one message nacked over and over does not let the
	// set of acked-but-unsaved offsets grow without bound.
	maxSpan int
	// leaseTTL is how long a lease lasts without renewal: how long a crashed
	// holder blocks its topic for its group.
	leaseTTL time.Duration
	// leaseRetry is how often a subscription waiting for a lease held by
	// another process checks whether it expired.
	leaseRetry time.Duration
	// flushInterval and flushEvery say when acked offsets are saved: after
	// flushEvery acks, or flushInterval after the first unsaved ack.
	flushInterval time.Duration
	flushEvery    int
	// closeGrace is how long Close and a cancelled Subscribe wait for
	// handlers to ack the messages they hold before cancelling them.
	closeGrace time.Duration
	// nackDelay is the first redelivery delay of a nacked message; it
	// doubles with every further nack up to maxNackDelay.
	nackDelay    time.Duration
	maxNackDelay time.Duration
	// publishBatchRows caps the rows that concurrent Publish calls share in
	// one transaction.
	publishBatchRows int
	// retention is how long a message every group has acked stays in the
	// table (for inspection, and for a consumer group created soon after);
	// pruneEvery is how often a lease holder deletes older ones.
	retention  time.Duration
	pruneEvery time.Duration
}

func defaultSQLiteConfig() sqliteConfig {
	return sqliteConfig{
		window:           512,
		maxSpan:          16 * 1024,
		leaseTTL:         30 * time.Second,
		leaseRetry:       time.Second,
		flushInterval:    200 * time.Millisecond,
		flushEvery:       1000,
		closeGrace:       5 * time.Second,
		nackDelay:        100 * time.Millisecond,
		maxNackDelay:     10 * time.Second,
		publishBatchRows: 5000,
		retention:        24 * time.Hour,
		pruneEvery:       time.Minute,
	}
}

// errSQLiteBusClosed is returned by Publish and Subscribe after Close.
var errSQLiteBusClosed = errors.New("sqlite bus is closed")

// sqliteBus is the durable Pub/Sub in the store's SQLite file.
type sqliteBus struct {
	db     *sql.DB // the store's single-connection writer
	readDB *sql.DB // the store's read-only pool, or db
	group  string
	poll   time.Duration
	cfg    sqliteConfig
	log    watermill.LoggerAdapter
	hub    *sqliteHub

	fetchRead  *sql.Stmt // fetch through readDB
	fetchWrite *sql.Stmt // fetch through db, after a PublishTx

	// closeCtx is cancelled by Close: it stops lease waits and fetches, not
	// the messages handed out (they get closeGrace).
	closeCtx    context.Context
	cancelClose context.CancelFunc

	mu      sync.Mutex
	closed  bool // Close has begun: no new subscriptions
	stopped bool // Close has returned: no more publishing
	subs    sync.WaitGroup

	pub sqliteGroupCommit
}

var (
	_ PubSub                       = (*sqliteBus)(nil)
	_ TxPublisher                  = (*sqliteBus)(nil)
	_ message.SubscribeInitializer = (*sqliteBus)(nil)
)

func openSQLite(ctx context.Context, opts Options) (PubSub, error) {
	return newSQLiteBus(ctx, opts, defaultSQLiteConfig())
}

func newSQLiteBus(ctx context.Context, opts Options, cfg sqliteConfig) (*sqliteBus, error) {
	opts.defaults()
	if opts.DB == nil {
		return nil, errors.New("open sqlite bus: no database: pass the store's DB in Options.DB")
	}
	readDB := opts.ReadDB
	if readDB == nil {
		readDB = opts.DB
	}
	if err := createSQLiteSchema(ctx, opts.DB); err != nil {
		return nil, err
	}
	b := &sqliteBus{
		db:     opts.DB,
		readDB: readDB,
		group:  opts.ConsumerGroup,
		poll:   opts.PollInterval,
		cfg:    cfg,
		log:    opts.Logger.With(watermill.LogFields{"bus": DriverSQLite, "consumer_group": opts.ConsumerGroup}),
	}
	var err error
	if b.fetchRead, err = readDB.PrepareContext(ctx, sqliteFetchQuery); err != nil {
		return nil, fmt.Errorf("open sqlite bus: prepare fetch: %w", err)
	}
	if b.fetchWrite, err = opts.DB.PrepareContext(ctx, sqliteFetchQuery); err != nil {
		b.fetchRead.Close()
		return nil, fmt.Errorf("open sqlite bus: prepare fetch: %w", err)
	}
	b.closeCtx, b.cancelClose = context.WithCancel(context.Background())
	b.hub = acquireSQLiteHub(opts.DB)
	return b, nil
}

func createSQLiteSchema(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create sqlite bus tables: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for _, stmt := range sqliteSchema {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("create sqlite bus tables: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create sqlite bus tables: commit: %w", err)
	}
	return nil
}

// SubscribeInitialize does nothing: the tables exist from open on, and a
// consumer group's offset row is created by its first subscription.
func (b *sqliteBus) SubscribeInitialize(topic string) error {
	if topic == "" {
		return errors.New("subscribe initialize: empty topic")
	}
	return nil
}

// Close stops every subscription of this bus, giving the messages they have
// handed out up to the close grace period (5 s) to be acked, saves the acked
// offsets, releases the leases, closes the subscription channels and waits
// for the bus's goroutines. A Publish under way completes; Publish and
// Subscribe after Close fail. Close is idempotent. It does not close the
// store's connections.
func (b *sqliteBus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()

	b.cancelClose()
	b.subs.Wait()
	b.mu.Lock()
	b.stopped = true
	b.mu.Unlock()
	releaseSQLiteHub(b.db, b.hub)
	return errors.Join(b.fetchRead.Close(), b.fetchWrite.Close())
}

// isStopped says whether Close has returned. Publishing goes on while
// Close waits for handlers, so that a handler finishing in the grace period
// can still publish what it produced.
func (b *sqliteBus) isStopped() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stopped
}

// sqliteHub wakes the subscriptions of every bus sharing one writer handle,
// which in practice means one store file in one process: a Publish wakes the
// subscriptions of its topic at once instead of at their next poll, and a
// released lease wakes the subscriptions waiting for it.
type sqliteHub struct {
	mu   sync.Mutex
	refs int
	subs map[string]map[*sqliteSub]struct{} // by topic
}

var sqliteHubs = struct {
	sync.Mutex
	m map[*sql.DB]*sqliteHub
}{m: map[*sql.DB]*sqliteHub{}}

func acquireSQLiteHub(db *sql.DB) *sqliteHub {
	sqliteHubs.Lock()
	defer sqliteHubs.Unlock()
	h := sqliteHubs.m[db]
	if h == nil {
		h = &sqliteHub{subs: map[string]map[*sqliteSub]struct{}{}}
		sqliteHubs.m[db] = h
	}
	h.refs++
	return h
}

func releaseSQLiteHub(db *sql.DB, h *sqliteHub) {
	sqliteHubs.Lock()
	defer sqliteHubs.Unlock()
	h.refs--
	if h.refs == 0 && sqliteHubs.m[db] == h {
		delete(sqliteHubs.m, db)
	}
}

func (h *sqliteHub) add(s *sqliteSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.subs[s.topic]
	if m == nil {
		m = map[*sqliteSub]struct{}{}
		h.subs[s.topic] = m
	}
	m[s] = struct{}{}
}

func (h *sqliteHub) remove(s *sqliteSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs[s.topic], s)
	if len(h.subs[s.topic]) == 0 {
		delete(h.subs, s.topic)
	}
}

// published wakes the subscriptions of topic. uncommitted says the messages
// were written in a caller's transaction that may not have committed yet:
// the woken subscriptions then read through the writer connection, which
// they get only once that transaction has ended.
func (h *sqliteHub) published(topic string, uncommitted bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[topic] {
		if uncommitted {
			s.viaWriter.Store(true)
		}
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// released wakes the subscriptions of group waiting for the lease on topic.
func (h *sqliteHub) released(topic, group string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[topic] {
		if s.b.group != group {
			continue
		}
		select {
		case s.leaseFree <- struct{}{}:
		default:
		}
	}
}
