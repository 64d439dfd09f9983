package bus

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
)

// pgSchemaLock is the advisory lock key that serializes creating the bus
// tables. CREATE TABLE IF NOT EXISTS is not safe against a concurrent
// CREATE of the same table: the loser fails on pg_type's unique index.
// Several crmhub processes start at once, so they take turns.
const pgSchemaLock = 0x63726d6875620001 // "crmhub" + 1

// pgBadTopicChars matches what watermill-sql refuses in a topic name.
var pgBadTopicChars = regexp.MustCompile(`[^A-Za-z0-9\-\$\:\.\_]`)

// pgMaxIdentifier is PostgreSQL's limit on identifier length; longer names
// are silently truncated, which could make two topics share a table.
const pgMaxIdentifier = 63

// pgMaxUUID is the width of watermill-sql's uuid column (VARCHAR(36)).
const pgMaxUUID = 36

// pgInsertChunk caps the messages per INSERT: each takes three bind
// parameters and PostgreSQL allows 65535 per statement.
const pgInsertChunk = 1000

// pgConfig is the tuning of the postgres bus. openPostgres derives it from
// Options; tests shorten it through newPostgres.
type pgConfig struct {
	// PollInterval is how long an idle subscriber waits before looking for
	// new messages again.
	PollInterval time.Duration
	// ResendInterval is how long a subscriber waits before handing a nacked
	// message out again. Retries with backoff belong in the router's Retry
	// middleware; this only keeps a handler that nacks at once from
	// spinning on the database.
	ResendInterval time.Duration
	// AckDeadline is how long a handler may hold a message: after it the
	// message's context is cancelled and the message handed out again.
	AckDeadline time.Duration
	// BatchSize is how many messages one subscriber transaction reads.
	// Messages acked in a batch whose transaction never commits (a crash)
	// are delivered again.
	BatchSize int
}

func pgConfigFrom(opts Options) pgConfig {
	return pgConfig{
		PollInterval:   opts.PollInterval,
		ResendInterval: opts.PollInterval,
		AckDeadline:    30 * time.Second,
		BatchSize:      100,
	}
}

// pgBus is the PostgreSQL bus: watermill-sql's publisher and subscriber on
// the store's database, one messages table and one offsets table per topic.
type pgBus struct {
	db      *sql.DB
	schema  wsql.DefaultPostgreSQLSchema
	offsets wsql.DefaultPostgreSQLOffsetsAdapter
	pub     *wsql.Publisher
	sub     *wsql.Subscriber
	group   string
	log     watermill.LoggerAdapter

	// ready holds the topics whose tables are known to exist.
	ready sync.Map
	// mu keeps closing from running concurrently with Publish or
	// Subscribe: watermill-sql's closed flags are plain bools.
	mu                   sync.RWMutex
	pubClosed, subClosed bool
	// closing and forwards make Close return only after every
	// subscription's channel is closed: watermill-sql closes its channels
	// after its Close has returned.
	closing  chan struct{}
	forwards sync.WaitGroup
}

var (
	_ PubSub                       = (*pgBus)(nil)
	_ TxPublisher                  = (*pgBus)(nil)
	_ message.SubscribeInitializer = (*pgBus)(nil)
)

func openPostgres(ctx context.Context, opts Options) (PubSub, error) {
	return newPostgres(ctx, opts, pgConfigFrom(opts))
}

