package shopify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	neturl "net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crmhub/crmhub"
)

// BulkStream is the checkpoint stream under which the backfill of stream
// keeps its state: the bulk operation, how far its file has landed, and
// whether it is done. It is a stream of its own so that the incremental
// pull's checkpoint only ever says what the pull may rely on.
func BulkStream(stream string) string { return stream + ".bulk" }

// Defaults of a backfill.
const (
	// DefaultBulkBatch is how many records of a bulk file land in one
	// commit, with the offset the download resumes at.
	DefaultBulkBatch = 500
	// DefaultBulkMaxFailures is how many bulk operations in a row may
	// fail before a backfill gives up.
	DefaultBulkMaxFailures = 3
	// DefaultBulkMaxWait is how long a backfill waits for other bulk
	// operations of the app to make room for its own.
	DefaultBulkMaxWait = time.Hour
	// DefaultBulkReadTimeout is how long a download may stall.
	DefaultBulkReadTimeout = 2 * time.Minute
	// bulkClockSkew is how much earlier than a backfill was planned an
	// operation with its query may have been created and still be its
	// own: Shopify's clock against ours.
	bulkClockSkew = 5 * time.Minute
)

// BackfillConfig configures a Backfill.
type BackfillConfig struct {
	// Source is the configured source name the records land under.
	Source string
	// Since bounds the backfill: records updated before it are left out.
	// Zero reads all history.
	Since time.Time
	// Full backfills even when the stream has a checkpoint already
	// (crmhub sync --full); otherwise a stream with a checkpoint is left
	// to the incremental pull.
	Full bool
	// APIVersion is the Admin API version the querier speaks: from
	// 2026-01 an app may run up to five bulk query operations on a shop
	// at once, before only one, and the ways to list them differ.
	APIVersion string
	// BatchSize is how many records land per commit. Default
	// DefaultBulkBatch.
	BatchSize int
	// MinPoll and MaxPoll bound the wait between two looks at a running
	// operation, and between two attempts at a download. Defaults 1 s and
	// 30 s.
	MinPoll, MaxPoll time.Duration
	// MaxFailures bounds the operations that fail, one after the other,
	// before the backfill gives up. Default DefaultBulkMaxFailures.
	MaxFailures int
	// MaxWait bounds how long the backfill waits for the app's other
	// bulk operations to make room for its own. Default
	// DefaultBulkMaxWait.
	MaxWait time.Duration
	// HTTPClient downloads the files. The default waits up to a minute
	// for an answer's headers and as long as it takes for its body.
	HTTPClient *http.Client
	// ReadTimeout is how long a download may go without a byte before it
	// is dropped and resumed. Default DefaultBulkReadTimeout.
	ReadTimeout time.Duration
}

// BulkProgress is what a backfill has done so far.
type BulkProgress struct {
	// Ran says whether the stream needed a backfill.
	Ran bool
	// Operation is the bulk operation being awaited or read, Status its
	// status and Objects its objectCount.
	Operation, Status string
	Objects           int64
	// Waiting is Shopify's word on why the backfill cannot start its
	// operation yet (the app's other operations hold the shop's limit);
	// empty when it is not waiting.
	Waiting string
	// Started counts the operations this run started.
	Started int
	// Records counts the records this run landed from bulk files.
	Records int
	// Cursor is the checkpoint the incremental pull continues from once
	// the backfill is done.
	Cursor Cursor
}

// bulkState is a backfill's checkpoint.
type bulkState struct {
	// Since is the backfill's bound; zero for all history.
	Since time.Time `json:"since,omitzero"`
	// Planned is when the backfill began: an operation with its query
	// created since then is its own.
	Planned time.Time `json:"planned"`
	// Op is the operation in use; empty before it starts, and after it
	// failed.
	Op string `json:"op,omitempty"`
	// File is which file of Op has landed up to Offset: "url" or
	// "partial".
	File   string `json:"file,omitempty"`
	Offset int64  `json:"offset,omitempty"`
	// Failures counts the operations that failed in a row.
	Failures int `json:"failures,omitempty"`
	// Done says every record landed.
	Done bool `json:"done,omitempty"`
	// Cursor is the incremental pull's checkpoint once done.
	Cursor *Cursor `json:"cursor,omitempty"`
}

