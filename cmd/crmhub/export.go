package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
)

// Export formats.
const (
	formatNDJSON = "ndjson"
	formatCSV    = "csv"
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
	cmd.Flags().StringVar(&format, "format", formatNDJSON, "ndjson or csv")
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
	case formatNDJSON, formatCSV:
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
		n, err = exportRecords(ctx, app.store.EachCustomer, opts, newRecordWriter(format, out.w, customerCSVHeader, customerCSVRow))
	} else {
		n, err = exportRecords(ctx, app.store.EachOrder, opts, newRecordWriter(format, out.w, orderCSVHeader, orderCSVRow))
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

// exportRecords writes every record each visits and returns how many it
// wrote.
func exportRecords[T any](ctx context.Context, each func(context.Context, store.ExportOptions, func(T) error) error,
	opts store.ExportOptions, w recordWriter[T]) (int, error) {
	n := 0
	err := each(ctx, opts, func(v T) error {
		n++
		return w.write(v)
	})
	if err != nil {
		return n, err
	}
	return n, w.flush()
}

// recordWriter writes records of one kind in one format.
type recordWriter[T any] interface {
	write(T) error
	// flush writes out what is buffered and reports the first error of
	// any write.
	flush() error
}

func newRecordWriter[T any](format string, w io.Writer, header []string, row func(T) []string) recordWriter[T] {
	if format == formatCSV {
		return &csvWriter[T]{w: csv.NewWriter(w), header: header, row: row}
	}
	return ndjsonWriter[T]{enc: json.NewEncoder(w)}
}

// ndjsonWriter writes each record as json.Marshal does, one per line.
type ndjsonWriter[T any] struct{ enc *json.Encoder }

func (w ndjsonWriter[T]) write(v T) error { return w.enc.Encode(v) }
func (w ndjsonWriter[T]) flush() error    { return nil }

// csvWriter writes a header row, even for no records, and a row per record.
type csvWriter[T any] struct {
	w       *csv.Writer
	header  []string
	row     func(T) []string
	started bool
}

func (w *csvWriter[T]) write(v T) error {
	if !w.started {
		w.started = true
		if err := w.w.Write(w.header); err != nil {
			return err
		}
	}
	return w.w.Write(spreadsheetSafe(w.row(v)))
}

func (w *csvWriter[T]) flush() error {
	if !w.started {
		w.started = true
		if err := w.w.Write(w.header); err != nil {
			return err
		}
	}
	w.w.Flush()
	return w.w.Error()
}

var customerCSVHeader = []string{"id", "email", "emails", "phone", "phones", "first_name", "last_name", "birthday",
	"line1", "line2", "city", "region", "postal_code", "country_code", "locale", "tags", "segments", "identities",
	"orders_count", "total_spent", "currency", "clv", "created_at", "updated_at"}

func customerCSVRow(c crmhub.Customer) []string {
	var a crmhub.Address
	if len(c.Addresses) > 0 {
		a = c.Addresses[0]
	}
	var count, spent, currency, clv string
	if c.Stats != nil {
		count, spent, currency = strconv.Itoa(c.Stats.OrdersCount), c.Stats.TotalSpent.String(), c.Stats.Currency
	}
	if c.CLV != nil {
		clv = c.CLV.String()
	}
	ids := make([]string, len(c.Identities))
	for i, id := range c.Identities {
		ids[i] = id.Source + ":" + id.ExternalID
	}
	return []string{c.ID, c.Email, joinList(c.Emails), c.Phone, joinList(c.Phones), c.FirstName, c.LastName,
		c.Birthday.String(), a.Line1, a.Line2, a.City, a.Region, a.PostalCode, a.CountryCode, c.Locale,
		joinList(c.Tags), joinList(c.Segments), joinList(ids), count, spent, currency, clv,
		csvTime(c.CreatedAt), csvTime(c.UpdatedAt)}
}

var orderCSVHeader = []string{"id", "source", "external_id", "number", "customer_id", "financial_status",
	"fulfillment_status", "currency", "subtotal", "discounts", "tax", "shipping", "total", "refunded",
	"line_items", "created_at", "updated_at", "cancelled_at"}

func orderCSVRow(o crmhub.Order) []string {
	var cancelled string
	if o.CancelledAt != nil {
		cancelled = csvTime(*o.CancelledAt)
	}
	return []string{o.ID, o.Source, o.ExternalID, o.Number, o.CustomerID, o.FinancialStatus, o.FulfillmentStatus,
		o.Currency, o.Subtotal.String(), o.Discounts.String(), o.Tax.String(), o.Shipping.String(), o.Total.String(),
		o.Refunded.String(), strconv.Itoa(len(o.LineItems)), csvTime(o.CreatedAt), csvTime(o.UpdatedAt), cancelled}
}

func joinList(xs []string) string { return strings.Join(xs, "|") }

// csvTime writes a time as the JSON export does (RFC 3339, UTC), and the
// zero time as an empty cell.
func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// spreadsheetSafe defuses, in place, the cells of a row that a spreadsheet
// would run as a formula (CSV injection, see
// https://owasp.org/www-community/attacks/CSV_Injection): a cell starting
// with = + - @, a tab or a carriage return gets a leading '. A plain number
// is left alone: "-10.00" or "+971501234567" can only be read as a number,
// and rewriting it would corrupt amounts and phones for every program that
// reads the file.
func spreadsheetSafe(row []string) []string {
	for i, cell := range row {
		if cell == "" {
			continue
		}
		switch cell[0] {
		case '=', '+', '-', '@', '\t', '\r':
			if !plainNumber(cell) {
				row[i] = "'" + cell
			}
		}
	}
	return row
}

// plainNumber reports whether s is an optional sign, digits, and optionally
// a point and more digits: nothing a spreadsheet could take for a formula.
func plainNumber(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	intPart, frac, hasPoint := strings.Cut(s, ".")
	return allDigits(intPart) && (!hasPoint || allDigits(frac))
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
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
