package shopifytest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// The fake's bulk operations follow Shopify's life cycle: an operation is
// CREATED by bulkOperationRunQuery, RUNNING for the number of steps
// SetBulkPolls gives, and COMPLETED (or FAILED, when a failure was queued
// for it) at the next step; every request about bulk operations is a step
// of every operation that runs. Its JSONL file is written when it ends, from
// the shop's records as they are then, and served over HTTP at a URL
// that, like Shopify's signed URLs, needs no token; ranges are honoured.
// Until 2026-01 an app may run one bulk query operation on a shop at a
// time, from 2026-01 five; from 2026-01 children are grouped below their
// parent only when groupObjects asks for it, and the fake then writes all
// parents first and all children after them.

// BulkOp is a bulk operation of the fake shop, as a test sees it.
type BulkOp struct {
	ID, Query    string
	GroupObjects bool
	// Status and ErrorCode are Shopify's; Objects is the objectCount.
	Status, ErrorCode string
	Objects           int64
	// Size is the size of its file (the partial one of a failed
	// operation).
	Size int64
	// Downloads counts the requests for its file, Ranges lists the
	// ranges they asked for, and Served counts the bytes sent.
	Downloads int
	Ranges    []string
	Served    int64
	// TokenSent counts downloads that carried the access token, which a
	// signed URL does not need and a client must not send to it.
	TokenSent int
	CreatedAt time.Time
}

// BulkFailure makes a bulk operation fail.
type BulkFailure struct {
	// ErrorCode is Shopify's: ACCESS_DENIED, INTERNAL_SERVER_ERROR or
	// TIMEOUT.
	ErrorCode string
	// PartialLines is how many lines of its file the operation wrote
	// before it failed, served at partialDataUrl; none when 0.
	PartialLines int
	// CutLine ends the partial file in the middle of its last line.
	CutLine bool
}

// bulkOp is an operation with what the fake needs to run it.
type bulkOp struct {
	BulkOp
	polls   int
	held    bool
	fail    *BulkFailure
	file    string // path of the file served, once it ended
	partial bool
	served  atomic.Int64
}

// bulkOps is the fake's bulk state; the Server's mutex guards it.
type bulkOps struct {
	dir   string
	ops   []*bulkOp
	fails []BulkFailure
	polls int
	// cuts are the byte counts after which the next downloads break off.
	cuts []int64
}

// bulkFileRE finds a bulk file's operation number in its path.
var bulkFileRE = regexp.MustCompile(`^/bulk/op-(\d+)(-partial)?\.jsonl$`)

var (
	bulkRunRE     = regexp.MustCompile(`bulkOperationRunQuery\s*\(`)
	bulkNodeRE    = regexp.MustCompile(`node\s*\(\s*id:`)
	bulkListRE    = regexp.MustCompile(`bulkOperations\s*\(`)
	bulkCurrentRE = regexp.MustCompile(`currentBulkOperation\b`)
	bulkTopRE     = regexp.MustCompile(`^\s*\{\s*(customers|orders)\s*(?:\(\s*query:\s*"([^"]*)"\s*\))?\s*\{`)
)

// SetBulkPolls sets how many steps a bulk operation stays RUNNING before
// it ends. Default 0: the first request about bulk operations after its
// start finds it ended.
func (s *Server) SetBulkPolls(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bulk.polls = n
}

// FailBulk queues failures: each applies to one of the next bulk
// operations started, in order.
func (s *Server) FailBulk(fs ...BulkFailure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bulk.fails = append(s.bulk.fails, fs...)
}

// CutDownloads makes the next bulk file downloads break off after the
// given numbers of bytes, one each, as a dropped connection does.
func (s *Server) CutDownloads(after ...int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bulk.cuts = append(s.bulk.cuts, after...)
}

// StartBulk starts a bulk query operation as another process of the same
// app would, held RUNNING until ReleaseBulk when hold is set, and returns
// its id. It takes one of the operations the shop allows at a time.
func (s *Server) StartBulk(query string, hold bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	op := s.newBulkOp(query, true)
	op.held = hold
	return op.ID
}

// ReleaseBulk lets a held operation go on to its end.
func (s *Server) ReleaseBulk(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range s.bulk.ops {
		if op.ID == id {
			op.held = false
		}
	}
}

