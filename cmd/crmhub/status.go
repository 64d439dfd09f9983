package main

import (
	"context"
	"encoding/json"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub/config"
	"github.com/crmhub/crmhub/store"
)

// statusReport is what `crmhub status` shows, and its JSON shape.
type statusReport struct {
	Store struct {
		Driver          string `json:"driver"`
		Location        string `json:"location"`
		SchemaVersion   int64  `json:"schema_version"`
		PendingMigrates int    `json:"pending_migrations"`
	} `json:"store"`
	Counts      store.Counts       `json:"counts"`
	Checkpoints []store.Checkpoint `json:"checkpoints"`
}

func newStatusCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the store, connector checkpoints and dead letters",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			s, err := openStore(ctx, cfg, newLogger(cfg.Log, g.stderr), false)
			if err != nil {
				return err
			}
			defer s.Close()
			rep, err := buildStatus(ctx, cfg, s)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			printStatus(g.stdout, rep)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}

func buildStatus(ctx context.Context, cfg *config.Config, s *store.Store) (statusReport, error) {
	var rep statusReport
	rep.Store.Driver, rep.Store.Location = cfg.Store.Driver, storeLocation(cfg)
	ms, err := s.Migrations(ctx)
	if err != nil {
		return rep, err
	}
	for _, m := range ms {
		if m.Applied {
			rep.Store.SchemaVersion = max(rep.Store.SchemaVersion, m.Version)
		} else {
			rep.Store.PendingMigrates++
		}
	}
	if rep.Store.SchemaVersion == 0 {
		// An empty database: nothing to count yet.
		rep.Checkpoints = []store.Checkpoint{}
		return rep, nil
	}
	if rep.Counts, err = s.Counts(ctx); err != nil {
		return rep, err
	}
	if rep.Checkpoints, err = s.Checkpoints(ctx); err != nil {
		return rep, err
	}
	if rep.Checkpoints == nil {
		rep.Checkpoints = []store.Checkpoint{}
	}
	return rep, nil
}

func printStatus(w io.Writer, rep statusReport) {
	fprintf(w, "store        %s %s (schema version %d", rep.Store.Driver, rep.Store.Location, rep.Store.SchemaVersion)
	if rep.Store.PendingMigrates > 0 {
		fprintf(w, ", %d migrations pending: run crmhub migrate", rep.Store.PendingMigrates)
	}
	fprintf(w, ")\n")
	c := rep.Counts
	fprintf(w, "customers    %d (identities %d, merges %d)\n", c.Customers, c.Identities, c.Merges)
	fprintf(w, "orders       %d\nevents       %d\nraw records  %d\n", c.Orders, c.Events, c.RawRecords)
	fprintf(w, "dead letters %d", c.DeadLetters)
	if c.DeadLetters > 0 {
		fprintf(w, " (inspect with crmhub dlq list)")
	}
	fprintf(w, "\n")
	if len(rep.Checkpoints) == 0 {
		fprintf(w, "checkpoints  none yet\n")
		return
	}
	fprintf(w, "checkpoints\n")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fprintf(tw, "  SOURCE\tSTREAM\tUPDATED\tCURSOR\n")
	for _, cp := range rep.Checkpoints {
		fprintf(tw, "  %s\t%s\t%s\t%s\n", cp.Source, cp.Stream, cp.UpdatedAt.Format(time.RFC3339), abbreviate(cp.Cursor, 40))
	}
	_ = tw.Flush()
}

func abbreviate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