// Backfill reads one kind of a shop's records with a bulk operation:
// starts it (or takes over one already running with its query), waits for
// it, and streams its JSONL file into the lander in batches, each with
// the offset that the download resumes at in the same commit. A failed
// operation's partial data lands too, and a new operation takes over. At
// the end it sets the stream's checkpoint to the operation's creation, so
// that the incremental pull goes on from there (minus its overlap).
type Backfill struct {
	api  bulkAPI
	land Lander
	cps  Checkpoints
	cfg  BackfillConfig
	kind *bulkKind
	log  *slog.Logger
	// sleep waits d or until ctx ends; now tells the time.
	sleep func(ctx context.Context, d time.Duration) error
	now   func() time.Time
}

// NewCustomerBackfill returns a backfill of customers, for stream
// StreamCustomers. It does no I/O. The token needs read_customers.
func NewCustomerBackfill(q Querier, land Lander, cps Checkpoints, cfg BackfillConfig, log *slog.Logger) (*Backfill, error) {
	return newBackfill(q, land, cps, cfg, log, &customersKind)
}

// NewOrderBackfill returns a backfill of orders with their line items,
// for stream StreamOrders. It does no I/O. The token needs read_orders;
// without read_all_orders Shopify shows only the last 60 days of orders.
func NewOrderBackfill(q Querier, land Lander, cps Checkpoints, cfg BackfillConfig, log *slog.Logger) (*Backfill, error) {
	return newBackfill(q, land, cps, cfg, log, &ordersKind)
}

func newBackfill(q Querier, land Lander, cps Checkpoints, cfg BackfillConfig, log *slog.Logger, kind *bulkKind) (*Backfill, error) {
	what := "shopify " + strings.TrimSuffix(kind.stream, "s") + " backfill"
	switch {
	case q == nil || land == nil || cps == nil:
		return nil, fmt.Errorf("%s: missing querier, lander or checkpoints", what)
	case cfg.Source == "":
		return nil, fmt.Errorf("%s: no source name", what)
	case cfg.BatchSize < 0 || cfg.MinPoll < 0 || cfg.MaxPoll < 0 || cfg.MaxFailures < 0 || cfg.MaxWait < 0 || cfg.ReadTimeout < 0:
		return nil, fmt.Errorf("%s: negative batch size, poll interval, failures, wait or read timeout", what)
	}
	if cfg.APIVersion == "" {
		cfg.APIVersion = DefaultAPIVersion
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = DefaultBulkBatch
	}
	if cfg.MinPoll == 0 {
		cfg.MinPoll = time.Second
	}
	if cfg.MaxPoll < cfg.MinPoll {
		cfg.MaxPoll = max(30*time.Second, cfg.MinPoll)
	}
	if cfg.MaxFailures == 0 {
		cfg.MaxFailures = DefaultBulkMaxFailures
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = DefaultBulkMaxWait
	}
	if cfg.HTTPClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = time.Minute
		cfg.HTTPClient = &http.Client{Transport: t}
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = DefaultBulkReadTimeout
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Backfill{api: bulkAPI{q: q, apiVersion: cfg.APIVersion}, land: land, cps: cps, cfg: cfg, kind: kind,
		log: log.With("connector", SourceType, "source", cfg.Source, "stream", kind.stream), sleep: sleepCtx, now: time.Now}, nil
}

