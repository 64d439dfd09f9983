package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/internal/export"
	"github.com/crmhub/crmhub/store"
	"github.com/crmhub/crmhub/store/storetest"
)

// exportSeed is a store with three live profiles, one merged-away profile
// and three orders, and what the store returns for them.
type exportSeed struct {
	dir, cfg  string
	customers []crmhub.Customer // live, in id order, as the store returns them
	orders    []crmhub.Order    // in id order, as the store returns them
	sara      string            // the profile in the "loyal" segment
	mallory   string            // the profile whose fields look like formulas
}

func seedExport(t *testing.T, driver string) exportSeed {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	opts := store.Options{Driver: store.DriverSQLite, DSN: filepath.Join(dir, "crmhub.db")}
	cfg := "store: {driver: sqlite, dsn: crmhub.db}\n"
	if driver == store.DriverPostgres {
		dsn := storetest.PostgresDSN(t)
		t.Setenv("CRMHUB_TEST_STORE_DSN", dsn)
		opts = store.Options{Driver: store.DriverPostgres, DSN: dsn}
		cfg = "store:\n  driver: postgres\n  dsn: ${CRMHUB_TEST_STORE_DSN}\nbus: {driver: postgres}\n"
	}
	seed := exportSeed{dir: dir, cfg: writeFile(t, dir, "c.yaml", cfg)}
	s, err := store.Open(ctx, opts)
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Migrate(ctx)
	require.NoError(t, err)

	at := time.Date(2025, 11, 2, 9, 12, 0, 0, time.UTC)
	clv := decimal.RequireFromString("1460.00")
	sara := crmhub.Customer{ID: crmhub.NewID(crmhub.CustomerIDPrefix), Email: "sara@example.com",
		Emails: []string{"sara@example.com", "sara.amiri@example.ae"}, Phone: "+971501234567", Phones: []string{"+971501234567"},
		FirstName: "سارة", LastName: "Al Amiri", Birthday: crmhub.Date{Year: 1991, Month: 3, Day: 14},
		Addresses: []crmhub.Address{{Line1: "12 Marina Walk", City: "Dubai", CountryCode: "AE"}, {City: "Abu Dhabi"}},
		Locale:    "ar", Consent: map[string]crmhub.Consent{crmhub.ChannelEmail: {Granted: true, At: at}},
		Tags: []string{"vip", "<b>"},
		Identities: []crmhub.Identity{{Source: "main-store", Type: "shopify", ExternalID: "7039114952811"},
			{Source: "erp", Type: "webhook", ExternalID: "C-1042"}},
		Stats: &crmhub.Stats{OrdersCount: 4, TotalSpent: decimal.RequireFromString("812.40"), Currency: "AED",
			AOV: decimal.RequireFromString("203.10"), FirstOrderAt: at, LastOrderAt: at.Add(24 * time.Hour)},
		RFM: &crmhub.RFM{R: 5, F: 4, M: 4, Segment: "loyal"}, CLV: &clv, Segments: []string{"loyal"},
		CreatedAt: at, UpdatedAt: at.Add(time.Hour)}
	negative := decimal.RequireFromString("-10.50")
	mallory := crmhub.Customer{ID: crmhub.NewID(crmhub.CustomerIDPrefix), FirstName: `=HYPERLINK("http://evil.example","x")`,
		LastName: "@SUM(A1)", Phone: "+971501234568", Phones: []string{"+971501234568", "+4915112345678"},
		Tags: []string{"-2+3"}, Addresses: []crmhub.Address{{Line1: "+1 Main St", City: "\tTab"}}, CLV: &negative}
	plain := crmhub.Customer{ID: crmhub.NewID(crmhub.CustomerIDPrefix), LastName: "Nobody"}
	merged := crmhub.Customer{ID: crmhub.NewID(crmhub.CustomerIDPrefix), FirstName: "Sara", MergedInto: sara.ID,
		Segments: []string{"loyal"}}
	require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
		return tx.UpsertCustomers(ctx, []crmhub.Customer{sara, mallory, plain, merged})
	}))
	seed.sara, seed.mallory = sara.ID, mallory.ID
	seed.customers, err = s.Customers(ctx, []string{sara.ID, mallory.ID, plain.ID})
	require.NoError(t, err)

	cancelled := at.Add(48 * time.Hour)
	var orderIDs []string
	require.NoError(t, s.InTx(ctx, func(tx *store.Tx) error {
		for _, o := range []crmhub.Order{
			{Source: "main-store", ExternalID: "5123456789012345678", Number: "#1042", CustomerID: sara.ID,
				FinancialStatus: "paid", FulfillmentStatus: "fulfilled", Currency: "AED",
				Subtotal: decimal.RequireFromString("190.00"), Discounts: decimal.RequireFromString("10.00"),
				Tax: decimal.RequireFromString("9.00"), Shipping: decimal.RequireFromString("15.00"),
				Total: decimal.RequireFromString("204.00"),
				LineItems: []crmhub.LineItem{{SKU: "TEE-BLK-M", Title: "T-shirt", Quantity: 2, UnitPrice: decimal.RequireFromString("95.00")},
					{SKU: "CAP", Title: "=cmd|' /C calc'!A0", Quantity: 1, UnitPrice: decimal.RequireFromString("0")}},
				CreatedAt: at, UpdatedAt: at.Add(time.Minute)},
			{Source: "main-store", ExternalID: "5123456789012345679", Number: "-1043/B", CustomerID: mallory.ID,
				FinancialStatus: "voided", Currency: "AED", Total: decimal.RequireFromString("5"),
				Refunded: decimal.RequireFromString("5"), CancelledAt: &cancelled, CreatedAt: at},
			{Source: "erp", ExternalID: "INV-7", Currency: "USD", Total: decimal.RequireFromString("1.005"), CreatedAt: at},
		} {
			id, _, err := tx.UpsertOrder(ctx, o)
			if err != nil {
				return err
			}
			orderIDs = append(orderIDs, id)
		}
		return nil
	}))
	for _, key := range [][2]string{{"main-store", "5123456789012345678"}, {"main-store", "5123456789012345679"}, {"erp", "INV-7"}} {
		o, err := s.Order(ctx, key[0], key[1])
		require.NoError(t, err)
		seed.orders = append(seed.orders, o)
	}
	return seed
}

