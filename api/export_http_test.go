package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/api"
	"github.com/crmhub/crmhub/internal/export"
	"github.com/crmhub/crmhub/store"
)

// exportPeople is a store's worth of profiles that exercise both formats:
// lists, identities, stats, a non-Latin name, cells a spreadsheet would
// run, and a profile merged away, which exports leave out.
func exportPeople(t0 time.Time) []crmhub.Customer {
	sara := person("Sara", "Al Amiri", "sara@example.com", "+971501234567", "loyal")
	sara.Identities = []crmhub.Identity{{Source: "shop", Type: "shopify", ExternalID: "1"}, {Source: "erp", Type: "webhook", ExternalID: "E-1"}}
	sara.Tags = []string{"vip", "=HYPERLINK(\"x\")"}
	sara.Addresses = []crmhub.Address{{Line1: "12 Marina Walk", City: "Dubai", CountryCode: "AE"}}
	sara.Stats = &crmhub.Stats{OrdersCount: 3, TotalSpent: decimal.RequireFromString("-10.50"), Currency: "AED"}
	reza := person("رضا", "Karimi", "reza@example.ir", "", "champions")
	reza.Identities = []crmhub.Identity{{Source: "shop", Type: "shopify", ExternalID: "2"}}
	omar := person("+Omar", "Haddad, Jr.", "", "+4915112345678", "loyal")
	gone := person("Sara", "Al Amiri", "", "")
	gone.MergedInto = sara.ID
	out := []crmhub.Customer{sara, reza, omar, gone}
	for i := range out {
		out[i].CreatedAt = t0
		out[i].UpdatedAt = t0.Add(time.Duration(i) * time.Hour)
	}
	return out
}

// cliExport is what `crmhub export customers` writes for opts: the same
// function on the same store.
func cliExport(t *testing.T, s *store.Store, format string, opts store.ExportOptions) string {
	t.Helper()
	var buf bytes.Buffer
	_, err := export.Records(context.Background(), s.EachCustomer, opts, export.Customers(format, &buf))
	require.NoError(t, err)
	return buf.String()
}

func TestExportCustomersIsTheCLIExport(t *testing.T) {
	f := newFixture(t)
	t0 := time.Date(2026, 5, 2, 10, 0, 0, 0, time.UTC)
	upsert(t, f.store, exportPeople(t0)...)
	read := f.token[store.ScopeRead]
	since := t0.Add(90 * time.Minute)

	tests := []struct {
		name, query, format, contentType string
		opts                             store.ExportOptions
		lines                            int
	}{
		{"default is ndjson", "", export.FormatNDJSON, "application/x-ndjson", store.ExportOptions{}, 3},
		{"ndjson", "?format=ndjson", export.FormatNDJSON, "application/x-ndjson", store.ExportOptions{}, 3},
		{"csv", "?format=CSV", export.FormatCSV, "text/csv; charset=utf-8", store.ExportOptions{}, 4},
		{"segment", "?format=csv&segment=loyal", export.FormatCSV, "text/csv; charset=utf-8", store.ExportOptions{Segment: "loyal"}, 3},
		{"updated since", "?updated_since=" + url.QueryEscape(since.Format(time.RFC3339)), export.FormatNDJSON, "application/x-ndjson",
			store.ExportOptions{UpdatedSince: since}, 1},
		{"nothing matches", "?format=csv&segment=nobody", export.FormatCSV, "text/csv; charset=utf-8", store.ExportOptions{Segment: "nobody"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.do(t, http.MethodGet, "/api/v1/export/customers"+tc.query, read, nil)
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
			require.Equal(t, tc.contentType, resp.Header.Get("Content-Type"))
			require.Equal(t, `attachment; filename="customers.`+tc.format+`"`, resp.Header.Get("Content-Disposition"))
			require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
			want := cliExport(t, f.store, tc.format, tc.opts)
			require.Equal(t, want, string(body), "byte for byte the CLI's export")
			require.Equal(t, tc.lines, strings.Count(string(body), "\n"))
		})
	}

	for _, q := range []string{"format=xlsx", "segment=" + strings.Repeat("x", 201), "updated_since=yesterday", "limit=10"} {
		resp, body := f.do(t, http.MethodGet, "/api/v1/export/customers?"+q, read, nil)
		requireError(t, resp, body, http.StatusBadRequest, api.CodeInvalidParameter)
	}
}