// Run backfills the stream if it needs it: when it has no checkpoint yet,
// when Full asks for it, or when an earlier run did not finish (which it
// takes up where that run's last commit left off). A stream that needs
// none is left alone and Run reports Ran false. progress, when not nil,
// is called as the operation advances and after each commit.
func (b *Backfill) Run(ctx context.Context, progress func(BulkProgress)) (BulkProgress, error) {
	var done BulkProgress
	st, err := b.plan(ctx, &done)
	if err != nil || st == nil {
		return done, b.wrap(err)
	}
	done.Ran = true
	report := func() {
		if progress != nil {
			progress(done)
		}
	}
	for {
		op, err := b.operation(ctx, st, &done, report)
		if err != nil {
			return done, b.wrap(err)
		}
		if op, err = b.await(ctx, op, &done, report); err != nil {
			return done, b.wrap(err)
		}
		if op.Status == BulkCompleted {
			return done, b.wrap(b.complete(ctx, st, op, &done, report))
		}
		if err := b.failed(ctx, st, op, &done, report); err != nil {
			return done, b.wrap(err)
		}
	}
}

func (b *Backfill) wrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("shopify %s backfill of %s: %w", strings.TrimSuffix(b.kind.stream, "s"), b.cfg.Source, err)
}

// plan returns the backfill to run, nil when the stream needs none.
func (b *Backfill) plan(ctx context.Context, done *BulkProgress) (*bulkState, error) {
	st, found, err := b.state(ctx)
	if err != nil {
		return nil, err
	}
	cur, has, err := b.cursor(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case found && !st.Done && (!b.cfg.Full || st.Since.IsZero()):
		b.log.Info("shopify backfill resumed", "operation", st.Op, "offset", st.Offset)
		return &st, nil
	case found && st.Done && st.Cursor != nil && !b.cfg.Full && (!has || cursorLess(cur, *st.Cursor)):
		// The last run landed everything and stopped before it saved
		// the pull's checkpoint.
		done.Cursor = *st.Cursor
		return nil, b.saveCursor(ctx, *st.Cursor)
	case has && !b.cfg.Full:
		return nil, nil
	}
	st = bulkState{Since: b.cfg.Since, Planned: b.now().UTC()}
	return &st, b.save(ctx, nil, st)
}

// state reads the backfill's checkpoint.
func (b *Backfill) state(ctx context.Context) (bulkState, bool, error) {
	var st bulkState
	cp, err := b.cps.Checkpoint(ctx, b.cfg.Source, BulkStream(b.kind.stream))
	if errors.Is(err, crmhub.ErrNotFound) {
		return st, false, nil
	}
	if err != nil {
		return st, false, err
	}
	if err := json.Unmarshal([]byte(cp.Cursor), &st); err != nil {
		return st, false, fmt.Errorf("read checkpoint %q: %w", cp.Cursor, err)
	}
	return st, true, nil
}

// cursor reads the incremental pull's checkpoint.
func (b *Backfill) cursor(ctx context.Context) (Cursor, bool, error) {
	var c Cursor
	cp, err := b.cps.Checkpoint(ctx, b.cfg.Source, b.kind.stream)
	if errors.Is(err, crmhub.ErrNotFound) {
		return c, false, nil
	}
	if err != nil {
		return c, false, err
	}
	if err := json.Unmarshal([]byte(cp.Cursor), &c); err != nil {
		return c, false, fmt.Errorf("read checkpoint %q: %w", cp.Cursor, err)
	}
	return c, true, nil
}

// save lands envs with the backfill's state in one commit.
func (b *Backfill) save(ctx context.Context, envs []crmhub.Envelope, st bulkState) error {
	cur, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	return b.land.Land(ctx, envs, BulkStream(b.kind.stream), string(cur))
}

func (b *Backfill) saveCursor(ctx context.Context, c Cursor) error {
	cur, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	return b.land.Land(ctx, nil, b.kind.stream, string(cur))
}

