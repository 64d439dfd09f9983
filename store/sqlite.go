package store

import (
	"fmt"
	"net/url"
	"runtime"
	"strings"

	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// sqliteDSN builds the modernc.org/sqlite DSN for path. Every connection
// gets WAL (readers never block the writer), a busy timeout (a second
// process waits instead of failing), foreign keys, a page cache of 256 MiB
// for the writer and 64 MiB per reader, and text timestamps (written in
// UTC, they sort as strings).
func sqliteDSN(path string, readOnly, syncNormal bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", "10000")
	q.Set("_journal_mode", "WAL")
	q.Set("_foreign_keys", "on")
	q.Set("_time_format", "sqlite")
	// The writer gets the bigger page cache: identity resolution and
	// rebuilds insert into large indexes at random places, and every page
	// the cache keeps is one not read back from the file.
	if readOnly {
		q.Add("_pragma", "cache_size(-65536)")
	} else {
		q.Add("_pragma", "cache_size(-262144)")
	}
	q.Add("_pragma", "temp_store(memory)")
	if !readOnly {
		// The checkpointer keeps the log short; this only bounds it.
		q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", writerCheckpointPages))
		// Deleted and replaced rows are zeroed in the pages a write changes
		// anyway, at no cost in I/O, so that what a customer's record said
		// before does not linger in the file. Units of work that erase
		// people zero freed pages too (SecureDelete).
		q.Add("_pragma", "secure_delete(FAST)")
	}
	// 8 KiB pages (for new files; an existing file keeps its page size)
	// measured a third faster than 4 KiB for batched profile upserts, whose
	// rows carry the profile as JSON.
	q.Add("_pragma", "page_size(8192)")
	if syncNormal {
		q.Set("_synchronous", "NORMAL")
	} else {
		q.Set("_synchronous", "FULL")
	}
	if readOnly {
		q.Set("_query_only", "true")
	} else {
		// Take the write lock at BEGIN: a deferred transaction that upgrades
		// from read to write can fail with SQLITE_BUSY without waiting.
		q.Set("_txlock", "immediate")
	}
	return "file:" + path + "?" + q.Encode()
}

func openSQLite(opts Options) (*Store, error) {
	path := strings.TrimPrefix(opts.DSN, "file:")
	if path == "" || strings.Contains(path, ":memory:") || strings.Contains(path, "mode=memory") {
		return nil, fmt.Errorf("open sqlite store: dsn must be a file path, got %q", opts.DSN)
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		return nil, fmt.Errorf("open sqlite store: dsn %q: give a plain file path; crmhub sets the connection options itself", opts.DSN)
	}
	w, err := sqlx.Open("sqlite", sqliteDSN(path, false, opts.SynchronousNormal))
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	// SQLite has one writer at a time; one connection serializes writers in
	// Go rather than in busy-wait loops.
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	r, err := sqlx.Open("sqlite", sqliteDSN(path, true, opts.SynchronousNormal))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	n := opts.MaxOpenConns
	if n <= 0 {
		n = max(4, runtime.GOMAXPROCS(0))
	}
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	c, err := sqlx.Open("sqlite", sqliteDSN(path, false, opts.SynchronousNormal))
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	c.SetMaxOpenConns(1)
	s := newStore(DriverSQLite, w, r)
	s.syncNormal = opts.SynchronousNormal
	s.ckpt = newCheckpointer(c.DB, opts.Logger)
	go s.ckpt.run()
	return s, nil
}