func newPostgres(ctx context.Context, opts Options, cfg pgConfig) (*pgBus, error) {
	if opts.Logger == nil {
		opts.Logger = watermill.NopLogger{}
	}
	if opts.DB == nil {
		return nil, errors.New("open postgres bus: no database: pass the store's DB in bus.Options.DB")
	}
	if err := opts.DB.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("open postgres bus: ping database: %w", err)
	}
	b := &pgBus{
		db: opts.DB,
		schema: wsql.DefaultPostgreSQLSchema{
			// Payloads are raw records as the sources sent them: JSON, CSV
			// rows, form posts. A JSON column would reject all but the first.
			GeneratePayloadType: func(string) string { return "BYTEA" },
			SubscribeBatchSize:  cfg.BatchSize,
		},
		group:   opts.ConsumerGroup,
		log:     opts.Logger.With(watermill.LogFields{"bus": DriverPostgres}),
		closing: make(chan struct{}),
	}
	var err error
	// Tables are created by ensureTopic, under an advisory lock, rather than
	// by watermill-sql's AutoInitializeSchema / InitializeSchema, which race
	// when several processes create the same table.
	b.pub, err = wsql.NewPublisher(opts.DB, wsql.PublisherConfig{SchemaAdapter: b.schema}, b.log)
	if err != nil {
		return nil, fmt.Errorf("open postgres bus: publisher: %w", err)
	}
	ackDeadline := cfg.AckDeadline
	b.sub, err = wsql.NewSubscriber(opts.DB, wsql.SubscriberConfig{
		ConsumerGroup:  opts.ConsumerGroup,
		AckDeadline:    &ackDeadline,
		PollInterval:   cfg.PollInterval,
		ResendInterval: cfg.ResendInterval,
		RetryInterval:  time.Second,
		SchemaAdapter:  b.schema,
		OffsetsAdapter: b.offsets,
	}, b.log)
	if err != nil {
		return nil, fmt.Errorf("open postgres bus: subscriber: %w", err)
	}
	return b, nil
}

// Publish appends the messages to the topic's table. Messages of one call
// are committed together and delivered in the order given.
func (b *pgBus) Publish(topic string, msgs ...*message.Message) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.pubClosed {
		return fmt.Errorf("publish to %s: %w", topic, wsql.ErrPublisherClosed)
	}
	if len(msgs) == 0 {
		return nil
	}
	if err := checkPgMessages(msgs); err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	ctx := context.Background()
	if err := b.ensureTopic(ctx, topic); err != nil {
		return err
	}
	if len(msgs) <= pgInsertChunk {
		if err := b.pub.Publish(topic, msgs...); err != nil {
			return fmt.Errorf("publish to %s: %w", topic, err)
		}
		return nil
	}
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("publish to %s: begin: %w", topic, err)
	}
	if err := b.publishTx(tx, topic, msgs); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("publish to %s: commit: %w", topic, err)
	}
	return nil
}

// PublishTx writes the messages in tx: they are delivered once tx commits
// and never if it rolls back. The topic's tables are created beforehand on
// a connection of their own, so the first publish to a new topic needs a
// free connection in the pool besides tx's.
func (b *pgBus) PublishTx(ctx context.Context, tx *sql.Tx, topic string, msgs ...*message.Message) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.pubClosed {
		return fmt.Errorf("publish to %s in transaction: %w", topic, wsql.ErrPublisherClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("publish to %s in transaction: %w", topic, err)
	}
	if len(msgs) == 0 {
		return nil
	}
	if err := checkPgMessages(msgs); err != nil {
		return fmt.Errorf("publish to %s in transaction: %w", topic, err)
	}
	if err := b.ensureTopic(ctx, topic); err != nil {
		return err
	}
	if err := b.publishTx(tx, topic, msgs); err != nil {
		return fmt.Errorf("publish to %s in transaction: %w", topic, err)
	}
	return nil
}

func (b *pgBus) publishTx(tx *sql.Tx, topic string, msgs []*message.Message) error {
	// A publisher on a *sql.Tx is how watermill-sql v3 writes in a
	// transaction it does not own; it is a plain struct, cheap to make.
	pub, err := wsql.NewPublisher(tx, wsql.PublisherConfig{SchemaAdapter: b.schema}, b.log)
	if err != nil {
		return fmt.Errorf("transactional publisher: %w", err)
	}
	for chunk := range slices.Chunk(msgs, pgInsertChunk) {
		if err := pub.Publish(topic, chunk...); err != nil {
			return err
		}
	}
	return nil
}

