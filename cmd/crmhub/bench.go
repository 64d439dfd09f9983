package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub"
)

// envBenchToken is the environment variable `crmhub bench api` takes its
// token from when --token is not given, so that the token stays out of
// the process list and the shell history.
const envBenchToken = "CRMHUB_TOKEN"

// benchPageSize is the page size ids are sampled with: the API's default
// maximum. A variable so that tests can spread a sample over a few
// profiles.
var benchPageSize = 1000

// benchCursorPrefix is the version prefix of the API's cursors (see
// api/pagination.go). A cursor is that prefix and the last id of the page,
// base64url-encoded, so the sampler can start a page anywhere in the id
// range; it checks the format on the first page and falls back to paging
// from the start when it does not hold.
const benchCursorPrefix = "v1:"

func newBenchCmd(g *globals) *cobra.Command {
	return groupCmd("bench", "Measure a running crmhub", "", newBenchAPICmd(g))
}

// benchOptions are the flags of `crmhub bench api`.
type benchOptions struct {
	url         string
	token       string
	ids         int
	requests    int
	concurrency int
	export      bool
	asJSON      bool
}

func newBenchAPICmd(g *globals) *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "api [--url URL] [--token T] [--ids N] [--requests N] [--concurrency C] [--export] [--json]",
		Short: "Load the REST API of a running crmhub and report latencies and export speed",
		Long: `Load a running crmhub over HTTP, from this process, as a client would: sample customer ids
from GET /api/v1/customers (pages spread over the whole id range), send GET /api/v1/customers/{id}
for random ones from C connections kept alive, and report requests per second and latency
percentiles; then time a full NDJSON export (GET /api/v1/export/customers?format=ndjson).

Any answer but 200, or an export cut short, fails the run (exit code 1) after the figures are
printed. The token needs the read scope; give it in ` + envBenchToken + ` rather than --token to keep it
out of the process list. The server's http.rate_limit applies: raise it for the run.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := o.bencher()
			if err != nil {
				return err
			}
			res, err := b.run(cmd.Context(), o)
			if res != nil {
				if perr := res.print(g.stdout, o.asJSON); perr != nil && err == nil {
					err = perr
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.url, "url", "http://127.0.0.1:8080", "base URL of the running crmhub")
	f.StringVar(&o.token, "token", "", "API token with the read scope (env "+envBenchToken+")")
	f.IntVar(&o.ids, "ids", 10000, "how many customer ids to sample")
	f.IntVar(&o.requests, "requests", 20000, "how many GET /api/v1/customers/{id} to send")
	f.IntVar(&o.concurrency, "concurrency", 4, "how many requests at once, each on its own connection")
	f.BoolVar(&o.export, "export", true, "also time a full NDJSON export")
	f.BoolVar(&o.asJSON, "json", false, "print the result as JSON")
	return cmd
}

// bencher sends the requests of one run.
type bencher struct {
	base   string
	token  string
	client *http.Client
}

// bencher checks the options and builds the client.
func (o benchOptions) bencher() (*bencher, error) {
	u, err := url.Parse(o.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("--url %q: want the base URL of a running crmhub, such as http://127.0.0.1:8080", o.url)
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"--ids", o.ids}, {"--requests", o.requests}, {"--concurrency", o.concurrency}} {
		if n.v < 1 {
			return nil, usagef("%s %d: want at least 1", n.name, n.v)
		}
	}
	token := o.token
	if token == "" {
		token = os.Getenv(envBenchToken)
	}
	if token == "" {
		return nil, usagef("no API token: set %s or pass --token (make one with: crmhub token create --name bench --scope read)", envBenchToken)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = o.concurrency + 1
	tr.MaxIdleConnsPerHost = o.concurrency + 1
	// A run measures the server, not the gzip of the transport.
	tr.DisableCompression = true
	return &bencher{
		base:  strings.TrimRight(u.String(), "/"),
		token: token,
		client: &http.Client{
			Transport: tr,
			// A 308 to a merged profile's survivor is an answer to count,
			// not to follow.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// benchResult is what a run measured; the JSON of --json.
type benchResult struct {
	URL      string          `json:"url"`
	IDs      int             `json:"ids"`
	Sampling string          `json:"sampling"`
	Get      benchGetResult  `json:"get"`
	Export   *benchExportRun `json:"export,omitempty"`
}

// benchGetResult is the load of GET /api/v1/customers/{id}; latencies in
// milliseconds.
type benchGetResult struct {
	Requests    int     `json:"requests"`
	Concurrency int     `json:"concurrency"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"requests_per_second"`
	P50         float64 `json:"p50_ms"`
	P90         float64 `json:"p90_ms"`
	P99         float64 `json:"p99_ms"`
	P999        float64 `json:"p99_9_ms"`
	Max         float64 `json:"max_ms"`
	Non200      int     `json:"non_200"`
	Errors      int     `json:"errors"`
}

// benchExportRun is the timing of one full NDJSON export.
type benchExportRun struct {
	Lines       int64   `json:"lines"`
	Bytes       int64   `json:"bytes"`
	Seconds     float64 `json:"seconds"`
	LinesPerSec float64 `json:"lines_per_second"`
	Complete    bool    `json:"complete"`
}

// run samples the ids, loads the customer route and times the export. It
// returns what it measured along with the error that failed the run, so
// that the figures are printed either way.
func (b *bencher) run(ctx context.Context, o benchOptions) (*benchResult, error) {
	ids, sampling, err := b.sampleIDs(ctx, o.ids)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, errors.New("the store has no live customers to request")
	}
	res := &benchResult{URL: b.base, IDs: len(ids), Sampling: sampling}
	res.Get = b.loadCustomers(ctx, ids, o.requests, o.concurrency)
	var errs []error
	if n := res.Get.Non200 + res.Get.Errors; n > 0 {
		errs = append(errs, fmt.Errorf("%d of %d requests were not answered 200", n, res.Get.Requests))
	}
	if o.export {
		ex, err := b.exportCustomers(ctx)
		res.Export = &ex
		errs = append(errs, err)
	}
	return res, errors.Join(errs...)
}

// do sends an authorized GET for path and returns the response, whose
// body the caller closes.
func (b *bencher) do(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+b.token)
	return b.client.Do(req)
}

// get is do where an answer but 200 is an error saying the status and the
// API's error message (never the token).
func (b *bencher) get(ctx context.Context, path string) (*http.Response, error) {
	resp, err := b.do(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body)
	msg := resp.Status
	if body.Error.Code != "" {
		msg += ": " + body.Error.Code + ": " + body.Error.Message
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		msg += " (is the token right, unrevoked, with the read scope?)"
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		msg += " (raise http.rate_limit and http.rate_burst of the server for the run)"
	}
	return nil, fmt.Errorf("GET %s: %s", path, msg)
}

// customerPage reads one page of GET /api/v1/customers: its ids and its
// next cursor ("" on the last page).
func (b *bencher) customerPage(ctx context.Context, limit int, cursor string) ([]string, string, error) {
	q := url.Values{"limit": {fmt.Sprint(limit)}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	resp, err := b.get(ctx, "/api/v1/customers?"+q.Encode())
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	var page struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
		NextCursor *string `json:"next_cursor"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return nil, "", fmt.Errorf("read a page of customers: %w", err)
	}
	ids := make([]string, len(page.Data))
	for i, c := range page.Data {
		ids[i] = c.ID
	}
	if page.NextCursor == nil {
		return ids, "", nil
	}
	return ids, *page.NextCursor, nil
}

