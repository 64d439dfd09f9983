package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Depther is implemented by the durable buses, which can tell how far
// their consumer group is behind: the /metrics endpoint reports it as the
// bus depth.
type Depther interface {
	// Pending returns, for each topic the bus's consumer group consumes,
	// how many messages were published to it and not yet acked by the
	// group: those waiting plus those being handled. Acks are saved in
	// batches, so the count can run a few hundred milliseconds behind.
	Pending(ctx context.Context) (map[string]int64, error)
}

var (
	_ Depther = (*sqliteBus)(nil)
	_ Depther = (*pgBus)(nil)
	_ Depther = (*natsBus)(nil)
)

// sqlitePendingQuery counts, per topic the group has subscribed to, the
// messages past its saved offset, along the (topic, offset) index: the
// cost is the backlog, not the table.
const sqlitePendingQuery = `SELECT o.topic, (SELECT COUNT(*) FROM bus_messages m
	WHERE m.topic = o.topic AND m."offset" > o.acked_offset)
FROM bus_offsets o WHERE o.consumer_group = ?`

// Pending counts the messages past each topic's saved offset, for the
// topics the group has subscribed to, in this process or another one on
// the same file.
func (b *sqliteBus) Pending(ctx context.Context) (map[string]int64, error) {
	rows, err := b.readDB.QueryContext(ctx, sqlitePendingQuery, b.group)
	if err != nil {
		return nil, fmt.Errorf("sqlite bus: count pending messages: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var topic string
		var n int64
		if err := rows.Scan(&topic, &n); err != nil {
			return nil, fmt.Errorf("sqlite bus: count pending messages: %w", err)
		}
		out[topic] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite bus: count pending messages: %w", err)
	}
	return out, nil
}

// Pending counts the messages past the group's acked position, for the
// topics this bus has used. A topic the group never subscribed to has no
// position yet: all of its messages are pending, as its first subscription
// would receive them all. The count walks the messages table's primary key
// (transaction_id, offset) from that position on: its cost is the backlog,
// not the table, which watermill-sql never prunes.
func (b *pgBus) Pending(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	var err error
	b.ready.Range(func(key, _ any) bool {
		topic := key.(string)
		offsets := b.offsets.MessagesOffsetsTable(topic)
		q := `SELECT COUNT(*) FROM ` + b.schema.MessagesTable(topic) + ` m
			WHERE (m.transaction_id, m."offset") > (
				COALESCE((SELECT last_processed_transaction_id FROM ` + offsets + ` WHERE consumer_group = $1), '0'::xid8),
				COALESCE((SELECT offset_acked FROM ` + offsets + ` WHERE consumer_group = $1), 0))`
		var n int64
		if err = b.db.QueryRowContext(ctx, q, b.group).Scan(&n); err != nil {
			err = fmt.Errorf("postgres bus: count pending messages of %s: %w", topic, err)
			return false
		}
		out[topic] = n
		return true
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Pending asks the server about the group's consumer of each topic this
// bus has used: the messages it has not delivered yet plus those delivered
// and not acked.
func (b *natsBus) Pending(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	var errs []error
	b.topics.Range(func(key, value any) bool {
		topic, t := key.(string), value.(*natsTopic)
		info, err := t.consumer.Info(ctx)
		if err != nil {
			if errors.Is(err, jetstream.ErrConsumerNotFound) {
				// Deleted by hand: nothing to report until it is made again.
				return true
			}
			errs = append(errs, fmt.Errorf("nats bus: consumer of %s: %w", topic, err))
			return true
		}
		out[topic] = int64(info.NumPending) + int64(info.NumAckPending)
		return true
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}
