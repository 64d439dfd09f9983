package store

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
)

// maxGroup bounds how many units of work share one transaction.
const maxGroup = 256

// group is the queue of InTxShared: concurrent units of work waiting to
// share a transaction.
type group struct {
	mu      sync.Mutex
	pending []*groupReq
	leading bool
}

type groupReq struct {
	ctx  context.Context
	fn   func(tx *Tx) error
	done chan error
}

// InTxShared runs fn as a unit of work like InTx, but units of work that
// arrive while another is committing share one transaction (group commit):
// each runs in a savepoint of its own, so one that fails is rolled back
// alone and gets its own error, while the others commit together. For many
// small concurrent units of work, such as a pipeline stage handling one
// message each, this turns one disk flush per message into one per batch.
//
// To the caller it behaves like InTx: when it returns nil, fn's writes are
// committed; otherwise none of them are. fn may run more than once (a
// retried transaction) and must not have effects outside the Tx.
//
// Only SQLite groups: it has one writer, so units of work queue anyway, and
// a shared commit saves a flush each. PostgreSQL runs concurrent
// transactions on a pool of connections, where a shared transaction would
// serialize their round trips instead; there InTxShared is InTx.
//
// Unlike InTx, a panic in fn is returned as fn's error, on every driver:
// in a shared transaction it must not take the other units down.
func (s *Store) InTxShared(ctx context.Context, fn func(tx *Tx) error, opts ...TxOption) error {
	if s.driver != DriverSQLite {
		return s.InTx(ctx, func(tx *Tx) error { return runUnit(&groupReq{fn: fn}, tx) }, opts...)
	}
	var o txOptions
	for _, opt := range opts {
		opt(&o)
	}
	req := &groupReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	// Relaxed and durable units of work never share a transaction.
	g := &s.groups[boolIndex(o.relaxed)]
	g.mu.Lock()
	g.pending = append(g.pending, req)
	lead := !g.leading
	if lead {
		g.leading = true
	}
	g.mu.Unlock()
	if lead {
		// The leader is a goroutine of its own, so that no caller's return
		// waits for other callers' batches.
		go s.leadGroups(g, opts)
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		// The request may still commit; the caller treats it as failed and
		// its redelivery finds the work done (idempotency marks).
		return ctx.Err()
	}
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// leadGroups commits batches of pending units of work until none is left.
func (s *Store) leadGroups(g *group, opts []TxOption) {
	for {
		g.mu.Lock()
		n := min(len(g.pending), maxGroup)
		if n == 0 {
			g.leading = false
			g.mu.Unlock()
			return
		}
		batch := g.pending[:n:n]
		g.pending = g.pending[n:]
		g.mu.Unlock()
		s.commitGroup(batch, opts)
	}
}

func (s *Store) commitGroup(batch []*groupReq, opts []TxOption) {
	results := make([]error, len(batch))
	err := s.InTx(context.Background(), func(tx *Tx) error {
		for i, req := range batch {
			results[i] = nil
			if err := req.ctx.Err(); err != nil {
				results[i] = err
				continue
			}
			if err := tx.savepoint(req.ctx, "SAVEPOINT crmhub_unit"); err != nil {
				return err
			}
			mark := len(tx.undo)
			if err := runUnit(req, tx); err != nil {
				results[i] = err
				if err := tx.savepoint(req.ctx, "ROLLBACK TO SAVEPOINT crmhub_unit"); err != nil {
					return err
				}
				tx.rollbackTo(mark)
			}
			if err := tx.savepoint(req.ctx, "RELEASE SAVEPOINT crmhub_unit"); err != nil {
				return err
			}
		}
		return nil
	}, opts...)
	for i, req := range batch {
		if err != nil && results[i] == nil {
			results[i] = err
		}
		req.done <- results[i]
	}
}

func (t *Tx) savepoint(ctx context.Context, stmt string) error {
	if _, err := t.tx.ExecContext(context.WithoutCancel(ctx), stmt); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	return nil
}

// runUnit runs one unit of work of a group, turning a panic into that
// unit's error: the others in the group must not go down with it.
func runUnit(req *groupReq, tx *Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("unit of work panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return req.fn(tx)
}