// operation returns the backfill's operation: the one it started before,
// one an earlier run started with its query and did not get to note, or
// a new one.
func (b *Backfill) operation(ctx context.Context, st *bulkState, done *BulkProgress, report func()) (BulkOperation, error) {
	if st.Op != "" {
		return b.api.operation(ctx, st.Op)
	}
	query := b.kind.query(st.Since)
	op, found, err := b.adopt(ctx, query, st.Planned)
	if err != nil {
		return op, err
	}
	if found {
		b.log.Info("shopify bulk operation taken over", "operation", op.ID, "status", op.Status)
	} else {
		if op, err = b.start(ctx, query, done, report); err != nil {
			return op, err
		}
		done.Started++
		b.log.Info("shopify bulk operation started", "operation", op.ID)
	}
	st.Op, st.File, st.Offset = op.ID, "", 0
	return op, b.save(ctx, nil, *st)
}

// adopt finds an operation of the app that runs query: one still running
// (whoever started it, its file is what the backfill wants), or one
// created since the backfill was planned (an earlier run started it and
// stopped before it noted it).
func (b *Backfill) adopt(ctx context.Context, query string, planned time.Time) (BulkOperation, bool, error) {
	ops, err := b.api.recent(ctx)
	if err != nil {
		return BulkOperation{}, false, err
	}
	for _, op := range ops {
		if !sameQuery(op.Query, query) {
			continue
		}
		switch op.Status {
		case BulkCreated, BulkRunning:
			return op, true, nil
		case BulkCompleted:
			if at, err := op.Created(); err == nil && !at.Before(planned.Add(-bulkClockSkew)) {
				return op, true, nil
			}
		}
	}
	return BulkOperation{}, false, nil
}

// start starts an operation of query. While the app's other operations
// hold the shop's limit (one at a time before API version 2026-01, five
// from then on) it waits for them, up to MaxWait.
func (b *Backfill) start(ctx context.Context, query string, done *BulkProgress, report func()) (BulkOperation, error) {
	began, delay := b.now(), b.cfg.MinPoll
	defer func() { done.Waiting = "" }()
	for {
		op, err := b.api.start(ctx, query)
		if !errors.Is(err, errBulkBusy) {
			return op, err
		}
		if waited := b.now().Sub(began); waited >= b.cfg.MaxWait {
			return op, fmt.Errorf("waited %s for the app's other bulk operations on the shop, which still hold its limit "+
				"(%s): %w; run the sync again once they ended", waited.Round(time.Second), limitNote(b.cfg.APIVersion), err)
		}
		if done.Waiting == "" {
			b.log.Info("shopify bulk operation waits for others of the app", "api_version", b.cfg.APIVersion, "err", err)
		}
		done.Waiting = strings.TrimPrefix(err.Error(), errBulkBusy.Error()+": ")
		report()
		if err := b.sleep(ctx, delay); err != nil {
			return op, err
		}
		delay = min(2*delay, b.cfg.MaxPoll)
	}
}

// limitNote says how many bulk query operations the API version lets an
// app run on a shop at once.
func limitNote(version string) string {
	if versionAtLeast(version, "2026-01") {
		return "up to five at a time from API version 2026-01"
	}
	return "one at a time before API version 2026-01"
}

// await polls op, backing off, until it ends.
func (b *Backfill) await(ctx context.Context, op BulkOperation, done *BulkProgress, report func()) (BulkOperation, error) {
	delay := b.cfg.MinPoll
	for {
		done.Operation, done.Status, done.Objects = op.ID, op.Status, op.Objects()
		report()
		if op.finished() {
			return op, nil
		}
		if err := b.sleep(ctx, delay); err != nil {
			return op, err
		}
		delay = min(2*delay, b.cfg.MaxPoll)
		var err error
		if op, err = b.api.operation(ctx, op.ID); err != nil {
			return op, err
		}
	}
}

