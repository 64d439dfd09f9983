package shopify

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/crmhub/crmhub"
)

// maxBulkLine bounds one line of a bulk file: a customer or an order
// without its line items, or one line item, is a few KiB.
const maxBulkLine = 16 << 20

// lineReader reads a JSONL stream line by line and knows where each line
// starts in the file, so that a download can resume at a line.
type lineReader struct {
	r   *bufio.Reader
	off int64 // offset of the next byte in the file
	buf []byte
}

func newLineReader(r io.Reader, off int64) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 256<<10), off: off}
}

// next returns the next line without its newline, where it starts in the
// file, and whether a newline ended it: the last line of a file may lack
// one, and the last line of a partial file may be cut off. It returns
// io.EOF after the last line. The line is valid until the next call.
func (lr *lineReader) next() (line []byte, start int64, whole bool, err error) {
	start = lr.off
	lr.buf = lr.buf[:0]
	for {
		frag, err := lr.r.ReadSlice('\n')
		lr.off += int64(len(frag))
		switch {
		case err == nil:
			if len(lr.buf) == 0 {
				return frag[:len(frag)-1], start, true, nil
			}
			lr.buf = append(lr.buf, frag[:len(frag)-1]...)
			return lr.buf, start, true, nil
		case errors.Is(err, bufio.ErrBufferFull):
			lr.buf = append(lr.buf, frag...)
			if len(lr.buf) > maxBulkLine {
				return nil, start, false, crmhub.Permanent(fmt.Errorf("bulk file: the line at byte %d is longer than %d bytes", start, maxBulkLine))
			}
		case errors.Is(err, io.EOF):
			lr.buf = append(lr.buf, frag...)
			if len(lr.buf) == 0 {
				return nil, start, false, io.EOF
			}
			return lr.buf, start, false, nil
		default:
			return nil, start, false, err
		}
	}
}

// bulkRecord is a top-level object of a bulk file (a customer, an order)
// that collects its children (line items) until it lands.
type bulkRecord interface {
	// addChild adds a child line, decoded by the kind's parse.
	addChild(child any) error
	// envelope is the record as it lands, and its cursor.
	envelope(source string) (crmhub.Envelope, Cursor, error)
}

// bulkLine is one decoded line: a record, or a child of the record whose
// id is parent.
type bulkLine struct {
	id     string
	rec    bulkRecord
	parent string
	child  any
}

// bulkKind is what differs between the bulk files of customers and of
// orders.
type bulkKind struct {
	stream string
	// scope is the access scope the query needs.
	scope string
	// query is the bulk query of the records updated since a time.
	query func(since time.Time) string
	// parse decodes one line.
	parse func(line []byte) (bulkLine, error)
}

var customersKind = bulkKind{stream: StreamCustomers, scope: "read_customers", query: customersBulkQuery, parse: parseCustomerLine}

var ordersKind = bulkKind{stream: StreamOrders, scope: "read_orders", query: ordersBulkQuery, parse: parseOrderLine}

// bulkCustomer is a customer line.
type bulkCustomer struct {
	gqlCustomer
	ParentID string `json:"__parentId"`
}

func parseCustomerLine(line []byte) (bulkLine, error) {
	var c bulkCustomer
	if err := json.Unmarshal(line, &c); err != nil {
		return bulkLine{}, err
	}
	if c.ParentID != "" {
		return bulkLine{}, fmt.Errorf("a child of %s in a file of customers", c.ParentID)
	}
	return bulkLine{id: c.ID, rec: &c}, nil
}

func (c *bulkCustomer) addChild(any) error {
	return fmt.Errorf("customer %s: customers have no children in a bulk file", c.ID)
}

func (c *bulkCustomer) envelope(source string) (crmhub.Envelope, Cursor, error) {
	payload, id, err := c.webhookShape()
	if err != nil {
		return crmhub.Envelope{}, Cursor{}, err
	}
	return pulledEnvelope(source, crmhub.EntityCustomer, id, c.UpdatedAt, payload)
}

// bulkOrderLine is an order line or a line item line: a line item names
// its order in __parentId.
type bulkOrderLine struct {
	gqlOrder
	gqlLineItem
	ParentID string `json:"__parentId"`
}

// bulkOrder is an order with the line items read so far.
type bulkOrder struct{ gqlOrder }

func parseOrderLine(line []byte) (bulkLine, error) {
	var l bulkOrderLine
	if err := json.Unmarshal(line, &l); err != nil {
		return bulkLine{}, err
	}
	if l.ParentID != "" {
		return bulkLine{id: l.ID, parent: l.ParentID, child: l.gqlLineItem}, nil
	}
	return bulkLine{id: l.ID, rec: &bulkOrder{l.gqlOrder}}, nil
}

func (o *bulkOrder) addChild(child any) error {
	li, ok := child.(gqlLineItem)
	if !ok {
		return fmt.Errorf("order %s: a child that is not a line item", o.ID)
	}
	o.LineItems.Edges = append(o.LineItems.Edges, struct {
		Node gqlLineItem `json:"node"`
	}{li})
	return nil
}

func (o *bulkOrder) envelope(source string) (crmhub.Envelope, Cursor, error) {
	payload, id, err := o.webhookShape()
	if err != nil {
		return crmhub.Envelope{}, Cursor{}, err
	}
	return pulledEnvelope(source, crmhub.EntityOrder, id, o.UpdatedAt, payload)
}