// BulkOps returns the shop's bulk operations, oldest first.
func (s *Server) BulkOps() []BulkOp {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]BulkOp, len(s.bulk.ops))
	for i, op := range s.bulk.ops {
		out[i] = op.BulkOp
		out[i].Ranges = slices.Clone(op.Ranges)
		out[i].Served = op.served.Load()
	}
	return out
}

// bulkLimit is how many bulk query operations may run at once.
func (s *Server) bulkLimit() int {
	if s.opts.APIVersion >= "2026-01" {
		return 5
	}
	return 1
}

// answerBulk answers the bulk operation queries and mutation; ok is false
// for other queries.
func (s *Server) answerBulk(req request) (any, bool) {
	switch {
	case bulkRunRE.MatchString(req.Query):
		return s.answerBulkRun(deref(req.Variables.Query), req.Variables.GroupObjects), true
	case bulkNodeRE.MatchString(req.Query):
		return s.answerBulkNode(deref(req.Variables.ID)), true
	case bulkListRE.MatchString(req.Query):
		if s.opts.APIVersion < "2026-01" {
			return gqlErrors(nil, "Field 'bulkOperations' doesn't exist on type 'QueryRoot'", "undefinedField"), true
		}
		return s.answerBulkList(10, "bulkOperations"), true
	case bulkCurrentRE.MatchString(req.Query):
		return s.answerBulkList(1, "currentBulkOperation"), true
	}
	return nil, false
}

func (s *Server) answerBulkRun(query string, group *bool) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if refused := s.charge(10, "", "bulkOperationRunQuery"); refused != nil {
		return refused
	}
	userError := func(msg, code string) any {
		return s.answerData(10, 10, map[string]any{"bulkOperationRunQuery": map[string]any{"bulkOperation": nil,
			"userErrors": []any{map[string]any{"field": nil, "message": msg, "code": code}}}})
	}
	if !bulkTopRE.MatchString(query) {
		return userError("Invalid bulk query: the fake Shopify runs bulk queries of customers or orders", "INVALID")
	}
	if err := s.tick(); err != nil {
		return gqlErrors(nil, "the fake Shopify could not write a bulk file: "+err.Error(), "INTERNAL_SERVER_ERROR")
	}
	var running []*bulkOp
	for _, op := range s.bulk.ops {
		if op.Status == "CREATED" || op.Status == "RUNNING" {
			running = append(running, op)
		}
	}
	if len(running) >= s.bulkLimit() {
		if s.bulkLimit() == 1 {
			return userError("A bulk query operation for this app and shop is already in progress: "+running[0].ID+".", "OPERATION_IN_PROGRESS")
		}
		return userError("Bulk operations limit reached. Please try again later.", "LIMIT_REACHED")
	}
	op := s.newBulkOp(query, group == nil || *group)
	if group == nil && s.opts.APIVersion >= "2026-01" {
		op.GroupObjects = false
	}
	return s.answerData(10, 10, map[string]any{"bulkOperationRunQuery": map[string]any{
		"bulkOperation": s.bulkJSON(op), "userErrors": []any{}}})
}

// newBulkOp records a new operation; the caller holds s.mu.
func (s *Server) newBulkOp(query string, group bool) *bulkOp {
	op := &bulkOp{BulkOp: BulkOp{ID: fmt.Sprintf("gid://shopify/BulkOperation/%d", 4046733967549+len(s.bulk.ops)),
		Query: query, GroupObjects: group, Status: "CREATED", CreatedAt: s.now().UTC().Truncate(time.Second)}}
	if len(s.bulk.fails) > 0 {
		f := s.bulk.fails[0]
		op.fail, s.bulk.fails = &f, s.bulk.fails[1:]
	}
	s.bulk.ops = append(s.bulk.ops, op)
	return op
}

func (s *Server) answerBulkNode(id string) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if refused := s.charge(1, "", "node"); refused != nil {
		return refused
	}
	i := slices.IndexFunc(s.bulk.ops, func(op *bulkOp) bool { return op.ID == id })
	if i < 0 {
		return s.answerData(1, 1, map[string]any{"node": nil})
	}
	if err := s.tick(); err != nil {
		return gqlErrors(nil, "the fake Shopify could not write a bulk file: "+err.Error(), "INTERNAL_SERVER_ERROR")
	}
	return s.answerData(1, 1, map[string]any{"node": s.bulkJSON(s.bulk.ops[i])})
}

