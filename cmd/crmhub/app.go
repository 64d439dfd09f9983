package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"

	"github.com/crmhub/crmhub/config"
	"github.com/crmhub/crmhub/store"
)

// loadConfig reads and validates the config file named by -c.
func (g *globals) loadConfig() (*config.Config, error) {
	return config.Load(g.configPath)
}

// newLogger builds the process logger from the log section.
func newLogger(cfg config.LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openStore opens the configured store. With migrate it also brings the
// schema up to date, as every long-running command does on start.
func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger, migrate bool) (*store.Store, error) {
	opts := store.Options{
		Driver:            cfg.Store.Driver,
		DSN:               cfg.Store.DSN.Reveal(),
		MaxOpenConns:      cfg.Store.MaxOpenConns,
		SynchronousNormal: cfg.Store.Synchronous == "normal",
		Logger:            log,
	}
	s, err := store.Open(ctx, opts)
	if err != nil {
		return nil, err
	}
	if migrate {
		if _, err := s.Migrate(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// storeLocation describes where the store is without revealing a password.
func storeLocation(cfg *config.Config) string {
	dsn := cfg.Store.DSN.Reveal()
	if cfg.Store.Driver != store.DriverPostgres {
		return dsn
	}
	if u, err := url.Parse(dsn); err == nil && u.Host != "" {
		u.User = nil
		u.RawQuery = ""
		return u.String()
	}
	return "(key=value DSN)"
}

func fprintf(w io.Writer, format string, args ...any) {
	_, _ = fmt.Fprintf(w, format, args...)
}
