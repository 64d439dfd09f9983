// Package store is the unified record store: customers and their identities,
// emails and phones, orders, events, the raw landing table, connector
// checkpoints, dead letters, merges, API tokens and privacy requests with
// their suppression list, on SQLite (embedded default) or PostgreSQL
// (scale-out).
//
// Reads go through Store; every write goes through a unit of work (Store.InTx)
// so that a pipeline stage commits its results and its idempotency mark
// together, or neither.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jmoiron/sqlx"
)

// Drivers the store runs on.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Options say which database to open.
type Options struct {
	// Driver is DriverSQLite or DriverPostgres.
	Driver string
	// DSN is a file path for SQLite (":memory:" is not supported: the
	// reader and writer pools would see different databases) or a
	// postgres:// URL or key=value string for PostgreSQL.
	DSN string
	// MaxOpenConns caps the PostgreSQL pool and the SQLite reader pool;
	// 0 picks a default.
	MaxOpenConns int
	// SynchronousNormal trades durability on power loss for write speed on
	// SQLite (PRAGMA synchronous=NORMAL). A crash of the process alone never
	// loses a committed transaction either way.
	SynchronousNormal bool
	// Logger receives migration progress; nil discards it.
	Logger *slog.Logger
}

// Store is an open unified store. It is safe for concurrent use.
type Store struct {
	reader
	driver string
	w      *sqlx.DB // writes and units of work
	r      *sqlx.DB // reads outside units of work; == w on PostgreSQL
	stmts  *stmtCache
	log    *slog.Logger
	groups [2]group // InTxShared queues: durable, relaxed
	// syncNormal is set when the SQLite connections run synchronous=NORMAL
	// already, so relaxed transactions need no switch.
	syncNormal bool
	ckpt       *checkpointer // SQLite only
}

// Open connects to the database named by opts and checks that it answers.
// It does not migrate: call Migrate.
func Open(ctx context.Context, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts.Logger = log
	var (
		s   *Store
		err error
	)
	switch opts.Driver {
	case DriverSQLite:
		s, err = openSQLite(opts)
	case DriverPostgres:
		s, err = openPostgres(opts)
	default:
		return nil, fmt.Errorf("open store: unknown driver %q (want %s or %s)", opts.Driver, DriverSQLite, DriverPostgres)
	}
	if err != nil {
		return nil, err
	}
	s.log = log
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func newStore(driver string, w, r *sqlx.DB) *Store {
	s := &Store{reader: reader{q: r, d: dialectOf(driver)}, driver: driver, w: w, r: r}
	if driver == DriverSQLite {
		s.stmts = newStmtCache(w)
		s.reader.reads = newReadStmts(r)
	}
	return s
}

// DB returns the handle writes go through, for components that keep their
// own tables in the store's database (the SQLite and PostgreSQL message
// buses). On SQLite it has a single connection: sharing it serializes every
// writer of the process in Go instead of in busy-wait loops.
func (s *Store) DB() *sql.DB { return s.w.DB }

// ReadDB returns the handle for reads that need not see uncommitted writes;
// on SQLite a pool of read-only connections, on PostgreSQL the same as DB.
func (s *Store) ReadDB() *sql.DB { return s.r.DB }

// Driver returns DriverSQLite or DriverPostgres.
func (s *Store) Driver() string { return s.driver }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s store: %w", s.driver, err)
	}
	return nil
}

// Close releases the connections.
func (s *Store) Close() error {
	var err error
	if s.ckpt != nil {
		// Before the writer: the last connection to close checkpoints
		// what is left.
		err = s.ckpt.close()
	}
	s.stmts.close()
	err = errors.Join(err, s.w.Close())
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	return err
}

// Tx is a unit of work: everything written through it commits together or
// not at all. A Tx is not safe for concurrent use and must not be used after
// the function given to InTx returns.
type Tx struct {
	reader
	tx *sqlx.Tx
	// undo holds what OnRollback registered, oldest first.
	undo []func()
}

// OnRollback registers fn to run if what was done through t up to now
// does not commit: the transaction rolls back, its commit fails, or the
// shared unit of work (InTxShared) that registered fn is rolled back to
// its savepoint. It lets state kept outside the database, such as an
// in-memory index of rows written in t, follow the transaction. Callbacks
// run newest first, on the goroutine that ends the transaction.
func (t *Tx) OnRollback(fn func()) { t.undo = append(t.undo, fn) }

