package bus

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
)

// sqliteInsertChunk is how many rows one INSERT carries: 4 parameters a row
// keeps it far below SQLite's limit of 32766 parameters a statement.
const sqliteInsertChunk = 1000

// sqliteRow is a message encoded for bus_messages.
type sqliteRow struct {
	uuid     string
	payload  []byte
	metadata string
}

func encodeSQLiteRows(msgs []*message.Message) ([]sqliteRow, error) {
	rows := make([]sqliteRow, len(msgs))
	for i, m := range msgs {
		if m == nil {
			return nil, fmt.Errorf("message %d of %d is nil", i+1, len(msgs))
		}
		md := "{}"
		if len(m.Metadata) > 0 {
			b, err := json.Marshal(m.Metadata)
			if err != nil {
				return nil, fmt.Errorf("encode metadata of message %s: %w", m.UUID, err)
			}
			md = string(b)
		}
		payload := m.Payload
		if payload == nil {
			payload = []byte{} // the column is NOT NULL; nil would bind as NULL
		}
		rows[i] = sqliteRow{uuid: m.UUID, payload: payload, metadata: md}
	}
	return rows, nil
}

// sqliteExecer is what inserts run on: the bus's own transaction or a caller's.
type sqliteExecer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// insertSQLiteRows appends rows to topic's log, sqliteInsertChunk rows per
// statement.
func insertSQLiteRows(ctx context.Context, ex sqliteExecer, topic string, rows []sqliteRow) error {
	for len(rows) > 0 {
		n := min(len(rows), sqliteInsertChunk)
		if _, err := ex.ExecContext(ctx, sqliteInsertSQL(n), sqliteInsertArgs(topic, rows[:n])...); err != nil {
			return fmt.Errorf("insert %d messages into topic %s: %w", n, topic, err)
		}
		rows = rows[n:]
	}
	return nil
}

var sqliteInsertSQLs sync.Map // row count → statement text

func sqliteInsertSQL(n int) string {
	if q, ok := sqliteInsertSQLs.Load(n); ok {
		return q.(string)
	}
	var sb strings.Builder
	sb.WriteString(`INSERT INTO bus_messages (topic, uuid, payload, metadata) VALUES `)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString("(?,?,?,?)")
	}
	q := sb.String()
	sqliteInsertSQLs.Store(n, q)
	return q
}

func sqliteInsertArgs(topic string, rows []sqliteRow) []any {
	args := make([]any, 0, 4*len(rows))
	for _, r := range rows {
		args = append(args, topic, r.uuid, r.payload, r.metadata)
	}
	return args
}

// Publish appends msgs to topic. Every message of one call commits in one
// transaction, or none does; concurrent calls share a transaction (group
// commit), so many small publishes cost one disk sync between them. Publish
// returns once the messages are durable, and wakes this process's
// subscriptions of topic. It is safe for concurrent use.
func (b *sqliteBus) Publish(topic string, msgs ...*message.Message) error {
	if b.isStopped() {
		return fmt.Errorf("publish to %s: %w", topic, errSQLiteBusClosed)
	}
	if topic == "" {
		return errors.New("publish: empty topic")
	}
	if len(msgs) == 0 {
		return nil
	}
	rows, err := encodeSQLiteRows(msgs)
	if err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	return b.pub.publish(b, &sqlitePublishReq{topic: topic, rows: rows, done: make(chan sqlitePublishResult, 1)})
}

// PublishTx appends msgs to topic inside tx, the transactional outbox: they
// become visible to subscribers when tx commits, and never if it rolls back.
// tx must be a transaction on the bus's DB (the store's writer). PublishTx
// wakes this process's subscriptions of topic; they read once tx has ended.
func (b *sqliteBus) PublishTx(ctx context.Context, tx *sql.Tx, topic string, msgs ...*message.Message) error {
	if b.isStopped() {
		return fmt.Errorf("publish to %s in transaction: %w", topic, errSQLiteBusClosed)
	}
	if tx == nil {
		return errors.New("publish in transaction: nil transaction")
	}
	if topic == "" {
		return errors.New("publish in transaction: empty topic")
	}
	if len(msgs) == 0 {
		return nil
	}
	rows, err := encodeSQLiteRows(msgs)
	if err != nil {
		return fmt.Errorf("publish to %s in transaction: %w", topic, err)
	}
	if err := insertSQLiteRows(ctx, tx, topic, rows); err != nil {
		return fmt.Errorf("publish in transaction: %w", err)
	}
	b.hub.published(topic, true)
	return nil
}

type sqlitePublishReq struct {
	topic string
	rows  []sqliteRow
	done  chan sqlitePublishResult // receives exactly one result
}

// sqlitePublishResult ends a waiting Publish: with the outcome of its
// transaction, or with lead set, telling it to write the next batch itself.
type sqlitePublishResult struct {
	err  error
	lead bool
}

// sqliteGroupCommit batches concurrent Publish calls into shared transactions
// without a goroutine of its own: the first caller becomes the leader and
// writes every request queued at that moment; whoever queued meanwhile
// waits, and the leader hands the next batch to the first of them.
type sqliteGroupCommit struct {
	mu      sync.Mutex
	queue   []*sqlitePublishReq
	leading bool
}

func (g *sqliteGroupCommit) publish(b *sqliteBus, req *sqlitePublishReq) error {
	g.mu.Lock()
	g.queue = append(g.queue, req)
	if g.leading {
		g.mu.Unlock()
		res := <-req.done
		if !res.lead {
			return res.err
		}
		g.mu.Lock()
	} else {
		g.leading = true
	}
	// This caller leads, and its request is first in the queue.
	n, rows := 0, 0
	for n < len(g.queue) && (n == 0 || rows+len(g.queue[n].rows) <= b.cfg.publishBatchRows) {
		rows += len(g.queue[n].rows)
		n++
	}
	batch := g.queue[:n:n]
	g.queue = g.queue[n:]
	g.mu.Unlock()

	err := b.writeBatch(batch)
	for _, r := range batch[1:] {
		r.done <- sqlitePublishResult{err: err}
	}
	if err == nil {
		notified := make(map[string]bool, 1)
		for _, r := range batch {
			if !notified[r.topic] {
				notified[r.topic] = true
				b.hub.published(r.topic, false)
			}
		}
	}

	g.mu.Lock()
	if len(g.queue) == 0 {
		g.leading = false
		g.queue = nil
		g.mu.Unlock()
	} else {
		next := g.queue[0]
		g.mu.Unlock()
		next.done <- sqlitePublishResult{lead: true}
	}
	return err
}

// writeBatch writes the requests of one group commit in one transaction.
func (b *sqliteBus) writeBatch(batch []*sqlitePublishReq) error {
	ctx := context.Background()
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("publish: begin: %w", err)
	}
	for _, r := range batch {
		if err := insertSQLiteRows(ctx, tx, r.topic, r.rows); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("publish: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("publish: commit: %w", err)
	}
	return nil
}