// requireNDJSON checks that out has one line per record of want, each
// exactly json.Marshal of its record.
func requireNDJSON[T any](t *testing.T, out string, want []T) {
	t.Helper()
	require.True(t, strings.HasSuffix(out, "\n") || out == "", "every line ends with a newline")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if out == "" {
		lines = nil
	}
	require.Len(t, lines, len(want), out)
	for i, line := range lines {
		b, err := json.Marshal(want[i])
		require.NoError(t, err)
		require.Equal(t, string(b), line, "line %d", i+1)
	}
}

// readCSV parses CSV output into maps of header to cell.
func readCSV(t *testing.T, data string, header []string) []map[string]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(data)).ReadAll()
	require.NoError(t, err)
	require.NotEmpty(t, rows, "there is always a header")
	require.Equal(t, header, rows[0])
	var out []map[string]string
	for _, row := range rows[1:] {
		m := map[string]string{}
		for i, h := range header {
			m[h] = row[i]
		}
		out = append(out, m)
	}
	return out
}

// requireOnlyFiles checks that dir holds exactly names: no temporary file
// was left behind.
func requireOnlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var got []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "crmhub.db") { // the SQLite file and its WAL
			got = append(got, e.Name())
		}
	}
	require.ElementsMatch(t, names, got)
}