// complete lands the file of a completed operation and then the pull's
// checkpoint: the operation's creation, or the checkpoint the stream had
// if that is later (a full backfill of a stream that is pulled already).
func (b *Backfill) complete(ctx context.Context, st *bulkState, op BulkOperation, done *BulkProgress, report func()) error {
	created, err := op.Created()
	if err != nil {
		return crmhub.Permanent(err)
	}
	c := Cursor{UpdatedAt: created}
	if cur, has, err := b.cursor(ctx); err != nil {
		return err
	} else if has && cursorLess(c, cur) {
		c = cur
	}
	if op.URL != nil && *op.URL != "" {
		err = b.download(ctx, st, "url", *op.URL, &c, done, report)
	} else {
		// An operation that found nothing has no file.
		st.Done, st.Cursor = true, &c
		err = b.save(ctx, nil, *st)
	}
	if err != nil {
		return err
	}
	done.Cursor = c
	b.log.Info("shopify backfill done", "operation", op.ID, "objects", op.Objects(), "records", done.Records)
	return b.saveCursor(ctx, c)
}

// failed lands what a failed operation wrote and clears the way for the
// operation that takes over; it returns the error that ends the backfill
// when none should.
func (b *Backfill) failed(ctx context.Context, st *bulkState, op BulkOperation, done *BulkProgress, report func()) error {
	code := op.errorCode()
	if op.PartialDataURL != nil && *op.PartialDataURL != "" {
		if err := b.download(ctx, st, "partial", *op.PartialDataURL, nil, done, report); err != nil {
			return err
		}
	}
	if code == BulkAccessDenied {
		return b.accessDenied(ctx)
	}
	failures := st.Failures + 1
	b.log.Warn("shopify bulk operation did not complete", "operation", op.ID, "status", op.Status, "error_code", code,
		"failures", failures)
	// The next operation, of this run or the next, starts afresh.
	st.Op, st.File, st.Offset, st.Failures = "", "", 0, failures
	if failures >= b.cfg.MaxFailures {
		st.Failures = 0
	}
	if err := b.save(ctx, nil, *st); err != nil {
		return err
	}
	if failures >= b.cfg.MaxFailures {
		return fmt.Errorf("%d bulk operations in a row did not complete, the last %s %s %s; what they read has landed, "+
			"run the sync again to go on", failures, op.ID, strings.ToLower(op.Status), code)
	}
	return nil
}

// accessDenied explains an operation that failed with ACCESS_DENIED:
// Shopify says which scope is missing only to a query that is not bulk.
func (b *Backfill) accessDenied(ctx context.Context) error {
	query := customersQuery
	if b.kind.stream == StreamOrders {
		query = ordersQuery
	}
	var out json.RawMessage
	err := b.api.q.Query(ctx, query, map[string]any{"first": 1}, &out)
	if err == nil {
		err = fmt.Errorf("the app lacks an access scope the query needs (%s)", b.kind.scope)
	}
	return crmhub.Permanent(fmt.Errorf("bulk operation failed with %s: %w", BulkAccessDenied, err))
}

// download lands the file at url, from where the state says it got to,
// retrying interrupted downloads (not failed landings) from the last
// commit. With done set, the
// file is an operation's complete result, and its last commit marks the
// backfill done with that cursor; otherwise it is partial data.
func (b *Backfill) download(ctx context.Context, st *bulkState, file, url string, done *Cursor, p *BulkProgress, report func()) error {
	if st.File != file {
		st.File, st.Offset = file, 0
	}
	delay := b.cfg.MinPoll
	for attempt := 1; ; attempt++ {
		err := b.downloadOnce(ctx, st, url, done, p, report)
		var le landError
		if err == nil || crmhub.IsPermanent(err) || errors.As(err, &le) || ctx.Err() != nil || attempt >= 8 {
			return err
		}
		b.log.Warn("shopify bulk file download interrupted; resuming", "operation", st.Op, "offset", st.Offset,
			"attempt", attempt, "err", err)
		if err := b.sleep(ctx, delay); err != nil {
			return err
		}
		delay = min(2*delay, b.cfg.MaxPoll)
	}
}