// answerBulkList answers bulkOperations (newest n) or
// currentBulkOperation (the newest).
func (s *Server) answerBulkList(n int, field string) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if refused := s.charge(2, "", field); refused != nil {
		return refused
	}
	if err := s.tick(); err != nil {
		return gqlErrors(nil, "the fake Shopify could not write a bulk file: "+err.Error(), "INTERNAL_SERVER_ERROR")
	}
	var nodes []any
	for i := len(s.bulk.ops) - 1; i >= 0 && len(nodes) < n; i-- {
		nodes = append(nodes, s.bulkJSON(s.bulk.ops[i]))
	}
	if field == "currentBulkOperation" {
		var cur any
		if len(nodes) > 0 {
			cur = nodes[0]
		}
		return s.answerData(2, 2, map[string]any{field: cur})
	}
	if nodes == nil {
		nodes = []any{}
	}
	return s.answerData(2, 2, map[string]any{field: map[string]any{"nodes": nodes}})
}

// tick lets time pass for the operations that run: every request about
// bulk operations moves each one step on. The caller holds s.mu.
func (s *Server) tick() error {
	for _, op := range s.bulk.ops {
		if err := s.advance(op); err != nil {
			return err
		}
	}
	return nil
}

// advance moves an operation one step on: it runs for BulkPolls steps and
// ends at the next one.
func (s *Server) advance(op *bulkOp) error {
	switch {
	case op.Status != "CREATED" && op.Status != "RUNNING":
	case op.held || op.polls < s.bulk.polls:
		op.Status = "RUNNING"
		op.polls++
		op.Objects = int64(op.polls) * 100
	default:
		return s.end(op)
	}
	return nil
}

// end writes an operation's file and sets its final status.
func (s *Server) end(op *bulkOp) error {
	kind, since, err := bulkSelection(op.Query)
	if err != nil {
		// Another process's query of something the fake does not keep
		// (products, say) finds nothing.
		op.Status = "COMPLETED"
		return nil
	}
	scope := map[string]string{"customers": "read_customers", "orders": "read_orders"}[kind]
	if !slices.Contains(s.opts.Scopes, scope) {
		op.Status, op.ErrorCode = "FAILED", "ACCESS_DENIED"
		return nil
	}
	if op.fail != nil && op.fail.PartialLines == 0 {
		op.Status, op.ErrorCode = "FAILED", op.fail.ErrorCode
		return nil
	}
	n := strings.TrimPrefix(op.ID, "gid://shopify/BulkOperation/")
	op.file = filepath.Join(s.bulk.dir, "op-"+n+".jsonl")
	limit := -1
	if op.fail != nil {
		op.file, op.partial, limit = filepath.Join(s.bulk.dir, "op-"+n+"-partial.jsonl"), true, op.fail.PartialLines
	}
	lines, size, err := s.writeBulkFile(op.file, kind, since, op.GroupObjects, limit, op.fail != nil && op.fail.CutLine)
	if err != nil {
		return err
	}
	op.Objects, op.Size = int64(lines), size
	op.Status = "COMPLETED"
	if op.fail != nil {
		op.Status, op.ErrorCode = "FAILED", op.fail.ErrorCode
	}
	return nil
}

// bulkSelection reads what a bulk query selects: customers or orders,
// updated since when.
func bulkSelection(query string) (string, time.Time, error) {
	m := bulkTopRE.FindStringSubmatch(query)
	if m == nil {
		return "", time.Time{}, fmt.Errorf("the fake Shopify runs bulk queries of customers or orders")
	}
	since, err := parseSince(m[2])
	return m[1], since, err
}

// writeBulkFile writes the JSONL of kind's records updated since since:
// at most limit lines when limit is not negative, the last of them cut in
// half with cut. It returns the lines and bytes written.
func (s *Server) writeBulkFile(path, kind string, since time.Time, group bool, limit int, cut bool) (int, int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	w := &lineWriter{w: bufio.NewWriterSize(f, 1<<20), limit: limit, cut: cut}
	if kind == "customers" {
		for _, c := range s.customers {
			if !c.UpdatedAt.Before(since) {
				w.write(node(c))
			}
		}
	} else {
		var children []map[string]any
		for _, o := range s.orders {
			if o.UpdatedAt.Before(since) {
				continue
			}
			n := orderNode(o, 0)
			delete(n, "lineItems")
			w.write(n)
			for j, li := range o.LineItems {
				child := lineItemLine(o, j, li)
				if group {
					w.write(child)
				} else {
					children = append(children, child)
				}
			}
		}
		for _, c := range children {
			w.write(c)
		}
	}
	err = w.w.Flush()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = w.err
	}
	return w.lines, w.size, err
}