func TestExportCustomers(t *testing.T) {
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			seed := seedExport(t, driver)

			r := runCLI(t, "export", "customers", "-c", seed.cfg)
			require.Equal(t, exitOK, r.code, r.stderr)
			requireNDJSON(t, r.stdout, seed.customers)
			require.Contains(t, r.stdout, `"identities":[{"source":"erp","type":"webhook","external_id":"C-1042"},{"source":"main-store"`)
			require.NotContains(t, r.stdout, "merged_into", "merged-away profiles are left out")
			require.Equal(t, "exported 3 customers to standard output\n", r.stderr)

			file := filepath.Join(seed.dir, "customers.ndjson")
			r = runCLI(t, "export", "customers", "-o", file, "-c", seed.cfg)
			require.Equal(t, exitOK, r.code, r.stderr)
			require.Empty(t, r.stdout)
			require.Equal(t, "exported 3 customers to "+file+"\n", r.stderr)
			got, err := os.ReadFile(file)
			require.NoError(t, err)
			requireNDJSON(t, string(got), seed.customers)

			r = runCLI(t, "export", "customers", "--segment", "loyal", "-c", seed.cfg)
			require.Equal(t, exitOK, r.code, r.stderr)
			requireNDJSON(t, r.stdout, seed.customers[:1])
			require.Equal(t, "exported 1 customers to standard output\n", r.stderr)

			csvFile := filepath.Join(seed.dir, "customers.csv")
			r = runCLI(t, "export", "customers", "--format", "csv", "-o", csvFile, "-c", seed.cfg)
			require.Equal(t, exitOK, r.code, r.stderr)
			data, err := os.ReadFile(csvFile)
			require.NoError(t, err)
			rows := readCSV(t, string(data), export.CustomerCSVHeader)
			require.Len(t, rows, 3)
			sara := rows[0]
			require.Equal(t, map[string]string{
				"id": seed.sara, "email": "sara@example.com", "emails": "sara@example.com|sara.amiri@example.ae",
				"phone": "+971501234567", "phones": "+971501234567", "first_name": "سارة", "last_name": "Al Amiri",
				"birthday": "1991-03-14", "line1": "12 Marina Walk", "line2": "", "city": "Dubai", "region": "",
				"postal_code": "", "country_code": "AE", "locale": "ar", "tags": "vip|<b>", "segments": "loyal",
				"identities": "erp:C-1042|main-store:7039114952811", "orders_count": "4", "total_spent": "812.4",
				"currency": "AED", "clv": "1460", "created_at": "2025-11-02T09:12:00Z", "updated_at": "2025-11-02T10:12:00Z",
			}, sara)
			mallory := rows[1]
			require.Equal(t, seed.mallory, mallory["id"])
			require.Equal(t, `'=HYPERLINK("http://evil.example","x")`, mallory["first_name"])
			require.Equal(t, "'@SUM(A1)", mallory["last_name"])
			require.Equal(t, "'-2+3", mallory["tags"])
			require.Equal(t, "'+1 Main St", mallory["line1"])
			require.Equal(t, "'\tTab", mallory["city"])
			require.Equal(t, "+971501234568", mallory["phone"], "a number is left as it is")
			require.Equal(t, "'+971501234568|+4915112345678", mallory["phones"], "a list of numbers is not a number")
			require.Equal(t, "-10.5", mallory["clv"], "a negative amount is left as it is")
			require.Equal(t, "", mallory["orders_count"], "no stats, no figures")
			require.Equal(t, "Nobody", rows[2]["last_name"])

			requireOnlyFiles(t, seed.dir, "c.yaml", "customers.ndjson", "customers.csv")
		})
	}
}

