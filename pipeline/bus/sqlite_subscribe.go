package bus

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

const sqliteFetchQuery = `SELECT "offset", uuid, payload, metadata FROM bus_messages
WHERE topic = ? AND "offset" > ? ORDER BY "offset" LIMIT ?`

// The lease is taken when it is free, expired, or held by a process that is
// known to have died (the last parameter names that holder, or is ”); the
// row is created on a group's first subscription with offset 0, so a new
// group reads the topic from its first message.
const sqliteAcquireQuery = `INSERT INTO bus_offsets (topic, consumer_group, acked_offset, holder, lease_until)
VALUES (?, ?, 0, ?, ?)
ON CONFLICT (topic, consumer_group) DO UPDATE SET
	holder = excluded.holder,
	lease_until = excluded.lease_until,
	updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
WHERE bus_offsets.holder = '' OR bus_offsets.lease_until < ? OR bus_offsets.holder = ?
RETURNING acked_offset`

// Renewing the lease and saving the offset are one statement, fenced by the
// holder: a subscription whose lease was taken over changes nothing.
const sqliteRenewQuery = `UPDATE bus_offsets SET acked_offset = ?, lease_until = ?,
	updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
WHERE topic = ? AND consumer_group = ? AND holder = ?`

const sqliteReleaseQuery = `UPDATE bus_offsets SET acked_offset = ?, holder = '', lease_until = 0,
	updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
WHERE topic = ? AND consumer_group = ? AND holder = ?`

// sqliteSub is one Subscribe call: it waits for the lease on its topic
// for the bus's consumer group, consumes while it holds it, and waits again
// if it loses it.
type sqliteSub struct {
	b      *sqliteBus
	topic  string
	holder string // unique per subscription, also across processes
	out    chan *message.Message
	log    watermill.LoggerAdapter

	wake      chan struct{} // new messages in topic
	leaseFree chan struct{} // a lease on topic was released
	viaWriter atomic.Bool   // a PublishTx happened: read through the writer once
}

// Subscribe returns the messages of topic for the bus's consumer group. Of
// all subscriptions of one group to one topic, in this process or another
// one on the same file, one at a time receives messages (it holds the
// topic's lease); the others wait and take over when it stops or its lease
// expires. A new group starts at the topic's first message.
//
// Up to a window of messages is handed out before the first is acked, so
// handlers run concurrently and order is not guaranteed. Every message is
// redelivered until acked: a Nack redelivers it after a delay that grows
// with each nack, and a message neither acked nor nacked when the process
// stops is redelivered by the next subscription. The channel is closed
// when ctx is cancelled or the bus is closed, once the messages handed out
// have been acked or the close grace period has passed. A message's context
// is cancelled when it is acked or nacked, and when its subscription ends.
func (b *sqliteBus) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if topic == "" {
		return nil, errors.New("subscribe: empty topic")
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, fmt.Errorf("subscribe to %s: %w", topic, errSQLiteBusClosed)
	}
	b.subs.Add(1)
	b.mu.Unlock()

	s := &sqliteSub{
		b:         b,
		topic:     topic,
		holder:    newHolder(),
		out:       make(chan *message.Message),
		log:       b.log.With(watermill.LogFields{"topic": topic}),
		wake:      make(chan struct{}, 1),
		leaseFree: make(chan struct{}, 1),
	}
	b.hub.add(s)
	go s.run(ctx)
	return s.out, nil
}

func (s *sqliteSub) run(ctx context.Context) {
	defer s.b.subs.Done()
	defer close(s.out)
	defer s.b.hub.remove(s)

	// runCtx ends on ctx or Close; it bounds lease waits and reads, while
	// the messages handed out keep ctx so that Close can give them a grace.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.b.closeCtx, cancel)
	defer stop()

	for {
		start, ok := s.acquire(runCtx)
		if !ok {
			return
		}
		c := newSQLiteConsumer(s, start)
		if c.consume(ctx, runCtx) {
			return
		}
	}
}

