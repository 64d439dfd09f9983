package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations
var migrations embed.FS

// Migration is one applied or pending schema migration.
type Migration struct {
	Version int64
	Name    string
	Applied bool
}

// provider builds a goose provider for the store's dialect. SQLite
// migrations run on the single writer connection's database handle; on
// PostgreSQL a session advisory lock keeps several crmhub processes that
// start together from migrating at once.
func (s *Store) provider() (*goose.Provider, error) {
	dir, err := fs.Sub(migrations, "migrations/"+s.driver)
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", s.driver, err)
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	dialect := goose.DialectSQLite3
	if s.driver == DriverPostgres {
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, fmt.Errorf("migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(dialect, s.w.DB, dir, opts...)
}

// Migrate applies every pending migration and returns the ones it applied.
// It is safe to run on every start and from several processes at once.
func (s *Store) Migrate(ctx context.Context) ([]Migration, error) {
	p, err := s.provider()
	if err != nil {
		return nil, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate %s store: %w", s.driver, err)
	}
	applied := make([]Migration, 0, len(results))
	for _, r := range results {
		applied = append(applied, Migration{Version: r.Source.Version, Name: r.Source.Path, Applied: true})
		s.log.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration)
	}
	return applied, nil
}

// Migrations lists every migration the binary knows and whether the
// database has it.
func (s *Store) Migrations(ctx context.Context) ([]Migration, error) {
	p, err := s.provider()
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]Migration, 0, len(st))
	for _, m := range st {
		out = append(out, Migration{Version: m.Source.Version, Name: m.Source.Path, Applied: m.State == goose.StateApplied})
	}
	return out, nil
}

// SchemaVersion returns the newest applied migration, or 0 for an empty
// database.
func (s *Store) SchemaVersion(ctx context.Context) (int64, error) {
	p, err := s.provider()
	if err != nil {
		return 0, err
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return v, nil
}