// exportStore is a store whose EachCustomer the test steers: hook runs
// once, after the first profile was handed on; each, when set, replaces
// the store's iteration.
type exportStore struct {
	*store.Store
	hook func()
	each func(ctx context.Context, fn func(crmhub.Customer) error) error
}

func (s *exportStore) EachCustomer(ctx context.Context, opts store.ExportOptions, fn func(crmhub.Customer) error) error {
	if s.each != nil {
		return s.each(ctx, fn)
	}
	var once sync.Once
	return s.Store.EachCustomer(ctx, opts, func(c crmhub.Customer) error {
		if err := fn(c); err != nil {
			return err
		}
		if s.hook != nil {
			once.Do(s.hook)
		}
		return nil
	})
}

// EachCustomerJSON is EachCustomer for NDJSON exports, steered alike.
func (s *exportStore) EachCustomerJSON(ctx context.Context, opts store.ExportOptions, fn func([]byte) error) error {
	if s.each != nil {
		return s.each(ctx, func(c crmhub.Customer) error {
			line, err := json.Marshal(c)
			if err != nil {
				return err
			}
			return fn(append(line, '\n'))
		})
	}
	var once sync.Once
	return s.Store.EachCustomerJSON(ctx, opts, func(line []byte) error {
		if err := fn(line); err != nil {
			return err
		}
		if s.hook != nil {
			once.Do(s.hook)
		}
		return nil
	})
}

// TestExportIsOneSnapshot changes every profile, merges one away and adds
// one while an export of more than one page of the store's reads is
// under way: the export holds the profiles as they were when it started,
// each once.
func TestExportIsOneSnapshot(t *testing.T) {
	es := &exportStore{}
	f := newFixture(t, func(o *api.RESTOptions) {
		es.Store = o.Store.(*store.Store)
		o.Store = es
	})
	const n = 1100 // more than the store reads in one page
	before := make([]crmhub.Customer, n)
	for i := range before {
		before[i] = person("Before", fmt.Sprint(i), "", "")
		before[i].UpdatedAt = time.Date(2026, 5, 2, 10, 0, 0, 0, time.UTC)
	}
	upsert(t, f.store, before...)
	var added string
	es.hook = func() {
		after := make([]crmhub.Customer, n)
		for i, c := range before {
			c.FirstName = "After"
			c.UpdatedAt = c.UpdatedAt.Add(time.Hour)
			after[i] = c
		}
		after[n-1].MergedInto = after[0].ID
		newcomer := person("New", "Comer", "", "")
		added = newcomer.ID
		upsert(t, f.store, append(after, newcomer)...)
	}

	resp, body := f.do(t, http.MethodGet, "/api/v1/export/customers", f.token[store.ScopeRead], nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NotEmpty(t, added, "the writer ran during the export")
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		var c crmhub.Customer
		require.NoError(t, json.Unmarshal(sc.Bytes(), &c), "%s", sc.Bytes())
		seen[c.ID]++
		require.Equal(t, "Before", c.FirstName, "profile %s as it was when the export started", c.ID)
	}
	require.Len(t, seen, n)
	for _, c := range before {
		require.Equal(t, 1, seen[c.ID], "profile %s exported once", c.ID)
	}
	require.NotContains(t, seen, added, "a profile added during the export is not in it")

	// The writer's changes are there for the next export.
	resp, body = f.do(t, http.MethodGet, "/api/v1/export/customers", f.token[store.ScopeRead], nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, n, strings.Count(string(body), `"first_name":"After"`)+strings.Count(string(body), `"first_name":"New"`))
}

