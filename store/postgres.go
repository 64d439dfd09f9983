package store

import (
	"fmt"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/jmoiron/sqlx"
)

func openPostgres(opts Options) (*Store, error) {
	db, err := sqlx.Open("pgx", opts.DSN)
	if err != nil {
		// The DSN may carry a password: never put it in the error.
		return nil, fmt.Errorf("open postgres store: invalid dsn, want postgres://USER:PASSWORD@HOST:5432/DB: %w", errRedacted(err))
	}
	n := opts.MaxOpenConns
	if n <= 0 {
		n = 16
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	return newStore(DriverPostgres, db, db), nil
}

// errRedacted drops the text of err, which for DSN parse errors can echo the
// password back.
func errRedacted(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%T (details withheld: they may contain credentials)", err)
}
