// Package storetest gives tests real stores: SQLite in a temporary
// directory, and PostgreSQL in a fresh schema on a server that the package
// starts from the installed binaries (or that CRMHUB_TEST_POSTGRES_DSN names).
//
// A package whose tests use PostgreSQL calls Main from its TestMain so that
// the server it started is stopped when the tests end:
//
//	func TestMain(m *testing.M) { storetest.Main(m) }
package storetest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub/store"
)

// Main runs the tests and then stops the PostgreSQL server this package
// started, if it started one.
func Main(m interface{ Run() int }) {
	code := m.Run()
	stopServer()
	exit(code)
}

// SQLite returns a migrated SQLite store in a temporary directory, closed
// when the test ends.
func SQLite(t testing.TB) *store.Store {
	t.Helper()
	return open(t, store.Options{Driver: store.DriverSQLite, DSN: filepath.Join(t.TempDir(), "crmhub.db")})
}

// Postgres returns a migrated store in a fresh, empty schema of the test
// PostgreSQL server, closed and dropped when the test ends. Without a server
// it skips the test with a loud message, or fails it when
// CRMHUB_REQUIRE_POSTGRES=1.
func Postgres(t testing.TB) *store.Store {
	t.Helper()
	return open(t, store.Options{Driver: store.DriverPostgres, DSN: PostgresDSN(t)})
}

// Open returns a migrated store of the given driver.
func Open(t testing.TB, driver string) *store.Store {
	t.Helper()
	if driver == store.DriverPostgres {
		return Postgres(t)
	}
	return SQLite(t)
}

// Drivers lists the drivers every store test runs on.
var Drivers = []string{store.DriverSQLite, store.DriverPostgres}

// Each runs f once per driver, as subtests named after the driver.
func Each(t *testing.T, f func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, d := range Drivers {
		t.Run(d, func(t *testing.T) {
			f(t, Open(t, d))
		})
	}
}

func open(t testing.TB, opts store.Options) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := store.Open(ctx, opts)
	require.NoError(t, err, "open %s store", opts.Driver)
	t.Cleanup(func() { _ = s.Close() })
	_, err = s.Migrate(ctx)
	require.NoError(t, err, "migrate %s store", opts.Driver)
	return s
}
