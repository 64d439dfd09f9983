// Package export writes customer profiles and orders as NDJSON or CSV. It
// is shared by `crmhub export` and GET /api/v1/export/customers, so that
// the two write the same bytes for the same records.
package export

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
)

// Formats an export is written in.
const (
	FormatNDJSON = "ndjson"
	FormatCSV    = "csv"
)

// Formats lists the formats, the default first.
var Formats = []string{FormatNDJSON, FormatCSV}

// Each visits records for an export in id order, as store.EachCustomer
// and store.EachOrder do.
type Each[T any] func(ctx context.Context, opts store.ExportOptions, fn func(T) error) error

// Records writes every record each visits and returns how many it
// wrote. It flushes w at the end, not after each record.
func Records[T any](ctx context.Context, each Each[T], opts store.ExportOptions, w Writer[T]) (int, error) {
	n := 0
	err := each(ctx, opts, func(v T) error {
		n++
		return w.Write(v)
	})
	if err != nil {
		return n, err
	}
	return n, w.Flush()
}

// CustomerSource is what an export of profiles reads: store.Store.
type CustomerSource interface {
	EachCustomer(ctx context.Context, opts store.ExportOptions, fn func(crmhub.Customer) error) error
	EachCustomerJSON(ctx context.Context, opts store.ExportOptions, fn func(line []byte) error) error
}

// WriteCustomers writes every live profile of src that opts keeps to w in
// format and returns how many it wrote. NDJSON lines come as the store
// keeps them (see store.Store.EachCustomerJSON): the same bytes as
// encoding each profile, at a fraction of the cost.
func WriteCustomers(ctx context.Context, src CustomerSource, format string, opts store.ExportOptions, w io.Writer) (int, error) {
	if format == FormatCSV {
		return Records(ctx, src.EachCustomer, opts, Customers(format, w))
	}
	n := 0
	err := src.EachCustomerJSON(ctx, opts, func(line []byte) error {
		n++
		_, err := w.Write(line)
		return err
	})
	return n, err
}

// Writer writes records of one kind in one format.
type Writer[T any] interface {
	// Write writes one record; it may be buffered until Flush.
	Write(T) error
	// Flush writes out what is buffered and reports the first error of
	// any write.
	Flush() error
}

// NewWriter returns a writer of format (FormatCSV, else NDJSON) to w. A
// CSV row is row's cells under header.
func NewWriter[T any](format string, w io.Writer, header []string, row func(T) []string) Writer[T] {
	if format == FormatCSV {
		return &csvWriter[T]{w: csv.NewWriter(w), header: header, row: row}
	}
	return ndjsonWriter[T]{enc: json.NewEncoder(w)}
}

// Customers returns a writer of profiles in format to w.
func Customers(format string, w io.Writer) Writer[crmhub.Customer] {
	return NewWriter(format, w, CustomerCSVHeader, CustomerCSVRow)
}

// Orders returns a writer of orders in format to w.
func Orders(format string, w io.Writer) Writer[crmhub.Order] {
	return NewWriter(format, w, OrderCSVHeader, OrderCSVRow)
}

// ndjsonWriter writes each record as json.Marshal does, one per line.
type ndjsonWriter[T any] struct{ enc *json.Encoder }

func (w ndjsonWriter[T]) Write(v T) error { return w.enc.Encode(v) }
func (w ndjsonWriter[T]) Flush() error    { return nil }

// csvWriter writes a header row, even for no records, and a row per record.
type csvWriter[T any] struct {
	w       *csv.Writer
	header  []string
	row     func(T) []string
	started bool
}

func (w *csvWriter[T]) Write(v T) error {
	if err := w.start(); err != nil {
		return err
	}
	return w.w.Write(SpreadsheetSafe(w.row(v)))
}

func (w *csvWriter[T]) Flush() error {
	if err := w.start(); err != nil {
		return err
	}
	w.w.Flush()
	return w.w.Error()
}

// start writes the header row once.
func (w *csvWriter[T]) start() error {
	if w.started {
		return nil
	}
	w.started = true
	return w.w.Write(w.header)
}

// CustomerCSVHeader is the header row of a CSV export of profiles.
var CustomerCSVHeader = []string{"id", "email", "emails", "phone", "phones", "first_name", "last_name", "birthday",
	"line1", "line2", "city", "region", "postal_code", "country_code", "locale", "tags", "segments", "identities",
	"orders_count", "total_spent", "currency", "clv", "created_at", "updated_at"}

// CustomerCSVRow is a profile as a CSV row: list values joined with |,
// identities as source:external_id, the first address only.
func CustomerCSVRow(c crmhub.Customer) []string {
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

// OrderCSVHeader is the header row of a CSV export of orders.
var OrderCSVHeader = []string{"id", "source", "external_id", "number", "customer_id", "financial_status",
	"fulfillment_status", "currency", "subtotal", "discounts", "tax", "shipping", "total", "refunded",
	"line_items", "created_at", "updated_at", "cancelled_at"}

// OrderCSVRow is an order as a CSV row, with the number of its line items.
func OrderCSVRow(o crmhub.Order) []string {
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

// SpreadsheetSafe defuses, in place, the cells of a row that a spreadsheet
// would run as a formula (CSV injection, see
// https://owasp.org/www-community/attacks/CSV_Injection): a cell starting
// with = + - @, a tab or a carriage return gets a leading '. A plain number
// is left alone: "-10.00" or "+971501234567" can only be read as a number,
// and rewriting it would corrupt amounts and phones for every program that
// reads the file.
func SpreadsheetSafe(row []string) []string {
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
