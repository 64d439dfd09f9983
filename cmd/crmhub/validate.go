package main

import (
	"github.com/spf13/cobra"
)

func newValidateCmd(g *globals) *cobra.Command {
	var print bool
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check a config file and report every problem with its line",
		Long: `Check the config file given with -c. Every problem is reported at once, each as
file:line, what is wrong and what to do. Exits 0 when the file is good, 2 when not.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if print {
				b, err := cfg.Redacted()
				if err != nil {
					return err
				}
				_, err = g.stdout.Write(b)
				return err
			}
			fprintf(g.stdout, "%s: OK (store %s, bus %s, %d sources, %d destinations)\n", g.configPath,
				cfg.Store.Driver, cfg.Bus.Driver, len(cfg.Sources), len(cfg.Destinations))
			return nil
		},
	}
	cmd.Flags().BoolVar(&print, "print", false, "print the effective config, defaults filled in and secrets redacted")
	return cmd
}
