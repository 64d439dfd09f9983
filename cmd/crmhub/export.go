package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub/internal/export"
	"github.com/crmhub/crmhub/store"
)

func newExportCmd(g *globals) *cobra.Command {
	var format, segment, output string
	cmd := &cobra.Command{
		Use:   "export customers|orders",
		Short: "Write every customer profile or every order as NDJSON or CSV",
		Long: `Write every customer profile (profiles merged into another one are left out) or every order,
in id order, to standard output or to a file. The export reads one consistent snapshot of the
store, a page at a time in constant memory, while crmhub keeps running beside it.

--format ndjson (the default) writes one JSON object per line, the shape of the HTTP API.
--format csv writes a header row and one row per record; list values are joined with |,
identities are written as source:external_id, and a customer's address is its first one.

CSV cells that a spreadsheet would run as a formula (CSV injection: a cell starting with
= + - @, a tab or a carriage return) get a leading ' so that they show as text. A cell that is
a plain number, such as an amount (-10.00) or a single E.164 phone (+971501234567), is left as
it is: a spreadsheet can only read it as a number, and programs reading the file get the
value unchanged. NDJSON is never altered.

With -o the export is written to a temporary file beside FILE, which replaces FILE only once
the export is complete: a failed or interrupted export never leaves half a file. A summary
line goes to standard error.`,
		Example: `  crmhub export customers -o customers.ndjson
  crmhub export customers --segment loyal --format csv -o loyal.csv
  crmhub export orders --format csv | gzip > orders.csv.gz`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("say what to export, one of: crmhub export customers, crmhub export orders")
			}
			return nil
		},
		ValidArgs: []string{"customers", "orders"},
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.runExport(cmd.Context(), args[0], strings.ToLower(format), segment, output)
		},
	}
	cmd.Flags().StringVar(&format, "format", export.FormatNDJSON, "ndjson or csv")
	cmd.Flags().StringVar(&segment, "segment", "", "only the customers in this segment (customers only)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to this file, replacing it when the export is complete, instead of standard output")
	return cmd
}

func (g *globals) runExport(ctx context.Context, kind, format, segment, path string) error {
	switch kind {
	case "customers", "orders":
	default:
		return usagef("cannot export %q: say what to export, one of: crmhub export customers, crmhub export orders", kind)
	}
	switch format {
	case export.FormatNDJSON, export.FormatCSV:
	default:
		return usagef("unknown format %q: use --format ndjson (the default) or --format csv", format)
	}
	if segment != "" && kind == "orders" {
		return usagef("--segment selects customers; orders have no segments (export customers --segment %s)", segment)
	}
	out, err := createOutput(path, g.stdout)
	if err != nil {
		return err
	}
	defer out.abort()

	app, err := g.open(ctx, false)
	if err != nil {
		return err
	}
	defer app.close()
	opts := store.ExportOptions{Segment: segment}
	var n int
	if kind == "customers" {
		n, err = export.WriteCustomers(ctx, app.store, format, opts, out.w)
	} else {
		n, err = export.Records(ctx, app.store.EachOrder, opts, export.Orders(format, out.w))
	}
	if err != nil {
		return fmt.Errorf("export %s: %w", kind, err)
	}
	if err := out.commit(); err != nil {
		return fmt.Errorf("export %s: %w", kind, err)
	}
	fprintf(g.stderr, "exported %d %s to %s\n", n, kind, out.name)
	return nil
}

// output is where an export goes: standard output, or a temporary file
// that replaces the named file only on commit.
type output struct {
	w    *bufio.Writer
	name string   // for the summary
	tmp  *os.File // nil for standard output
	path string
	done bool
}

func createOutput(path string, stdout io.Writer) (*output, error) {
	if path == "" || path == "-" {
		return &output{w: bufio.NewWriterSize(stdout, 64<<10), name: "standard output"}, nil
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, usagef("-o %s is a directory; give a file name", path)
	}
	// A name of its own per export, so that two exports to the same file
	// cannot interleave; 0600, since exports carry personal data.
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, usageError{fmt.Errorf("cannot write -o %s: %w", path, err)}
	}
	return &output{w: bufio.NewWriterSize(tmp, 64<<10), name: path, tmp: tmp, path: path}, nil
}

// commit writes out what is buffered and, for a file, makes it durable and
// puts it in place.
func (o *output) commit() error {
	if err := o.w.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", o.name, err)
	}
	if o.tmp == nil {
		o.done = true
		return nil
	}
	if err := o.tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", o.path, err)
	}
	if err := o.tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", o.path, err)
	}
	if err := os.Rename(o.tmp.Name(), o.path); err != nil {
		return fmt.Errorf("put %s in place: %w", o.path, err)
	}
	o.done = true
	return nil
}

// abort drops the temporary file unless commit put it in place.
func (o *output) abort() {
	if o.done || o.tmp == nil {
		return
	}
	_ = o.tmp.Close()
	_ = os.Remove(o.tmp.Name())
}