func TestExportOrders(t *testing.T) {
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			seed := seedExport(t, driver)
			want := slices.SortedFunc(slices.Values(seed.orders), func(a, b crmhub.Order) int {
				return strings.Compare(a.ID, b.ID) // the export is in id order
			})

			r := runCLI(t, "export", "orders", "-c", seed.cfg)
			require.Equal(t, exitOK, r.code, r.stderr)
			requireNDJSON(t, r.stdout, want)
			require.Contains(t, r.stdout, `"line_items":[]`, "an order without line items has an empty list")
			require.Equal(t, "exported 3 orders to standard output\n", r.stderr)

			r = runCLI(t, "export", "orders", "--format", "csv", "-c", seed.cfg)
			require.Equal(t, exitOK, r.code, r.stderr)
			rows := readCSV(t, r.stdout, export.OrderCSVHeader)
			require.Len(t, rows, 3)
			for i, row := range rows {
				require.Equal(t, want[i].ID, row["id"])
			}
			var paid, voided map[string]string
			for _, row := range rows {
				switch row["external_id"] {
				case "5123456789012345678":
					paid = row
				case "5123456789012345679":
					voided = row
				}
			}
			require.Equal(t, map[string]string{
				"id": seed.orders[0].ID, "source": "main-store", "external_id": "5123456789012345678", "number": "#1042",
				"customer_id": seed.sara, "financial_status": "paid", "fulfillment_status": "fulfilled", "currency": "AED",
				"subtotal": "190", "discounts": "10", "tax": "9", "shipping": "15", "total": "204", "refunded": "0",
				"line_items": "2", "created_at": "2025-11-02T09:12:00Z", "updated_at": "2025-11-02T09:13:00Z", "cancelled_at": "",
			}, paid)
			require.Equal(t, "'-1043/B", voided["number"])
			require.Equal(t, "2025-11-04T09:12:00Z", voided["cancelled_at"])
			require.Equal(t, "0", voided["line_items"])
		})
	}
}

func TestExportMistakesExitTwo(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "c.yaml", "store: {driver: sqlite, dsn: crmhub.db}\n")
	for _, tc := range []struct {
		name string
		args []string
		hint string
	}{
		{"no kind", []string{"export"}, "one of: crmhub export customers, crmhub export orders"},
		{"two kinds", []string{"export", "customers", "orders"}, "one of: crmhub export customers, crmhub export orders"},
		{"unknown kind", []string{"export", "profiles"}, `cannot export "profiles"`},
		{"unknown format", []string{"export", "customers", "--format", "xlsx"}, "--format ndjson (the default) or --format csv"},
		{"segment of orders", []string{"export", "orders", "--segment", "loyal"}, "orders have no segments"},
		{"output in a missing directory", []string{"export", "customers", "-o", filepath.Join(dir, "nope", "x.csv")}, "cannot write -o"},
		{"output is a directory", []string{"export", "customers", "-o", dir}, "is a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, append(tc.args, "-c", cfg)...)
			require.Equal(t, exitUsage, r.code, r.stderr)
			require.Contains(t, r.stderr, tc.hint)
			require.Empty(t, r.stdout)
		})
	}
	requireOnlyFiles(t, dir, "c.yaml")
}

// TestExportFailureKeepsTheOldFile fails an export after its temporary file
// exists (the store does not answer): the file it would replace is as it
// was, and nothing is left beside it.
func TestExportFailureKeepsTheOldFile(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CRMHUB_TEST_DEAD_DSN", "postgres://crmhub@127.0.0.1:1/x?connect_timeout=2")
	cfg := writeFile(t, dir, "c.yaml", "store:\n  driver: postgres\n  dsn: ${CRMHUB_TEST_DEAD_DSN}\nbus:\n  driver: postgres\n")
	old := writeFile(t, dir, "customers.csv", "yesterday's export\n")
	r := runCLI(t, "export", "customers", "--format", "csv", "-o", old, "-c", cfg)
	require.Equal(t, exitFailure, r.code, r.stderr)
	got, err := os.ReadFile(old)
	require.NoError(t, err)
	require.Equal(t, "yesterday's export\n", string(got))
	requireOnlyFiles(t, dir, "c.yaml", "customers.csv")
}

func TestOutputAbortLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.ndjson")
	out, err := createOutput(path, nil)
	require.NoError(t, err)
	_, err = out.w.WriteString(strings.Repeat("half a record\n", 10000)) // more than the buffer
	require.NoError(t, err)
	out.abort()
	requireOnlyFiles(t, dir)

	out, err = createOutput(path, nil)
	require.NoError(t, err)
	_, err = out.w.WriteString("{}\n")
	require.NoError(t, err)
	require.NoError(t, out.commit())
	out.abort() // a deferred abort after commit keeps the file
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "{}\n", string(got))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "exports carry personal data")
	requireOnlyFiles(t, dir, "out.ndjson")
}
