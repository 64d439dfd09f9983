// Package bus provides the durable message buses pipeline stages talk
// over: SQLite (the embedded default, tables in the store's file),
// PostgreSQL (watermill-sql, tables in the store's database), NATS
// JetStream (watermill-nats) and GoChannel (in memory, tests only).
//
// Every bus delivers at least once: a message is redelivered until a
// handler acks it, across crashes and restarts for the durable ones.
package bus

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Drivers, as named in the config's bus.driver.
const (
	DriverSQLite    = "sqlite"
	DriverPostgres  = "postgres"
	DriverNATS      = "nats"
	DriverGoChannel = "gochannel"
)

// PubSub is a publisher and a subscriber over one transport. Close closes
// both. Publish and Subscribe are safe for concurrent use.
type PubSub interface {
	message.Publisher
	message.Subscriber
}

// TxPublisher is implemented by buses whose messages live in the store's
// database. PublishTx writes the messages in the caller's transaction, so
// that a record and the message announcing it commit together (the
// transactional outbox): nothing is published for a rolled-back record.
type TxPublisher interface {
	PublishTx(ctx context.Context, tx *sql.Tx, topic string, msgs ...*message.Message) error
}

// Options configure a bus.
type Options struct {
	// Driver is one of the Driver constants.
	Driver string
	// DB holds the bus tables for the sqlite and postgres drivers; pass the
	// store's DB so writes share its connection and PublishTx can use the
	// store's transactions.
	DB *sql.DB
	// ReadDB, for sqlite, is the pool polling reads go through; nil uses DB.
	ReadDB *sql.DB
	// NATSURL lists the NATS servers, comma-separated (nats driver).
	NATSURL string
	// StreamPrefix prefixes JetStream stream names (nats driver).
	StreamPrefix string
	// ConsumerGroup names the durable consumer every crmhub process shares,
	// so that each message is handled once per group, by one of them.
	ConsumerGroup string
	// PollInterval is how often the SQL buses look for new messages when
	// idle; 0 picks a default.
	PollInterval time.Duration
	// Logger receives the bus's logs; nil discards them.
	Logger watermill.LoggerAdapter
}

func (o *Options) defaults() {
	if o.ConsumerGroup == "" {
		o.ConsumerGroup = "crmhub"
	}
	if o.StreamPrefix == "" {
		o.StreamPrefix = "crmhub"
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 100 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = watermill.NopLogger{}
	}
}

// Open connects the bus named by opts.Driver.
func Open(ctx context.Context, opts Options) (PubSub, error) {
	opts.defaults()
	switch opts.Driver {
	case DriverSQLite:
		return openSQLite(ctx, opts)
	case DriverPostgres:
		return openPostgres(ctx, opts)
	case DriverNATS:
		return openNATS(ctx, opts)
	case DriverGoChannel:
		return openGoChannel(opts), nil
	default:
		return nil, fmt.Errorf("open bus: unknown driver %q", opts.Driver)
	}
}