// rollbackTo runs and forgets the callbacks registered after the first n.
func (t *Tx) rollbackTo(n int) {
	for i := len(t.undo) - 1; i >= n; i-- {
		t.undo[i]()
	}
	t.undo = t.undo[:n]
}

// SQL returns the transaction itself, so that a component sharing the
// store's database (the message bus) can write in the same unit of work.
func (t *Tx) SQL() *sql.Tx { return t.tx.Tx }

// maxTxAttempts bounds how often InTx re-runs a unit of work that lost a
// lock or serialization race.
const maxTxAttempts = 5

// InTx runs fn in a transaction and commits it when fn returns nil; any error
// or panic rolls it back. When the database reports a transient conflict
// (SQLite busy, PostgreSQL serialization failure or deadlock) the whole unit
// of work is run again, so fn must not have effects outside the Tx.
func (s *Store) InTx(ctx context.Context, fn func(tx *Tx) error, opts ...TxOption) error {
	var o txOptions
	for _, opt := range opts {
		opt(&o)
	}
	var err error
	for attempt := 1; ; attempt++ {
		err = s.inTxOnce(ctx, fn, o)
		s.stmts.prepareWanted(ctx)
		if err == nil || attempt == maxTxAttempts || !s.d.transient(err) {
			return err
		}
		backoff := time.Duration(attempt*attempt)*5*time.Millisecond + time.Duration(rand.IntN(5))*time.Millisecond
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(backoff):
		}
	}
}

// TxOption adjusts a unit of work.
type TxOption func(*txOptions)

type txOptions struct{ relaxed, secureDelete bool }

// Relaxed lets a unit of work commit without waiting for the disk (SQLite
// synchronous=NORMAL, PostgreSQL synchronous_commit=off). A crash of the
// process still loses nothing; a power failure may lose the last relaxed
// commits, but never a commit that came before a durable one, since both
// databases write one ordered log. Use it for work that is redone from
// durable inputs, such as a pipeline stage whose input message is acked
// only after the stage commits; never for accepting data from outside.
func Relaxed() TxOption { return func(o *txOptions) { o.relaxed = true } }

// SecureDelete makes SQLite overwrite what the unit of work deletes with
// zeros, whole freed pages included (PRAGMA secure_delete), so that erased
// rows leave no bytes in the database file. Other units of work zero only
// within the pages they write anyway (secure_delete=FAST): writing every
// page the bus prunes would cost I/O for nothing. PostgreSQL ignores it;
// see Store.Scrub.
func SecureDelete() TxOption { return func(o *txOptions) { o.secureDelete = true } }

