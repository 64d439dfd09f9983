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
}

// Statements with fewer arguments than this parse too fast to be worth
// caching, and the cache holds at most stmtCacheSize of them.
const (
	stmtCacheMinArgs = 64
	stmtCacheSize    = 64
)

func newStmtCache(db *sqlx.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sqlx.Stmt{}, wanted: map[string]bool{}}
}

// lookup returns the prepared statement for query, or nil after noting that
// it is wanted.
func (c *stmtCache) lookup(query string, nargs int) *sqlx.Stmt {
	if c == nil || nargs < stmtCacheMinArgs {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.stmts[query]; st != nil {
		return st
	}
	if len(c.stmts)+len(c.wanted) < stmtCacheSize {
		c.wanted[query] = true
	}
	return nil
}

// prepareWanted prepares the statements noted as wanted. It must run while
// no transaction holds the writer connection. A statement that fails to
// prepare is simply not cached.
func (c *stmtCache) prepareWanted(ctx context.Context) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for q := range c.wanted {
		delete(c.wanted, q)
		if st, err := c.db.PreparexContext(ctx, q); err == nil {
			c.stmts[q] = st
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