// failingEach hands on count large profiles, then fails as a database
// would.
func failingEach(count int) func(ctx context.Context, fn func(crmhub.Customer) error) error {
	return func(ctx context.Context, fn func(crmhub.Customer) error) error {
		for i := range count {
			c := person("Sara", strings.Repeat("x", 200), "", "")
			c.ID = fmt.Sprintf("cus_%05d", i)
			if err := fn(c); err != nil {
				return err
			}
		}
		return errors.New("read customers: disk I/O error")
	}
}

func TestExportFailure(t *testing.T) {
	es := &exportStore{}
	f := newFixture(t, func(o *api.RESTOptions) {
		es.Store = o.Store.(*store.Store)
		o.Store = es
	})
	read := f.token[store.ScopeRead]

	t.Run("before the first byte", func(t *testing.T) {
		es.each = failingEach(3)
		resp, body := f.do(t, http.MethodGet, "/api/v1/export/customers?format=csv", read, nil)
		requireError(t, resp, body, http.StatusInternalServerError, api.CodeInternal)
		require.Empty(t, resp.Header.Get("Content-Disposition"), "no attachment of an error")
	})

	t.Run("ndjson ends with an error line", func(t *testing.T) {
		es.each = failingEach(500) // well past what is gathered before sending
		resp, body := f.do(t, http.MethodGet, "/api/v1/export/customers", read, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, "the status was sent before the error")
		lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
		require.Greater(t, len(lines), 100)
		for _, l := range lines[:len(lines)-1] {
			var c crmhub.Customer
			require.NoError(t, json.Unmarshal([]byte(l), &c), "whole profiles before the error line: %s", l)
			require.NotEmpty(t, c.ID)
		}
		var e apiError
		dec := json.NewDecoder(strings.NewReader(lines[len(lines)-1]))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&e), "the last line is an error body")
		require.Equal(t, api.CodeInternal, e.Error.Code)
		require.NotContains(t, string(body), "disk I/O", "the cause stays in the log")
	})

	t.Run("csv is cut off", func(t *testing.T) {
		es.each = failingEach(500)
		req, err := http.NewRequest(http.MethodGet, f.url+"/api/v1/export/customers?format=csv", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+read)
		resp, err := f.client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		b, err := io.ReadAll(resp.Body)
		require.ErrorIs(t, err, io.ErrUnexpectedEOF, "the client sees the export is incomplete")
		require.True(t, strings.HasPrefix(string(b), strings.Join(export.CustomerCSVHeader, ",")+"\n"))
	})
}

// TestExportOutlivesServerTimeouts serves an export that takes longer than
// the server's read and write timeouts: it is not cut off.
func TestExportOutlivesServerTimeouts(t *testing.T) {
	es := &exportStore{}
	f := newFixture(t, func(o *api.RESTOptions) {
		es.Store = o.Store.(*store.Store)
		o.Store = es
	})
	const count, pause = 12, 50 * time.Millisecond
	es.each = func(ctx context.Context, fn func(crmhub.Customer) error) error {
		for i := range count {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(pause):
			}
			c := person("Sara", strings.Repeat("x", 4000), "", "")
			c.ID = fmt.Sprintf("cus_%05d", i)
			if err := fn(c); err != nil {
				return err
			}
		}
		return nil
	}
	srv, err := api.New(api.Options{Addr: "127.0.0.1:0", ReadTimeout: 100 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
	require.NoError(t, err)
	srv.Handle(api.RESTPattern, f.rest)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-served)
	})

	timed := &fixture{url: "http://" + ln.Addr().String(), client: &http.Client{}}
	start := time.Now()
	resp, body := timed.do(t, http.MethodGet, "/api/v1/export/customers", f.token[store.ScopeRead], nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Greater(t, time.Since(start), 3*200*time.Millisecond, "the export took longer than the timeouts")
	require.Equal(t, count, strings.Count(string(body), "\n"), "every profile arrived")
	require.NotContains(t, string(body), `"error"`)
}