func (s *Store) inTxOnce(ctx context.Context, fn func(tx *Tx) error, o txOptions) (err error) {
	var sqlTx *sqlx.Tx
	relaxSQLite := o.relaxed && s.driver == DriverSQLite && !s.syncNormal
	switch {
	case relaxSQLite || (o.secureDelete && s.driver == DriverSQLite):
		// synchronous and secure_delete are settings of the connection:
		// pin the writer connection so the settings cover exactly this
		// transaction.
		var conn *sqlx.Conn
		if conn, err = s.w.Connx(ctx); err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
		defer conn.Close()
		if relaxSQLite {
			restore, perr := setPragma(ctx, conn, "synchronous = NORMAL", "synchronous = FULL")
			if perr != nil {
				return fmt.Errorf("begin relaxed transaction: %w", perr)
			}
			defer func() { err = errors.Join(err, restore()) }()
		}
		if o.secureDelete && s.driver == DriverSQLite {
			restore, perr := setPragma(ctx, conn, "secure_delete = ON", "secure_delete = FAST")
			if perr != nil {
				return fmt.Errorf("begin secure-delete transaction: %w", perr)
			}
			defer func() { err = errors.Join(err, restore()) }()
		}
		if sqlTx, err = conn.BeginTxx(ctx, nil); err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
	default:
		if sqlTx, err = s.w.BeginTxx(ctx, nil); err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
		if o.relaxed && s.driver == DriverPostgres {
			if _, err := sqlTx.ExecContext(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
				_ = sqlTx.Rollback()
				return fmt.Errorf("begin relaxed transaction: %w", err)
			}
		}
	}
	tx := &Tx{reader: reader{q: sqlTx, d: s.d, tx: sqlTx, stmts: s.stmts}, tx: sqlTx}
	defer func() {
		if p := recover(); p != nil {
			_ = sqlTx.Rollback()
			tx.rollbackTo(0)
			panic(p)
		}
		if err != nil {
			_ = sqlTx.Rollback()
			tx.rollbackTo(0)
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if s.ckpt != nil {
		s.ckpt.poke()
	}
	return nil
}

// setPragma applies a setting to a pinned SQLite connection and returns
// what puts the connection back as every other unit of work expects it.
// A connection that cannot be put back is discarded.
func setPragma(ctx context.Context, conn *sqlx.Conn, set, reset string) (func() error, error) {
	if _, err := conn.ExecContext(ctx, "PRAGMA "+set); err != nil {
		return nil, err
	}
	return func() error {
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA "+reset); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			return fmt.Errorf("restore %s: %w", reset, err)
		}
		return nil
	}, nil
}

// ReadTx is a read-only transaction: every read through it sees the store
// as it was at one moment, whatever other transactions commit meanwhile. A
// ReadTx is not safe for concurrent use and must not be used after the
// function given to InReadTx returns.
type ReadTx struct {
	reader
}

// InReadTx runs fn in a read-only transaction on the reader pool, so that
// reads that belong together (an export, a report) are consistent with each
// other: on PostgreSQL a REPEATABLE READ transaction, on SQLite a read
// transaction on one WAL snapshot. Whatever fn returns is returned as it is.
//
// A long read transaction costs the writers little (readers never block
// them), but on SQLite the WAL file cannot be checkpointed past its
// snapshot, and on PostgreSQL vacuum cannot remove rows it may still see:
// keep fn to the reading and the writing out of what it reads.
func (s *Store) InReadTx(ctx context.Context, fn func(tx *ReadTx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.driver == DriverPostgres {
		// The default READ COMMITTED takes a new snapshot per statement.
		opts.Isolation = sql.LevelRepeatableRead
	}
	sqlTx, err := s.r.BeginTxx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin read transaction: %w", err)
	}
	// Nothing was written: rolling back ends the transaction as well as a
	// commit would, and also after a panic.
	defer func() { _ = sqlTx.Rollback() }()
	return fn(&ReadTx{reader: reader{q: sqlTx, d: s.d}})
}

// reader holds the queries that read; Store runs them on the reader pool and
// Tx inside its transaction, so a unit of work sees its own writes.
type reader struct {
	q sqlx.ExtContext
	d dialect
	// In a unit of work on SQLite, tx and stmts let bulk statements run
	// prepared; see stmtCache.
	tx    *sqlx.Tx
	stmts *stmtCache
	// reads keeps the recurring statements of SQLite's reader pool
	// prepared, outside transactions; see readStmts.
	reads *readStmts
}

// exec runs a statement that is already in the dialect's placeholders.
func (r reader) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := r.stmts.lookup(query, len(args)); st != nil && r.tx != nil {
		return r.tx.StmtxContext(ctx, st).ExecContext(ctx, args...)
	}
	return r.q.ExecContext(ctx, query, args...)
}

// query runs a query that is already in the dialect's placeholders,
// prepared when it recurs.
func (r reader) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := r.stmts.lookup(query, len(args)); st != nil && r.tx != nil {
		return r.tx.StmtxContext(ctx, st).QueryContext(ctx, args...)
	}
	return r.q.QueryContext(ctx, query, args...)
}

// queryRead is query for the reads of a single request outside a unit of
// work: on SQLite's reader pool the statement is kept prepared when it
// recurs (see readStmts).
func (r reader) queryRead(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if r.tx == nil {
		if st := r.reads.get(ctx, query); st != nil {
			return st.QueryContext(ctx, args...)
		}
	}
	return r.query(ctx, query, args...)
}

// selectRows runs a query that is already in the dialect's placeholders and
// scans every row into dest.
func (r reader) selectRows(ctx context.Context, dest any, query string, args ...any) error {
	if st := r.stmts.lookup(query, len(args)); st != nil && r.tx != nil {
		return r.tx.StmtxContext(ctx, st).SelectContext(ctx, dest, args...)
	}
	if st := r.reads.get(ctx, query); st != nil {
		return st.SelectContext(ctx, dest, args...)
	}
	return sqlx.SelectContext(ctx, r.q, dest, query, args...)
}