// benchCursor is the cursor of a page starting after id.
func benchCursor(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(benchCursorPrefix + id))
}

// sampleIDs collects up to n live customer ids. When the cursors are the
// last id of their page and the ids crmhub's (a prefix and a ULID, which
// sorts by creation time), it reads ceil(n/1000) pages starting at points
// evenly spread over the creation times from the oldest profile to the
// newest, so that the sample covers the whole table and not only its
// first pages. Otherwise it follows next_cursor from the start. It
// returns the ids and a phrase saying how they were sampled.
func (b *bencher) sampleIDs(ctx context.Context, n int) ([]string, string, error) {
	first, next, err := b.customerPage(ctx, min(n, benchPageSize), "")
	if err != nil {
		return nil, "", err
	}
	if len(first) >= n || next == "" {
		return first[:min(n, len(first))], "the first page", nil
	}
	if next != benchCursor(first[len(first)-1]) || !crmhub.HasIDPrefix(first[0], crmhub.CustomerIDPrefix) {
		return b.pageFrom(ctx, first, next, n)
	}
	oldest := idTime(first[0])
	newest, err := b.newestTime(ctx, oldest)
	if err != nil {
		return nil, "", err
	}
	pages := (n + benchPageSize - 1) / benchPageSize
	seen := make(map[string]bool, n)
	ids := make([]string, 0, n)
	for k := 0; k < pages && len(ids) < n; k++ {
		page := first
		if k > 0 {
			at := oldest + (newest-oldest)*uint64(k)/uint64(pages)
			if page, _, err = b.customerPage(ctx, min(n-len(ids), benchPageSize), benchCursor(timeID(at))); err != nil {
				return nil, "", err
			}
		}
		for _, id := range page[:min(len(page), n-len(ids))] {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	return ids, fmt.Sprintf("%d pages spread over the id range", pages), nil
}

// pageFrom follows next from the first page until it has n ids.
func (b *bencher) pageFrom(ctx context.Context, ids []string, next string, n int) ([]string, string, error) {
	for next != "" && len(ids) < n {
		page, cur, err := b.customerPage(ctx, min(n-len(ids), benchPageSize), next)
		if err != nil {
			return nil, "", err
		}
		ids, next = append(ids, page...), cur
	}
	return ids[:min(n, len(ids))], "the first pages (cursors are opaque)", nil
}

// newestTime finds, to the millisecond, the creation time of the newest
// live profile by bisecting on one-profile pages: a page starting after
// time t is empty from that time on.
func (b *bencher) newestTime(ctx context.Context, oldest uint64) (uint64, error) {
	lo, hi := oldest, ulid.Timestamp(time.Now().Add(24*time.Hour))
	for lo+1 < hi {
		mid := lo + (hi-lo)/2
		ids, _, err := b.customerPage(ctx, 1, benchCursor(timeID(mid)))
		if err != nil {
			return 0, err
		}
		if len(ids) > 0 {
			// max: an id that is not a ULID must not move lo back.
			lo = max(mid, idTime(ids[0]))
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// idTime is the creation time, in Unix milliseconds, of a crmhub id.
func idTime(id string) uint64 {
	_, rest, _ := strings.Cut(id, "_")
	u, err := ulid.ParseStrict(rest)
	if err != nil {
		return 0
	}
	return u.Time()
}

// timeID is the smallest customer id made at Unix millisecond ms.
func timeID(ms uint64) string {
	var u ulid.ULID
	_ = u.SetTime(ms)
	return crmhub.CustomerIDPrefix + "_" + u.String()
}

// loadCustomers sends requests GETs of random ids from concurrency
// workers and measures them.
func (b *bencher) loadCustomers(ctx context.Context, ids []string, requests, concurrency int) benchGetResult {
	var (
		next          atomic.Int64
		non200, fails atomic.Int64
		mu            sync.Mutex
		lat           = make([]time.Duration, 0, requests)
		wg            sync.WaitGroup
	)
	start := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, requests/concurrency+1)
			for next.Add(1) <= int64(requests) && ctx.Err() == nil {
				path := "/api/v1/customers/" + url.PathEscape(ids[rand.IntN(len(ids))])
				t0 := time.Now()
				code, err := b.fetch(ctx, path)
				mine = append(mine, time.Since(t0))
				switch {
				case err != nil:
					fails.Add(1)
				case code != http.StatusOK:
					non200.Add(1)
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	r := benchGetResult{
		Requests: len(lat), Concurrency: concurrency, Seconds: elapsed.Seconds(),
		PerSecond: float64(len(lat)) / elapsed.Seconds(),
		P50:       millis(percentile(lat, 0.50)), P90: millis(percentile(lat, 0.90)),
		P99: millis(percentile(lat, 0.99)), P999: millis(percentile(lat, 0.999)),
		Non200: int(non200.Load()), Errors: int(fails.Load()),
	}
	if len(lat) > 0 {
		r.Max = millis(lat[len(lat)-1])
	}
	return r
}

// fetch sends one authorized GET and reads its body to the end, so that
// the time includes the whole answer and the connection is reused.
func (b *bencher) fetch(ctx context.Context, path string) (int, error) {
	resp, err := b.do(ctx, path)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// percentile is the nearest-rank p-th percentile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// errorLinePrefix starts the line an NDJSON export ends with when it is
// cut short after its first byte (see api/export.go).
var errorLinePrefix = []byte(`{"error":`)

// exportCustomers streams a full NDJSON export to nowhere, counting its
// lines and bytes. An export that ends with an error line, mid-line or
// with a broken body is an error.
func (b *bencher) exportCustomers(ctx context.Context) (benchExportRun, error) {
	var r benchExportRun
	start := time.Now()
	resp, err := b.get(ctx, "/api/v1/export/customers?format=ndjson")
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	br := bufio.NewReaderSize(resp.Body, 256<<10)
	lineStart, errorLine := true, false
	for {
		seg, err := br.ReadSlice('\n')
		r.Bytes += int64(len(seg))
		if len(seg) > 0 {
			if lineStart {
				errorLine = bytes.HasPrefix(seg, errorLinePrefix)
			}
			lineStart = seg[len(seg)-1] == '\n'
			if lineStart {
				r.Lines++
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			r.Seconds = time.Since(start).Seconds()
			return r, fmt.Errorf("read the export after %d lines: %w", r.Lines, err)
		}
	}
	r.Seconds = time.Since(start).Seconds()
	if r.Seconds > 0 {
		r.LinesPerSec = float64(r.Lines) / r.Seconds
	}
	switch {
	case errorLine:
		return r, fmt.Errorf("the export was cut short by a server error after %d lines", r.Lines-1)
	case !lineStart:
		return r, fmt.Errorf("the export ended in the middle of line %d", r.Lines+1)
	}
	r.Complete = true
	return r, nil
}

// print writes the result as an aligned table, or as JSON.
func (res *benchResult) print(w io.Writer, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(res)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	g := res.Get
	fprintf(tw, "server\t%s\n", res.URL)
	fprintf(tw, "ids sampled\t%d, from %s\n", res.IDs, res.Sampling)
	fprintf(tw, "GET /api/v1/customers/{id}\t%d requests, %d at once, %.1f s\n", g.Requests, g.Concurrency, g.Seconds)
	fprintf(tw, "  requests/s\t%.0f\n", g.PerSecond)
	fprintf(tw, "  p50\t%.2f ms\n  p90\t%.2f ms\n  p99\t%.2f ms\n  p99.9\t%.2f ms\n  max\t%.2f ms\n",
		g.P50, g.P90, g.P99, g.P999, g.Max)
	fprintf(tw, "  non-200\t%d\n  errors\t%d\n", g.Non200, g.Errors)
	if ex := res.Export; ex != nil {
		state := "complete"
		if !ex.Complete {
			state = "INCOMPLETE"
		}
		fprintf(tw, "export (NDJSON)\t%s\n", state)
		fprintf(tw, "  lines\t%d\n  MB\t%.1f\n  seconds\t%.2f\n  lines/s\t%.0f\n",
			ex.Lines, float64(ex.Bytes)/1e6, ex.Seconds, ex.LinesPerSec)
	}
	return tw.Flush()
}
