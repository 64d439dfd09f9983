package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/internal/export"
	"github.com/crmhub/crmhub/store"
)

// Exports reads what the export routes stream. Implementations are safe
// for concurrent use.
type Exports interface {
	// EachCustomer calls fn with every live profile matching opts, in id
	// order, from one consistent snapshot of the store, in constant
	// memory; see store.Store.EachCustomer. EachCustomerJSON does so with
	// each profile's NDJSON line.
	EachCustomer(ctx context.Context, opts store.ExportOptions, fn func(crmhub.Customer) error) error
	EachCustomerJSON(ctx context.Context, opts store.ExportOptions, fn func(line []byte) error) error
}

const (
	// exportWriteWindow is how long one write of an export may block:
	// the write deadline moves this far ahead as the stream goes on, so
	// that the server's WriteTimeout does not cut a long export, while a
	// client that stops reading is still let go.
	exportWriteWindow = time.Minute
	// exportBuffer is how much of an export is gathered before it is
	// sent: an error before the first send is still answered in the
	// error shape.
	exportBuffer = 32 << 10
)

// contentTypes are the media types of the export formats.
var contentTypes = map[string]string{
	export.FormatNDJSON: "application/x-ndjson",
	export.FormatCSV:    "text/csv; charset=utf-8",
}

// exportCustomers streams every live profile, as `crmhub export customers`
// writes them, byte for byte. An error once part of the export was sent
// cannot change the status any more: an NDJSON export then ends with a
// line holding only an error body, and a CSV export ends without the end
// of its chunked encoding, which HTTP clients report as a truncated body.
func (a *REST) exportCustomers(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	format := strings.ToLower(q.Get("format"))
	if format == "" {
		format = export.FormatNDJSON
	}
	if !slices.Contains(export.Formats, format) {
		return invalidParam("format", "want %s", strings.Join(export.Formats, " or "))
	}
	var opts store.ExportOptions
	opts.Segment = strings.TrimSpace(q.Get("segment"))
	if len(opts.Segment) > maxQueryLen {
		return invalidParam("segment", "longer than %d bytes", maxQueryLen)
	}
	since, err := updatedSince(q)
	if err != nil {
		return err
	}
	opts.UpdatedSince = since

	h := w.Header()
	h.Set("Content-Type", contentTypes[format])
	h.Set("Content-Disposition", `attachment; filename="customers.`+format+`"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	sw := &streamWriter{w: w, rc: http.NewResponseController(w)}
	buf := bufio.NewWriterSize(sw, exportBuffer)
	n, err := export.WriteCustomers(r.Context(), a.store, format, opts, buf)
	if err == nil {
		err = buf.Flush()
	}
	if err == nil {
		a.log.InfoContext(r.Context(), "customers exported", "format", format, "customers", n,
			"token_id", tokenID(r.Context()))
		return nil
	}
	if !sw.sent {
		h.Del("Content-Disposition")
		return err
	}
	if r.Context().Err() != nil {
		a.log.WarnContext(r.Context(), "customer export cut short: the client went away", "customers", n)
		return nil
	}
	a.log.ErrorContext(r.Context(), "customer export cut short", "format", format, "customers", n, "err", err)
	if format != export.FormatNDJSON {
		panic(http.ErrAbortHandler)
	}
	// What was gathered before the error holds whole records.
	_ = buf.Flush()
	var body errorBody
	body.Error.Code = CodeInternal
	body.Error.Message = "the export was cut short by an error; the lines before this one are complete, start again for the rest"
	line, _ := json.Marshal(body)
	if sw.last != '\n' {
		line = append([]byte{'\n'}, line...)
	}
	_, _ = sw.Write(append(line, '\n'))
	return nil
}

// streamWriter sends an export to the client, moving the write deadline
// ahead as it goes.
type streamWriter struct {
	w        http.ResponseWriter
	rc       *http.ResponseController
	extended time.Time
	sent     bool
	last     byte
}

func (s *streamWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	// Moving the deadline costs a timer reset: once a second is enough.
	if now := time.Now(); now.Sub(s.extended) >= time.Second {
		s.extended = now
		_ = s.rc.SetWriteDeadline(now.Add(exportWriteWindow))
	}
	s.sent = true
	n, err := s.w.Write(p)
	if n > 0 {
		s.last = p[n-1]
	}
	if err == nil {
		// A writer that cannot flush sends when its own buffer fills.
		if ferr := s.rc.Flush(); !errors.Is(ferr, http.ErrNotSupported) {
			err = ferr
		}
	}
	return n, err
}
