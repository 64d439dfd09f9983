package store

import (
	"context"
	"sync"

	"github.com/jmoiron/sqlx"
)

// stmtCache keeps SQLite's big bulk statements prepared. Parsing a
// 500-row INSERT costs as much as running it, and SQLite has no statement
// cache of its own (pgx has one, so PostgreSQL does not use this).
//
// database/sql can only prepare a statement for the whole pool on a free
// connection, and inside a unit of work the single writer connection is
// busy; so a statement seen in a transaction is noted, prepared once the
// transaction is over, and reused from the next transaction on.
type stmtCache struct {
	db     *sqlx.DB
	mu     sync.Mutex
	stmts  map[string]*sqlx.Stmt
	wanted map[string]bool
	seen   map[string]int
}

// A statement is prepared for reuse when it is big (a bulk statement of at
// least stmtCacheMinArgs arguments) or recurs (stmtCacheRecurs sightings:
// the small statements every unit of work runs); one-off shapes, such as
// the last partial chunk of a bulk write, are not. The cache holds at most
// stmtCacheSize statements.
const (
	stmtCacheMinArgs = 64
	stmtCacheRecurs  = 3
	stmtCacheSize    = 512
	stmtCacheSeenMax = 1024
)

func newStmtCache(db *sqlx.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sqlx.Stmt{}, wanted: map[string]bool{}, seen: map[string]int{}}
}

// lookup returns the prepared statement for query, or nil after noting that
// it is wanted.
func (c *stmtCache) lookup(query string, nargs int) *sqlx.Stmt {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.stmts[query]; st != nil {
		return st
	}
	if len(c.stmts)+len(c.wanted) >= stmtCacheSize {
		return nil
	}
	c.seen[query]++
	if nargs >= stmtCacheMinArgs || c.seen[query] >= stmtCacheRecurs {
		c.wanted[query] = true
		delete(c.seen, query)
	}
	if len(c.seen) > stmtCacheSeenMax {
		clear(c.seen)
	}
	return nil
}

// prepareWanted prepares the statements noted as wanted. It must run while
// this goroutine holds no transaction, and it does not hold the cache's
// lock while it waits for the writer connection: a unit of work that holds
// the connection may be looking up statements meanwhile. A statement that
// fails to prepare is simply not cached.
func (c *stmtCache) prepareWanted(ctx context.Context) {
	if c == nil {
		return
	}
	c.mu.Lock()
	queries := make([]string, 0, len(c.wanted))
	for q := range c.wanted {
		queries = append(queries, q)
	}
	clear(c.wanted)
	c.mu.Unlock()
	for _, q := range queries {
		st, err := c.db.PreparexContext(ctx, q)
		if err != nil {
			continue
		}
		c.mu.Lock()
		if c.stmts[q] == nil && len(c.stmts) < stmtCacheSize {
			c.stmts[q] = st
			st = nil
		}
		c.mu.Unlock()
		if st != nil {
			_ = st.Close()
		}
	}
}

func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.stmts {
		_ = st.Close()
		delete(c.stmts, q)
	}
}

// readStmts keeps the statements that recur on SQLite's reader pool
// prepared: parsing a query costs as much as running one that reads a
// profile by its key, and an API answer runs several. A statement
// prepared on the pool is prepared again on each connection the first
// time it runs there, by database/sql, and then reused.
type readStmts struct {
	db    *sqlx.DB
	mu    sync.Mutex
	stmts map[string]*sqlx.Stmt
	seen  map[string]int
}

func newReadStmts(db *sqlx.DB) *readStmts {
	return &readStmts{db: db, stmts: map[string]*sqlx.Stmt{}, seen: map[string]int{}}
}

// get returns the prepared statement of query, preparing it on its
// stmtCacheRecurs-th sighting, or nil: a statement seen fewer times, one
// beyond the cache's size, or one that failed to prepare, which then runs
// unprepared.
func (c *readStmts) get(ctx context.Context, query string) *sqlx.Stmt {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	if st := c.stmts[query]; st != nil {
		c.mu.Unlock()
		return st
	}
	c.seen[query]++
	due := c.seen[query] >= stmtCacheRecurs && len(c.stmts) < stmtCacheSize
	if len(c.seen) > stmtCacheSeenMax {
		clear(c.seen)
	}
	c.mu.Unlock()
	if !due {
		return nil
	}
	st, err := c.db.PreparexContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.stmts[query]; old != nil {
		// Prepared meanwhile by another caller.
		_ = st.Close()
		return old
	}
	c.stmts[query] = st
	delete(c.seen, query)
	return st
}
