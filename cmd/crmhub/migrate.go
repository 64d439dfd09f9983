package main

import (
	"github.com/spf13/cobra"
)

func newMigrateCmd(g *globals) *cobra.Command {
	var status bool
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Bring the store's schema up to date",
		Long: `Apply the schema migrations built into this binary that the store does not have yet.
'crmhub run' and 'crmhub demo' do this on start too; it is safe to run at any time, and
from several processes at once.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			log := newLogger(cfg.Log, g.stderr)
			s, err := openStore(ctx, cfg, log, false)
			if err != nil {
				return err
			}
			defer s.Close()
			if !status {
				applied, err := s.Migrate(ctx)
				if err != nil {
					return err
				}
				for _, m := range applied {
					fprintf(g.stdout, "applied %d %s\n", m.Version, m.Name)
				}
			}
			ms, err := s.Migrations(ctx)
			if err != nil {
				return err
			}
			pending := 0
			for _, m := range ms {
				if status {
					state := "applied"
					if !m.Applied {
						state = "pending"
					}
					fprintf(g.stdout, "%5d %-8s %s\n", m.Version, state, m.Name)
				}
				if !m.Applied {
					pending++
				}
			}
			v, err := s.SchemaVersion(ctx)
			if err != nil {
				return err
			}
			fprintf(g.stdout, "%s store %s: schema version %d, %d pending\n", cfg.Store.Driver, storeLocation(cfg), v, pending)
			return nil
		},
	}
	cmd.Flags().BoolVar(&status, "status", false, "list the migrations and whether each is applied, changing nothing")
	return cmd
}