// lineItemLine is a line item's line in a bulk file of orders.
func lineItemLine(o Order, j int, li LineItem) map[string]any {
	return map[string]any{"id": fmt.Sprintf("gid://shopify/LineItem/%d%03d", o.ID, j), "sku": nullable(li.SKU),
		"title": li.Title, "quantity": li.Quantity,
		"originalUnitPriceSet": map[string]any{"shopMoney": map[string]any{"amount": li.Price}},
		"__parentId":           fmt.Sprintf("gid://shopify/Order/%d", o.ID)}
}

// lineWriter writes JSONL up to a number of lines, with cut the last of
// them only in half.
type lineWriter struct {
	w     *bufio.Writer
	limit int
	cut   bool
	lines int
	size  int64
	err   error
}

func (lw *lineWriter) write(v any) {
	if lw.err != nil || (lw.limit >= 0 && lw.lines >= lw.limit) {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		lw.err = err
		return
	}
	b = append(b, '\n')
	if lw.cut && lw.lines == lw.limit-1 {
		b = b[:len(b)/2]
	}
	_, lw.err = lw.w.Write(b)
	lw.lines++
	lw.size += int64(len(b))
}

// bulkJSON is an operation as the Admin API writes it; the caller holds
// s.mu.
func (s *Server) bulkJSON(op *bulkOp) map[string]any {
	out := map[string]any{"id": op.ID, "status": op.Status, "errorCode": nil,
		"createdAt": op.CreatedAt.Format(time.RFC3339), "objectCount": fmt.Sprint(op.Objects),
		"fileSize": nil, "url": nil, "partialDataUrl": nil, "query": op.Query}
	if op.ErrorCode != "" {
		out["errorCode"] = op.ErrorCode
	}
	if op.file != "" {
		u := s.srv.URL + "/bulk/" + filepath.Base(op.file) + "?X-Goog-Signature=fake&response-content-type=application%2Fjsonl"
		if op.partial {
			out["partialDataUrl"] = u
		} else {
			out["url"], out["fileSize"] = u, fmt.Sprint(op.Size)
		}
	}
	return out
}

// serveBulkFile serves a bulk operation's file, ranges included.
func (s *Server) serveBulkFile(w http.ResponseWriter, r *http.Request) {
	m := bulkFileRE.FindStringSubmatch(r.URL.Path)
	s.mu.Lock()
	var op *bulkOp
	for _, o := range s.bulk.ops {
		if m != nil && o.file != "" && filepath.Base(o.file) == strings.TrimPrefix(r.URL.Path, "/bulk/") {
			op = o
		}
	}
	cut := int64(-1)
	if op != nil {
		op.Downloads++
		if rg := r.Header.Get("Range"); rg != "" {
			op.Ranges = append(op.Ranges, rg)
		}
		if r.Header.Get("X-Shopify-Access-Token") != "" {
			op.TokenSent++
		}
		if len(s.bulk.cuts) > 0 {
			cut, s.bulk.cuts = s.bulk.cuts[0], s.bulk.cuts[1:]
		}
	}
	s.mu.Unlock()
	if op == nil || r.Method != http.MethodGet {
		http.Error(w, "NoSuchKey", http.StatusNotFound)
		return
	}
	f, err := os.Open(op.file)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/jsonl")
	http.ServeContent(&countingWriter{ResponseWriter: w, n: &op.served, cut: cut}, r, "", op.CreatedAt, f)
}

// countingWriter counts what it sends and breaks the connection off after
// cut bytes, when cut is not negative.
type countingWriter struct {
	http.ResponseWriter
	n    *atomic.Int64
	cut  int64
	sent int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.cut >= 0 && c.sent+int64(len(p)) > c.cut {
		p = p[:c.cut-c.sent]
		n, _ := c.ResponseWriter.Write(p)
		c.n.Add(int64(n))
		if f, ok := c.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		panic(http.ErrAbortHandler)
	}
	n, err := c.ResponseWriter.Write(p)
	c.sent += int64(n)
	c.n.Add(int64(n))
	return n, err
}