// acquire waits until this subscription holds the lease and returns the
// group's saved offset; false when runCtx ended first.
func (s *sqliteSub) acquire(runCtx context.Context) (int64, bool) {
	var timer *time.Timer
	logged := false
	for {
		off, ok, err := s.tryAcquire(runCtx)
		if err != nil && runCtx.Err() == nil {
			s.log.Error("Cannot take the subscription lease", err, nil)
		}
		if ok {
			return off, true
		}
		if !logged && err == nil {
			s.log.Debug("Waiting for the subscription lease, held by another subscriber", nil)
			logged = true
		}
		if timer == nil {
			timer = time.NewTimer(s.b.cfg.leaseRetry)
			defer timer.Stop()
		} else {
			timer.Reset(s.b.cfg.leaseRetry)
		}
		select {
		case <-runCtx.Done():
			return 0, false
		case <-s.leaseFree:
		case <-timer.C:
		}
	}
}

func (s *sqliteSub) tryAcquire(ctx context.Context) (int64, bool, error) {
	now := time.Now().UnixMilli()
	// Look first through the read pool, so that waiting subscribers do not
	// queue on the writer.
	var holder string
	var until int64
	err := s.b.readDB.QueryRowContext(ctx,
		`SELECT holder, lease_until FROM bus_offsets WHERE topic = ? AND consumer_group = ?`,
		s.topic, s.b.group).Scan(&holder, &until)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return 0, false, fmt.Errorf("read lease of %s: %w", s.topic, err)
	case holder != "" && until >= now && !holderDead(holder):
		return 0, false, nil
	}
	dead := ""
	if holder != "" && holderDead(holder) {
		dead = holder
	}
	var off int64
	err = s.b.db.QueryRowContext(ctx, sqliteAcquireQuery,
		s.topic, s.b.group, s.holder, now+s.b.cfg.leaseTTL.Milliseconds(), now, dead).Scan(&off)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("take lease of %s: %w", s.topic, err)
	}
	return off, true, nil
}

// newHolder names a subscription by host, process and a random part, so
// that a successor on the same host can tell when the holder's process has
// died.
func newHolder() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), watermill.NewUUID())
}