// checkPgMessages refuses messages the table cannot hold, before they abort
// a caller's transaction.
func checkPgMessages(msgs []*message.Message) error {
	for _, m := range msgs {
		if len(m.UUID) > pgMaxUUID {
			return fmt.Errorf("message uuid %q is longer than %d characters", m.UUID, pgMaxUUID)
		}
	}
	return nil
}

// Subscribe delivers the topic's messages for the consumer group, in the
// order they were committed, one at a time: the next message comes after
// the previous one is acked. Subscribers of one group, in this process or
// another, take turns; each message goes to one of them.
//
// A subscription reads a batch in a transaction that stays open until the
// batch is handled, and one waiting for its turn waits in a transaction
// too: each holds a connection of the pool meanwhile. A message becomes
// visible only once every transaction that started writing before it was
// committed has ended, so one long writing transaction anywhere in the
// database holds up every topic.
func (b *pgBus) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.subClosed {
		return nil, fmt.Errorf("subscribe to %s: %w", topic, wsql.ErrSubscriberClosed)
	}
	if err := b.ensureTopic(ctx, topic); err != nil {
		return nil, err
	}
	ch, err := b.sub.Subscribe(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", topic, err)
	}
	out := make(chan *message.Message)
	b.forwards.Add(1)
	go func() {
		defer b.forwards.Done()
		defer close(out)
		for m := range ch {
			select {
			case out <- m:
			case <-b.closing:
				// Nobody took it: the subscriber waits for an ack that
				// will not come, so give it back for redelivery.
				m.Nack()
				return
			}
		}
	}()
	return out, nil
}

// SubscribeInitialize creates the topic's tables if they do not exist.
// Calling it for every topic at start-up moves that work out of the first
// Publish or PublishTx.
func (b *pgBus) SubscribeInitialize(topic string) error {
	return b.ensureTopic(context.Background(), topic)
}

// Close stops the subscriptions and waits for publishes in progress. The
// database stays open: it belongs to the store.
func (b *pgBus) Close() error {
	return errors.Join(b.closeSubscriber(), b.closePublisher())
}

func (b *pgBus) closeSubscriber() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subClosed {
		return nil
	}
	b.subClosed = true
	close(b.closing)
	err := b.sub.Close()
	b.forwards.Wait()
	if err != nil {
		return fmt.Errorf("close postgres bus subscriber: %w", err)
	}
	return nil
}

func (b *pgBus) closePublisher() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pubClosed {
		return nil
	}
	b.pubClosed = true
	if err := b.pub.Close(); err != nil {
		return fmt.Errorf("close postgres bus publisher: %w", err)
	}
	return nil
}

// ensureTopic creates the topic's messages and offsets tables once per
// process.
func (b *pgBus) ensureTopic(ctx context.Context, topic string) error {
	if _, ok := b.ready.Load(topic); ok {
		return nil
	}
	// The topic goes into table names, quoted; watermill-sql checks it only
	// after it would have created the tables.
	if pgBadTopicChars.MatchString(topic) || topic == "" {
		return fmt.Errorf("create bus tables for %q: %w", topic, wsql.ErrInvalidTopicName)
	}
	if n := len(b.offsets.MessagesOffsetsTable(topic)) - 2; n > pgMaxIdentifier { // minus the quotes
		return fmt.Errorf("create bus tables for %s: topic name too long: table name would be %d characters, PostgreSQL allows %d",
			topic, n, pgMaxIdentifier)
	}
	queries := append(b.schema.SchemaInitializingQueries(topic), b.offsets.SchemaInitializingQueries(topic)...)
	err := func() (err error) {
		tx, err := b.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer func() {
			if err != nil {
				_ = tx.Rollback()
			}
		}()
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(pgSchemaLock)); err != nil {
			return err
		}
		for _, q := range queries {
			if _, err := tx.ExecContext(ctx, q.Query, q.Args...); err != nil {
				return err
			}
		}
		return tx.Commit()
	}()
	if err != nil {
		return fmt.Errorf("create bus tables for %s: %w", topic, err)
	}
	b.ready.Store(topic, struct{}{})
	b.log.Debug("Bus tables ready", watermill.LogFields{"topic": topic})
	return nil
}
