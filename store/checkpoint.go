package store

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Checkpoint pacing: after a commit, at most every checkpointEvery; with
// no commits (the bus writes outside units of work), every checkpointIdle.
const (
	checkpointEvery = 250 * time.Millisecond
	checkpointIdle  = 2 * time.Second
	// writerCheckpointPages is the writer's own automatic checkpoint, kept
	// as a bound on the log should the checkpointer fall behind: 16,384
	// pages of 8 KiB.
	writerCheckpointPages = 16384
)

// checkpointer copies committed pages from the SQLite write-ahead log into
// the database file on a connection and goroutine of its own. SQLite
// otherwise does it inside the commit that crosses wal_autocheckpoint, so
// the writer waits for the copy and for the database file's disk flush;
// here the writer goes on meanwhile. A PASSIVE checkpoint never waits for
// readers or writers.
type checkpointer struct {
	db   *sql.DB
	log  *slog.Logger
	wake chan struct{}
	stop chan struct{}
	done chan struct{}
	runs atomic.Int64 // checkpoints that ran, for tests
	once sync.Once
	err  error
}

func newCheckpointer(db *sql.DB, log *slog.Logger) *checkpointer {
	return &checkpointer{db: db, log: log, wake: make(chan struct{}, 1), stop: make(chan struct{}),
		done: make(chan struct{})}
}

func (c *checkpointer) run() {
	defer close(c.done)
	idle := time.NewTimer(checkpointIdle)
	defer idle.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		case <-idle.C:
		}
		c.checkpoint()
		idle.Reset(checkpointIdle)
		select {
		case <-c.stop:
			return
		case <-time.After(checkpointEvery):
		}
	}
}

// poke asks for a checkpoint soon; it never blocks.
func (c *checkpointer) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *checkpointer) checkpoint() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var busy, frames, copied int
	if err := c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
		c.log.Warn("sqlite checkpoint failed; the writer checkpoints on its own meanwhile", "err", err)
		return
	}
	c.runs.Add(1)
}

// close stops the checkpointer and releases its connection; closing
// again returns the first result.
func (c *checkpointer) close() error {
	c.once.Do(func() {
		close(c.stop)
		<-c.done
		c.err = c.db.Close()
	})
	return c.err
}