// holderDead reports whether holder belongs to another process on this host
// that no longer exists. The restart of a crashed crmhub then takes over
// its lease at once instead of waiting for it to expire. When in doubt (a
// holder from another host, a process id now reused) it answers false and
// the lease expires as usual; a wrong takeover is still fenced, because a
// holder that lost its lease can no longer save offsets.
func holderDead(holder string) bool {
	parts := strings.SplitN(holder, "/", 3)
	if len(parts) != 3 {
		return false
	}
	if host, _ := os.Hostname(); parts[0] != host {
		return false
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

type sqliteEntryState uint8

const (
	sqliteQueued  sqliteEntryState = iota // fetched or due for redelivery, not handed out
	sqliteSent                            // handed out, waiting for ack or nack
	sqliteBackoff                         // nacked, waiting for its redelivery time
	sqliteAcked
)

// sqliteEntry is a fetched message in the consumer's window.
type sqliteEntry struct {
	offset   int64
	uuid     string
	payload  []byte
	metadata message.Metadata
	state    sqliteEntryState
	nacks    int
	due      time.Time
}

type sqliteAckEvent struct {
	e   *sqliteEntry
	ack bool
}

// sqliteConsumer is one tenure of a lease: it hands out the messages after
// the group's saved offset and saves the offset as they are acked.
type sqliteConsumer struct {
	s *sqliteSub

	acked   int64 // every message up to here is acked
	saved   int64 // the acked offset last written
	cursor  int64 // the highest offset fetched
	unsaved int   // acks since the last save

	window  []*sqliteEntry // fetched and not yet below the acked offset, in offset order
	queue   []*sqliteEntry // to hand out, redeliveries first
	backoff []*sqliteEntry // nacked, waiting for their due time
	unacked int            // entries of window not acked
	sent    int            // entries handed out and not yet acked or nacked

	leaseUntil time.Time
	renewedAt  time.Time
	prunedAt   time.Time

	events  chan sqliteAckEvent
	done    chan struct{} // closed when the tenure ends
	waiters sync.WaitGroup
}

func newSQLiteConsumer(s *sqliteSub, start int64) *sqliteConsumer {
	now := time.Now()
	return &sqliteConsumer{
		s:          s,
		acked:      start,
		saved:      start,
		cursor:     start,
		leaseUntil: now.Add(s.b.cfg.leaseTTL),
		renewedAt:  now,
		events:     make(chan sqliteAckEvent, s.b.cfg.window),
		done:       make(chan struct{}),
	}
}

// consume hands out messages while the lease is held. It returns true when
// the subscription ends (ctx or Close), false when the lease was lost.
func (c *sqliteConsumer) consume(ctx, runCtx context.Context) (stopped bool) {
	s, cfg := c.s, c.s.b.cfg
	s.log.Debug("Subscription lease taken", watermill.LogFields{"offset": c.acked})

	var (
		needFetch = true
		draining  = false
		stopCh    = runCtx.Done()
		pending   *message.Message // built for queue[0], not yet handed out
		cancelMsg context.CancelFunc
		pollT     = sqliteStoppedTimer()
		retryT    = sqliteStoppedTimer()
		flushT    = sqliteStoppedTimer()
		graceT    = sqliteStoppedTimer()
		flushArm  = false
		renewT    = time.NewTicker(cfg.leaseTTL / 8)
	)
	defer func() {
		pollT.Stop()
		retryT.Stop()
		flushT.Stop()
		graceT.Stop()
		renewT.Stop()
		if cancelMsg != nil {
			cancelMsg()
		}
		close(c.done)
		c.waiters.Wait()
	}()

	for {
		if !draining && needFetch && len(c.queue) == 0 {
			// Refill when a quarter of the window is free, or all of it: not
			// one row at a time as acks trickle in.
			limit := min(cfg.window-c.unacked, cfg.maxSpan-len(c.window))
			if limit > 0 && (limit >= cfg.window/4 || c.unacked == 0) {
				n, err := c.fetch(runCtx, limit)
				switch {
				case err != nil:
					if runCtx.Err() == nil {
						s.log.Error("Cannot read messages", err, nil)
					}
					needFetch = false
					pollT.Reset(s.b.poll)
				case n < limit:
					needFetch = false
					pollT.Reset(s.b.poll)
				}
			}
		}

		var outCh chan *message.Message
		if !draining && len(c.queue) > 0 {
			if pending == nil {
				pending, cancelMsg = c.build(ctx, c.queue[0])
			}
			outCh = s.out
		}

		select {
		case outCh <- pending:
			e := c.queue[0]
			c.queue[0] = nil
			c.queue = c.queue[1:]
			e.state = sqliteSent
			c.sent++
			c.watch(pending, cancelMsg, e)
			pending, cancelMsg = nil, nil

		case ev := <-c.events:
			c.sent--
			if ev.ack {
				c.ack(ev.e)
				if c.unsaved >= cfg.flushEvery {
					if !c.save(runCtx) {
						return false
					}
				} else if !flushArm && c.acked > c.saved {
					flushT.Reset(cfg.flushInterval)
					flushArm = true
				}
			} else if !draining {
				c.nack(ev.e, retryT)
			}
			if draining && c.sent == 0 {
				return c.finish()
			}

		case <-s.wake:
			needFetch = true

		case <-pollT.C:
			needFetch = true

		case <-retryT.C:
			if c.due(retryT) && pending != nil {
				// Redeliveries went to the front of the queue: the message
				// built for the old front waits its turn.
				cancelMsg()
				pending, cancelMsg = nil, nil
			}

		case <-flushT.C:
			flushArm = false
			if c.acked > c.saved && !c.save(runCtx) {
				return false
			}

		case <-renewT.C:
			if time.Since(c.renewedAt) >= cfg.leaseTTL/4-cfg.leaseTTL/16 && !c.save(runCtx) {
				return false
			}

		case <-stopCh:
			stopCh = nil
			draining = true
			if pending != nil {
				cancelMsg()
				pending, cancelMsg = nil, nil
			}
			if c.sent == 0 {
				return c.finish()
			}
			graceT.Reset(cfg.closeGrace)

		case <-graceT.C:
			s.log.Info("Closing subscription with unacked messages; they will be redelivered",
				watermill.LogFields{"unacked": c.sent})
			return c.finish()
		}
	}
}

func sqliteStoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// fetch reads up to limit messages after the cursor into the window.
func (c *sqliteConsumer) fetch(ctx context.Context, limit int) (int, error) {
	s := c.s
	stmt := s.b.fetchRead
	if s.viaWriter.Swap(false) {
		stmt = s.b.fetchWrite
	}
	rows, err := stmt.QueryContext(ctx, s.topic, c.cursor, limit)
	if err != nil {
		return 0, fmt.Errorf("read messages of %s after offset %d: %w", s.topic, c.cursor, err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			e        sqliteEntry
			uuid, md sql.NullString
			payload  any
		)
		if err := rows.Scan(&e.offset, &uuid, &payload, &md); err != nil {
			return n, fmt.Errorf("read messages of %s after offset %d: %w", s.topic, c.cursor, err)
		}
		e.uuid = uuid.String
		switch p := payload.(type) {
		case []byte:
			e.payload = p
		case string:
			e.payload = []byte(p)
		case nil:
		default:
			e.payload = fmt.Append(nil, p)
		}
		if md.String != "" {
			if err := json.Unmarshal([]byte(md.String), &e.metadata); err != nil {
				// Delivered without metadata rather than dropped or
				// retried forever: the handler and the dead-letter queue
				// decide what to do with it.
				s.log.Error("Bad message metadata; delivering without it", err,
					watermill.LogFields{"offset": e.offset, "message_uuid": e.uuid})
				e.metadata = nil
			}
		}
		ep := &e
		c.window = append(c.window, ep)
		c.queue = append(c.queue, ep)
		c.unacked++
		c.cursor = e.offset
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("read messages of %s after offset %d: %w", s.topic, c.cursor, err)
	}
	return n, nil
}

// build makes the message that hands e out, with a context of its own.
func (c *sqliteConsumer) build(ctx context.Context, e *sqliteEntry) (*message.Message, context.CancelFunc) {
	payload := e.payload
	if e.nacks > 0 {
		payload = slices.Clone(payload)
	}
	msg := message.NewMessage(e.uuid, payload)
	if len(e.metadata) > 0 {
		msg.Metadata = make(message.Metadata, len(e.metadata))
		for k, v := range e.metadata {
			msg.Metadata[k] = v
		}
	}
	mctx, cancel := context.WithCancel(ctx)
	msg.SetContext(mctx)
	return msg, cancel
}

// watch reports the ack or nack of msg to the consumer loop.
func (c *sqliteConsumer) watch(msg *message.Message, cancel context.CancelFunc, e *sqliteEntry) {
	c.waiters.Add(1)
	go func() {
		defer c.waiters.Done()
		var ev sqliteAckEvent
		select {
		case <-msg.Acked():
			ev = sqliteAckEvent{e: e, ack: true}
		case <-msg.Nacked():
			ev = sqliteAckEvent{e: e}
		case <-c.done:
			cancel()
			return
		}
		cancel()
		select {
		case c.events <- ev:
		case <-c.done:
		}
	}()
}

// ack marks e acked and moves the acked offset past the leading run of
// acked messages.
func (c *sqliteConsumer) ack(e *sqliteEntry) {
	e.state = sqliteAcked
	e.payload, e.metadata = nil, nil
	c.unacked--
	c.unsaved++
	i := 0
	for i < len(c.window) && c.window[i].state == sqliteAcked {
		c.acked = c.window[i].offset
		c.window[i] = nil
		i++
	}
	c.window = c.window[i:]
}

// nack schedules e for redelivery after its backoff.
func (c *sqliteConsumer) nack(e *sqliteEntry, retryT *time.Timer) {
	cfg := c.s.b.cfg
	e.nacks++
	delay := cfg.nackDelay << min(e.nacks-1, 20)
	if delay > cfg.maxNackDelay || delay <= 0 {
		delay = cfg.maxNackDelay
	}
	e.state = sqliteBackoff
	e.due = time.Now().Add(delay)
	c.backoff = append(c.backoff, e)
	c.armRetry(retryT)
}

// due moves the nacked messages whose time has come to the front of the
// queue, and says whether there were any.
func (c *sqliteConsumer) due(retryT *time.Timer) bool {
	now := time.Now()
	var ready []*sqliteEntry
	kept := c.backoff[:0]
	for _, e := range c.backoff {
		if !e.due.After(now) {
			e.state = sqliteQueued
			ready = append(ready, e)
		} else {
			kept = append(kept, e)
		}
	}
	clear(c.backoff[len(kept):])
	c.backoff = kept
	if len(ready) > 0 {
		slices.SortFunc(ready, func(a, b *sqliteEntry) int { return cmp.Compare(a.offset, b.offset) })
		c.queue = append(ready, c.queue...)
	}
	c.armRetry(retryT)
	return len(ready) > 0
}

func (c *sqliteConsumer) armRetry(retryT *time.Timer) {
	if len(c.backoff) == 0 {
		retryT.Stop()
		return
	}
	next := c.backoff[0].due
	for _, e := range c.backoff[1:] {
		if e.due.Before(next) {
			next = e.due
		}
	}
	retryT.Reset(max(time.Until(next), 0))
}

// save writes the acked offset and renews the lease. It returns false when
// the lease is lost: taken over by another subscriber, or not renewed
// before it expired.
func (c *sqliteConsumer) save(ctx context.Context) bool {
	s := c.s
	start := time.Now()
	until := start.Add(s.b.cfg.leaseTTL)
	res, err := s.b.db.ExecContext(ctx, sqliteRenewQuery, c.acked, until.UnixMilli(), s.topic, s.b.group, s.holder)
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	if err != nil {
		if ctx.Err() != nil {
			return true // ending anyway; finish saves with a fresh context
		}
		if time.Now().Before(c.leaseUntil) {
			s.log.Error("Cannot save offset; will retry", fmt.Errorf("ack offset %d: %w", c.acked, err), nil)
			return true
		}
		s.log.Error("Subscription lease expired while it could not be renewed", fmt.Errorf("ack offset %d: %w", c.acked, err), nil)
		return false
	}
	if n == 0 {
		s.log.Info("Subscription lease taken over by another subscriber; its unacked messages go to it",
			watermill.LogFields{"acked_offset": c.saved})
		return false
	}
	c.saved, c.unsaved = c.acked, 0
	c.leaseUntil, c.renewedAt = until, start
	if start.Sub(c.prunedAt) >= s.b.cfg.pruneEvery {
		c.prunedAt = start
		c.prune(ctx, start)
	}
	return true
}

// sqlitePruneQuery deletes the messages of a topic that every consumer
// group has acked and that are older than the retention.
const sqlitePruneQuery = `DELETE FROM bus_messages WHERE topic = ?
AND "offset" <= (SELECT MIN(acked_offset) FROM bus_offsets WHERE topic = ?)
AND created_at < ?`

// prune keeps the table from growing without bound. The lease holder of
// each topic does it for its topic; a failure only postpones it.
func (c *sqliteConsumer) prune(ctx context.Context, now time.Time) {
	s := c.s
	cutoff := now.Add(-s.b.cfg.retention).UTC().Format("2006-01-02 15:04:05.000")
	res, err := s.b.db.ExecContext(ctx, sqlitePruneQuery, s.topic, s.topic, cutoff)
	if err != nil {
		s.log.Error("Cannot prune acked messages; will try again", err, nil)
		return
	}
	if n, _ := res.RowsAffected(); n > 0 {
		s.log.Debug("Pruned acked messages", watermill.LogFields{"messages": n})
	}
}

// finish saves the acked offset, releases the lease and tells the
// subscriptions waiting for it in this process. It returns true: the
// subscription ends.
func (c *sqliteConsumer) finish() bool {
	s := c.s
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.b.db.ExecContext(ctx, sqliteReleaseQuery, c.acked, s.topic, s.b.group, s.holder); err != nil {
		s.log.Error("Cannot save offset and release lease; unsaved messages will be redelivered",
			fmt.Errorf("ack offset %d: %w", c.acked, err), nil)
	}
	s.b.hub.released(s.topic, s.b.group)
	s.log.Debug("Subscription lease released", watermill.LogFields{"offset": c.acked})
	return true
}