// downloadOnce reads the file at url from st.Offset on and lands it.
func (b *Backfill) downloadOnce(ctx context.Context, st *bulkState, url string, done *Cursor, p *BulkProgress, report func()) error {
	body, err := b.open(ctx, url, st.Offset)
	if err != nil {
		return err
	}
	defer body.Close()
	end, err := streamFile(body, st.Offset, b.kind, b.cfg.BatchSize, done != nil, func(recs []joined, at int64) error {
		return b.landBatch(ctx, st, recs, at, nil, p, report)
	})
	if err != nil {
		return err
	}
	return b.landBatch(ctx, st, nil, end, done, p, report)
}

// landError is a batch that did not land: the download is fine, and
// trying it again is not the download's business.
type landError struct{ error }

func (e landError) Unwrap() error { return e.error }

// open requests the file from offset on. The URL is signed: it carries
// no token, and none is sent.
func (b *Backfill) open(ctx context.Context, url string, offset int64) (rc io.ReadCloser, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		if err != nil {
			cancel()
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, crmhub.Permanent(fmt.Errorf("bulk file url: %w", err))
	}
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := b.cfg.HTTPClient.Do(req)
	if ue := (*neturl.Error)(nil); errors.As(err, &ue) {
		// The URL is signed: its query is a credential, kept out of
		// errors and logs.
		return nil, fmt.Errorf("download bulk file: %s: %w", ue.Op, ue.Err)
	}
	if err != nil {
		return nil, fmt.Errorf("download bulk file: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
		return newIdleReader(resp.Body, b.cfg.ReadTimeout, cancel), nil
	case resp.StatusCode == http.StatusOK:
		// A server that ignores the range sends it all: skip what landed.
		body := newIdleReader(resp.Body, b.cfg.ReadTimeout, cancel)
		if _, err := io.CopyN(io.Discard, body, offset); err != nil {
			body.Close()
			return nil, fmt.Errorf("download bulk file: skip %d bytes: %w", offset, err)
		}
		return body, nil
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && offset > 0:
		// Everything up to the end landed before.
		resp.Body.Close()
		cancel()
		return io.NopCloser(strings.NewReader("")), nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	err = fmt.Errorf("download bulk file: %s: %s", resp.Status, bytes.TrimSpace(msg))
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return nil, err
	}
	return nil, crmhub.Permanent(err)
}

// idleReader drops a download that has sent nothing for a while: a
// connection that stalls without breaking would otherwise hold the sync
// for good. The download then resumes from its last commit.
type idleReader struct {
	body   io.ReadCloser
	timer  *time.Timer
	idle   time.Duration
	cancel context.CancelFunc
}

func newIdleReader(body io.ReadCloser, idle time.Duration, cancel context.CancelFunc) *idleReader {
	return &idleReader{body: body, timer: time.AfterFunc(idle, cancel), idle: idle, cancel: cancel}
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.body.Read(p)
	if n > 0 {
		r.timer.Reset(r.idle)
	}
	return n, err
}

func (r *idleReader) Close() error {
	r.timer.Stop()
	err := r.body.Close()
	r.cancel()
	return err
}

// landBatch lands records with the state that says the file landed up
// to offset; with done set, the state also says the backfill is done.
func (b *Backfill) landBatch(ctx context.Context, st *bulkState, recs []joined, offset int64, done *Cursor, p *BulkProgress, report func()) error {
	envs := make([]crmhub.Envelope, 0, len(recs))
	for _, r := range recs {
		env, _, err := r.rec.envelope(b.cfg.Source)
		if err != nil {
			return crmhub.Permanent(fmt.Errorf("bulk file at byte %d: %w", r.start, err))
		}
		envs = append(envs, env)
	}
	next := *st
	next.Offset = offset
	if done != nil {
		next.Done, next.Cursor = true, done
	}
	if err := b.save(ctx, envs, next); err != nil {
		return landError{fmt.Errorf("land %d records of the bulk file: %w", len(envs), err)}
	}
	*st = next
	p.Records += len(envs)
	report()
	return nil
}