// joiner puts the lines of a bulk file together into records with their
// children. Asked for grouped output, Shopify writes every child right
// below its parent; the joiner also takes children that come before their
// parent, or after other records that have not landed yet, and reports
// children whose parent had already landed, which it cannot repair.
type joiner struct {
	kind *bulkKind
	// open is the newest record: its children may still come.
	open *joined
	// batch holds the records complete but not landed, by position;
	// index finds them by id.
	batch []joined
	index map[string]int
	// orphans are children whose parent has not come (yet), by parent.
	orphans     map[string][]any
	orphanCount int
}

// joined is a record and where its line starts.
type joined struct {
	id    string
	rec   bulkRecord
	start int64
}

// maxOrphans bounds the children held for a parent that has not come.
const maxOrphans = 200_000

func newJoiner(kind *bulkKind) *joiner {
	return &joiner{kind: kind, index: map[string]int{}, orphans: map[string][]any{}}
}

// add takes one line that starts at start, and reports whether it was a
// record's line (rather than a child's).
func (j *joiner) add(line []byte, start int64) (bool, error) {
	l, err := j.kind.parse(line)
	if err != nil {
		return false, crmhub.Permanent(fmt.Errorf("bulk file of %s, line at byte %d: %w", j.kind.stream, start, err))
	}
	if l.rec != nil {
		return true, j.addRecord(l, start)
	}
	switch i, ok := j.index[l.parent]; {
	case j.open != nil && j.open.id == l.parent:
		err = j.open.rec.addChild(l.child)
	case ok:
		err = j.batch[i].rec.addChild(l.child)
	default:
		j.orphans[l.parent] = append(j.orphans[l.parent], l.child)
		if j.orphanCount++; j.orphanCount > maxOrphans {
			err = fmt.Errorf("more than %d children came before their parent; the file is not grouped as crmhub asked (groupObjects: true)", maxOrphans)
		}
	}
	if err != nil {
		return false, crmhub.Permanent(fmt.Errorf("bulk file of %s, line at byte %d: %w", j.kind.stream, start, err))
	}
	return false, nil
}

func (j *joiner) addRecord(l bulkLine, start int64) error {
	j.close()
	j.open = &joined{id: l.id, rec: l.rec, start: start}
	for _, c := range j.orphans[l.id] {
		if err := l.rec.addChild(c); err != nil {
			return err
		}
	}
	if n := len(j.orphans[l.id]); n > 0 {
		delete(j.orphans, l.id)
		j.orphanCount -= n
	}
	return nil
}

// close moves the open record to the batch.
func (j *joiner) close() {
	if j.open == nil {
		return
	}
	j.index[j.open.id] = len(j.batch)
	j.batch = append(j.batch, *j.open)
	j.open = nil
}

// ready says whether the batch holds at least n records that can land:
// no child waits for a parent, which might be one of them.
func (j *joiner) ready(n int) bool { return len(j.batch) >= n && j.orphanCount == 0 }

// take returns the batch's records and empties it, with the offset a
// download resumes at once they landed: the open record's line. Call it
// only when ready, right after a record line opened.
func (j *joiner) take() ([]joined, int64) {
	out := j.batch
	j.batch, j.index = nil, map[string]int{}
	return out, j.open.start
}

// finish returns the records left once the file ended. A complete file
// has every child's parent; a partial one may end inside the last
// record's children, so that record is left for the operation that takes
// over.
func (j *joiner) finish(complete bool) ([]joined, error) {
	if !complete {
		j.open = nil
		out := j.batch
		j.batch, j.index = nil, map[string]int{}
		return out, nil
	}
	j.close()
	if j.orphanCount > 0 {
		var parent string
		for p := range j.orphans {
			parent = p
			break
		}
		return nil, crmhub.Permanent(fmt.Errorf("bulk file of %s: %d children came after their parent had landed or have no parent in the file (e.g. %s); "+
			"the file is not grouped as crmhub asked (groupObjects: true)", j.kind.stream, j.orphanCount, parent))
	}
	out := j.batch
	j.batch, j.index = nil, map[string]int{}
	return out, nil
}

// streamFile reads a bulk file of kind from r, which starts at offset off
// of the file, and hands land its records in batches of at least batch,
// each with the offset a later read resumes at once they landed. It
// returns the records left at the end through land too, and the offset
// of the end. A complete file is read to its last line; a partial one,
// cut off by a failed operation, stops before its last record, whose
// children may be missing.
func streamFile(r io.Reader, off int64, kind *bulkKind, batch int, complete bool, land func(recs []joined, resumeAt int64) error) (int64, error) {
	lr, j := newLineReader(r, off), newJoiner(kind)
	for {
		line, start, whole, err := lr.next()
		if errors.Is(err, io.EOF) || (err == nil && !whole && !complete) {
			// A partial file may end in the middle of a line.
			break
		}
		if err != nil {
			return start, fmt.Errorf("read bulk file at byte %d: %w", start, err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		opened, err := j.add(line, start)
		if err != nil {
			return start, err
		}
		if opened && j.ready(batch) {
			if err := land(j.take()); err != nil {
				return start, err
			}
		}
	}
	recs, err := j.finish(complete)
	if err != nil {
		return lr.off, err
	}
	if len(recs) > 0 {
		if err := land(recs, lr.off); err != nil {
			return lr.off, err
		}
	}
	return lr.off, nil
}
