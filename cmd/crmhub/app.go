package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmhub/crmhub/config"
	"github.com/crmhub/crmhub/connectors"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/pipeline/bus"
	"github.com/crmhub/crmhub/pipeline/identity"
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

// app is what a command that works on the data needs: the config, the
// logger, the store and, for commands that publish, the bus.
type app struct {
	cfg   *config.Config
	log   *slog.Logger
	store *store.Store
	bus   bus.PubSub
	// pulls runs the sources' scheduled and requested pulls in crmhub run.
	pulls *connectors.Scheduler
	// resolver is the identity resolver of the process; see
	// identityResolver.
	resolver *identity.Resolver
	// metrics is what the stages and the Ingester count, registered in
	// reg, which GET /metrics serves (see mountMetrics).
	reg     *prometheus.Registry
	metrics *pipeline.Metrics
}

// open loads the config and opens the store, migrated, and with withBus
// the bus.
func (g *globals) open(ctx context.Context, withBus bool) (*app, error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: newLogger(cfg.Log, g.stderr), reg: prometheus.NewRegistry()}
	if a.metrics, err = pipeline.NewMetrics(a.reg); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	if a.store, err = openStore(ctx, cfg, a.log, true); err != nil {
		return nil, err
	}
	if withBus {
		if a.bus, err = openBus(ctx, cfg, a.store, a.log); err != nil {
			a.close()
			return nil, err
		}
	}
	return a, nil
}

func (a *app) close() {
	if a.bus != nil {
		_ = a.bus.Close()
	}
	_ = a.store.Close()
}

// openBus opens the configured bus. The sqlite and postgres buses keep
// their tables in the store's database, sharing its connections, when the
// config gives them the store's DSN (the default).
func openBus(ctx context.Context, cfg *config.Config, s *store.Store, log *slog.Logger) (bus.PubSub, error) {
	opts := bus.Options{Driver: cfg.Bus.Driver, Logger: watermill.NewSlogLogger(log)}
	switch cfg.Bus.Driver {
	case bus.DriverSQLite, bus.DriverPostgres:
		if cfg.Bus.Driver != cfg.Store.Driver || cfg.Bus.DSN != cfg.Store.DSN {
			return nil, fmt.Errorf("bus %s with a database other than the store's is not supported yet; remove bus.dsn", cfg.Bus.Driver)
		}
		opts.DB, opts.ReadDB = s.DB(), s.ReadDB()
	case bus.DriverNATS:
		if cfg.Bus.NATS != nil {
			opts.NATSURL, opts.StreamPrefix = cfg.Bus.NATS.URL.Reveal(), cfg.Bus.NATS.StreamPrefix
		}
	}
	return bus.Open(ctx, opts)
}

func fprintf(w io.Writer, format string, args ...any) {
	_, _ = fmt.Fprintf(w, format, args...)
}
