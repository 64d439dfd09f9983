package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub/config"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // something went wrong while running
	exitUsage   = 2 // bad command line or bad configuration
)

// usageError marks an error as the user's command line or configuration
// being wrong, as opposed to a failure while running.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// globals are the flags every command shares.
type globals struct {
	configPath string
	stdout     io.Writer
	stderr     io.Writer
}

// run executes the command line args and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	root := newRootCmd(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ps config.Problems
	switch {
	case errors.As(err, &ps):
		for _, p := range ps {
			fmt.Fprintln(stderr, p.Error())
		}
		fmt.Fprintf(stderr, "%s\n", countProblems(len(ps)))
		return exitUsage
	case errors.As(err, new(usageError)):
		fmt.Fprintf(stderr, "crmhub: %v\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "crmhub: %v\n", err)
		return exitFailure
	}
}

func countProblems(n int) string {
	if n == 1 {
		return "1 problem"
	}
	return fmt.Sprintf("%d problems", n)
}

func newRootCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "crmhub",
		Short: "crmhub keeps one trustworthy record per customer across Shopify, GA4, Meta, your ERP and files",
		Long: `crmhub pulls and receives customers, orders and events from Shopify, Google Analytics 4,
Meta lead ads, ERP/MIS webhooks and CSV/NDJSON files, resolves them into one profile per
person, enriches the profiles and pushes them back out.

Start with 'crmhub demo', or write a config with 'crmhub init > crmhub.yaml'.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// A bare word that is not a command is a usage mistake, not a
		// request for help.
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q; run 'crmhub help' for the list", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	root.PersistentFlags().StringVarP(&g.configPath, "config", "c", config.DefaultPath(),
		"config file (env "+config.EnvConfigPath+")")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w; run '%s --help'", err, cmd.CommandPath())}
	})
	root.AddCommand(
		newVersionCmd(g),
		newInitCmd(g),
		newValidateCmd(g),
		newMigrateCmd(g),
		newStatusCmd(g),
		newDemoCmd(g),
		newRunCmd(g),
		newDLQCmd(g),
		newBenchCmd(g),
		newTokenCmd(g),
		newImportCmd(g),
		newSyncCmd(g),
		newShopifyCmd(g),
		newExportCmd(g),
		newMergeCmd(g),
		newUnmergeCmd(g),
		newRebuildCmd(g),
		newIdentityCmd(g),
		newPrivacyCmd(g),
	)
	return root
}

// exactArgs is cobra.ExactArgs reporting a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{fmt.Errorf("%w; run '%s --help'", err, cmd.CommandPath())}
		}
		return nil
	}
}

var noArgs = exactArgs(0)

// groupCmd is a command that only groups subcommands: run alone, it
// prints its help.
func groupCmd(use, short, long string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Long: long, Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() }}
	cmd.AddCommand(subs...)
	return cmd
}
