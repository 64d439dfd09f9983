package store

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDeferredIndexKeysMigration upgrades a SQLite store that holds
// profiles with emails and phones across migration 00007 and checks that
// the rows survive, that their foreign keys are now checked at commit, and
// that deleting a profile still deletes its rows.
func TestDeferredIndexKeysMigration(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{Driver: DriverSQLite, DSN: filepath.Join(t.TempDir(), "crmhub.db")})
	require.NoError(t, err)
	defer s.Close()
	p, err := s.provider()
	require.NoError(t, err)
	_, err = p.UpTo(ctx, 6)
	require.NoError(t, err)
	exec := func(q string, args ...any) error {
		_, err := s.w.ExecContext(ctx, q, args...)
		return err
	}
	for _, id := range []string{"cus_a", "cus_b"} {
		require.NoError(t, exec(`INSERT INTO customers (id, doc, created_at, updated_at)
			VALUES (?, '{}', '2026-01-01 00:00:00', '2026-01-01 00:00:00')`, id))
		require.NoError(t, exec(`INSERT INTO customer_emails (customer_id, email) VALUES (?, ?)`, id, id+"@example.com"))
		require.NoError(t, exec(`INSERT INTO customer_phones (customer_id, phone) VALUES (?, ?)`, id, "+97150"+id[4:]))
	}
	require.Error(t, exec(`INSERT INTO customer_emails (customer_id, email) VALUES ('cus_later', 'x@example.com')`),
		"before the migration a missing profile fails the statement")

	_, err = s.Migrate(ctx)
	require.NoError(t, err)
	count := func(q string, args ...any) int {
		var n int
		require.NoError(t, s.w.GetContext(ctx, &n, q, args...))
		return n
	}
	require.Equal(t, 2, count(`SELECT count(*) FROM customer_emails WHERE email LIKE 'cus_%@example.com'`))
	require.Equal(t, 2, count(`SELECT count(*) FROM customer_phones`))
	require.Equal(t, 1, count(`SELECT count(*) FROM customer_emails WHERE email = ?`, "cus_b@example.com"),
		"the email index answers")

	// Deferred: a row may come before its profile within a transaction,
	// but a transaction that ends without the profile fails.
	require.NoError(t, s.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, `INSERT OR IGNORE INTO customer_emails (customer_id, email) VALUES ('cus_later', 'l@example.com')`); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `INSERT INTO customers (id, doc, created_at, updated_at)
			VALUES ('cus_later', '{}', '2026-01-01 00:00:00', '2026-01-01 00:00:00')`)
		return err
	}))
	err = s.InTx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT OR IGNORE INTO customer_phones (customer_id, phone) VALUES ('cus_never', '+971500000009')`)
		return err
	})
	require.ErrorContains(t, err, "FOREIGN KEY")
	require.Equal(t, 0, count(`SELECT count(*) FROM customer_phones WHERE customer_id = 'cus_never'`))

	require.NoError(t, exec(`DELETE FROM customers WHERE id = 'cus_a'`))
	require.Equal(t, 0, count(`SELECT count(*) FROM customer_emails WHERE customer_id = 'cus_a'`), "cascade")
	require.Equal(t, 0, count(`SELECT count(*) FROM customer_phones WHERE customer_id = 'cus_a'`), "cascade")
}
