package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub/config"
)

func newInitCmd(g *globals) *cobra.Command {
	var (
		out   string
		force bool
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a commented example config",
		Long: `Write a commented example config to standard output, or to a file with -o.
The example runs as it is; uncomment the blocks for your shops and systems.

  crmhub init > crmhub.yaml && crmhub validate -c crmhub.yaml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			example := config.Example()
			if out == "" {
				_, err := g.stdout.Write(example)
				return err
			}
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			f, err := os.OpenFile(out, flags, 0o600)
			if errors.Is(err, fs.ErrExist) {
				return usagef("%s exists; pass --force to overwrite it", out)
			}
			if err != nil {
				return fmt.Errorf("write example config: %w", err)
			}
			if _, err := f.Write(example); err != nil {
				f.Close()
				return fmt.Errorf("write example config: %w", err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("write example config: %w", err)
			}
			fprintf(g.stderr, "wrote %s; check it with: crmhub validate -c %s\n", out, out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to this file instead of standard output")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite the output file if it exists")
	return cmd
}
