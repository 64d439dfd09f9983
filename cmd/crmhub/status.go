package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub/config"
	"github.com/crmhub/crmhub/pipeline"
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
	// Changes says, per source, by which channel its changes arrived
	// first (see pipeline.countChanges).
	Changes []sourceChanges `json:"changes"`
}

// sourceChanges are one source's change counts and the share that
// arrived by webhook first (null before any webhook or pull change).
type sourceChanges struct {
	Source       string   `json:"source"`
	Webhook      int64    `json:"webhook"`
	Pull         int64    `json:"pull"`
	Backfill     int64    `json:"backfill"`
	WebhookFirst *float64 `json:"webhook_first"`
}

func newStatusCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the store, connector checkpoints, dead letters and how changes arrived",
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
		rep.Checkpoints, rep.Changes = []store.Checkpoint{}, []sourceChanges{}
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
	rep.Changes, err = changesBySource(ctx, s)
	return rep, err
}

func changesBySource(ctx context.Context, s *store.Store) ([]sourceChanges, error) {
	counts, err := s.ChangeCounts(ctx)
	if err != nil {
		return nil, err
	}
	out := []sourceChanges{}
	for _, c := range counts {
		if len(out) == 0 || out[len(out)-1].Source != c.Source {
			out = append(out, sourceChanges{Source: c.Source})
		}
		sc := &out[len(out)-1]
		switch c.Channel {
		case store.ChannelWebhook:
			sc.Webhook = c.Changes
		case store.ChannelPull:
			sc.Pull = c.Changes
		case store.ChannelBackfill:
			sc.Backfill = c.Changes
		}
		if share, ok := pipeline.WebhookFirstShare(counts, c.Source); ok {
			sc.WebhookFirst = &share
		}
	}
	return out, nil
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
	printChanges(w, rep.Changes)
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

// printChanges shows by which channel each source's changes (new versions
// of its records) arrived first.
func printChanges(w io.Writer, changes []sourceChanges) {
	if len(changes) == 0 {
		return
	}
	fprintf(w, "changes      first arrived by (a change is a new version of a record)\n")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fprintf(tw, "  SOURCE\tWEBHOOK\tPULL\tBACKFILL\tWEBHOOK FIRST\n")
	for _, c := range changes {
		share := "-"
		if c.WebhookFirst != nil {
			share = fmt.Sprintf("%.1f%%", *c.WebhookFirst*100)
		}
		fprintf(tw, "  %s\t%d\t%d\t%d\t%s\n", c.Source, c.Webhook, c.Pull, c.Backfill, share)
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
