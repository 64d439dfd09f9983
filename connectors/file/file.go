// Package file reads CSV and NDJSON files record by record, in constant
// memory, for the file source (crmhub import). A malformed line is
// reported with its line number and reading goes on.
package file

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/crmhub/crmhub"
)

// Formats a file source reads.
const (
	FormatCSV    = "csv"
	FormatNDJSON = "ndjson"
)

// DetectFormat returns the configured format, or the one the file name
// suggests (.csv, .ndjson, .jsonl).
func DetectFormat(path, configured string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	switch strings.ToLower(filepath.Ext(strings.TrimSuffix(path, ".gz"))) {
	case ".csv":
		return FormatCSV, nil
	case ".ndjson", ".jsonl":
		return FormatNDJSON, nil
	}
	return "", fmt.Errorf("cannot tell the format of %s from its name; set format: csv or ndjson on the source", path)
}

// Line is one record of a file: its payload as JSON, or why it could not
// be read.
type Line struct {
	// Number is the 1-based line where the record starts.
	Number int
	// Fields holds a CSV record's cells by column; nil for NDJSON.
	Fields []string
	// Payload is the record as JSON: an NDJSON line as it is, a CSV record
	// as an object of column: cell.
	Payload []byte
	// Raw is the line as it stood in the file, kept for dead letters.
	Raw []byte
	// Err says why the line is not a record; the reader goes on after it.
	Err error
}

// maxLine bounds one NDJSON line, and so the memory a reader holds.
const maxLine = 1 << 20

// Reader streams the records of one file.
type Reader struct {
	format string
	csv    *csv.Reader
	header []string
	lines  *bufio.Reader
	lineNo int
}

// NewReader starts reading r in format. For CSV it reads the header row.
// CSV cells may be separated by ", " as well as "," and quoted fields may
// hold separators and line breaks.
func NewReader(r io.Reader, format string) (*Reader, error) {
	rd := &Reader{format: format}
	switch format {
	case FormatCSV:
		c := csv.NewReader(r)
		c.TrimLeadingSpace = true // "a, b" as exported by FEBRL and many spreadsheets
		c.FieldsPerRecord = -1    // a short row is a bad line, not the end of the file
		c.LazyQuotes = true
		header, err := c.Read()
		if err != nil {
			return nil, fmt.Errorf("read the CSV header: %w", err)
		}
		for i, h := range header {
			header[i] = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		}
		rd.csv, rd.header = c, header
	case FormatNDJSON:
		rd.lines = bufio.NewReaderSize(r, maxLine)
	default:
		return nil, fmt.Errorf("unknown file format %q: want csv or ndjson", format)
	}
	return rd, nil
}

// Header returns the CSV header; nil for NDJSON.
func (r *Reader) Header() []string { return r.header }

// Next returns the next record, or io.EOF after the last one. A line that
// is not a record comes back with Err set; other errors end the reading.
func (r *Reader) Next() (Line, error) {
	if r.format == FormatCSV {
		return r.nextCSV()
	}
	return r.nextNDJSON()
}

func (r *Reader) nextCSV() (Line, error) {
	rec, err := r.csv.Read()
	line, _ := r.csv.FieldPos(0)
	var pe *csv.ParseError
	switch {
	case errors.Is(err, io.EOF):
		return Line{}, io.EOF
	case errors.As(err, &pe):
		return Line{Number: pe.StartLine, Err: fmt.Errorf("line %d: %w: %w", pe.StartLine, pe.Err, crmhub.ErrInvalid)}, nil
	case err != nil:
		return Line{}, fmt.Errorf("read CSV: %w", err)
	}
	raw := []byte(strings.Join(rec, ","))
	if len(rec) != len(r.header) {
		return Line{Number: line, Raw: raw, Err: fmt.Errorf("line %d has %d fields, the header %d: %w",
			line, len(rec), len(r.header), crmhub.ErrInvalid)}, nil
	}
	obj := make(map[string]string, len(rec))
	for i, cell := range rec {
		obj[r.header[i]] = cell
	}
	payload, err := json.Marshal(obj)
	if err != nil {
		return Line{}, fmt.Errorf("encode line %d: %w", line, err)
	}
	return Line{Number: line, Fields: rec, Payload: payload, Raw: raw}, nil
}

func (r *Reader) nextNDJSON() (Line, error) {
	for {
		b, err := r.lines.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// Too long: skip the rest of the line and report it.
			r.lineNo++
			n := r.lineNo
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.lines.ReadSlice('\n')
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return Line{}, fmt.Errorf("read line %d: %w", n, err)
			}
			return Line{Number: n, Err: fmt.Errorf("line %d is longer than %d bytes: %w", n, maxLine, crmhub.ErrInvalid)}, nil
		}
		if len(b) == 0 && errors.Is(err, io.EOF) {
			return Line{}, io.EOF
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return Line{}, fmt.Errorf("read line %d: %w", r.lineNo+1, err)
		}
		r.lineNo++
		text := bytes.TrimSpace(b)
		if len(text) == 0 {
			if errors.Is(err, io.EOF) {
				return Line{}, io.EOF
			}
			continue // blank lines are not records
		}
		raw := bytes.Clone(text)
		if !json.Valid(raw) || raw[0] != '{' {
			return Line{Number: r.lineNo, Raw: raw,
				Err: fmt.Errorf("line %d is not a JSON object: %w", r.lineNo, crmhub.ErrInvalid)}, nil
		}
		return Line{Number: r.lineNo, Payload: raw, Raw: raw}, nil
	}
}
