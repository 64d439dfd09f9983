package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/connectors/file"
	"github.com/crmhub/crmhub/mapping"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/store"
)

// importBatch is how many records one ingest transaction carries.
const importBatch = 500

func newImportCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "import SOURCE FILE",
		Short: "Feed a CSV or NDJSON file through a file source and its mapping",
		Long: `Read FILE record by record, in constant memory, map each record with the source's mapping
to find its id and version, and ingest it: land it in the raw table and publish it for the
pipeline. A line that cannot be read or has no id goes to the dead letters with its line
number and reason, and the import goes on. Importing the same file again changes nothing.`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.runImport(cmd.Context(), args[0], args[1])
		},
	}
}

func (g *globals) runImport(ctx context.Context, sourceName, path string) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	src := cfg.Source(sourceName)
	if src == nil || src.Type != "file" {
		return usagef("%q is not a file source in %s; add one with type: file and a mapping", sourceName, g.configPath)
	}
	rules, err := mapping.Load(src.Mapping)
	if err != nil {
		return usageError{err}
	}
	format, err := file.DetectFormat(path, src.Format)
	if err != nil {
		return usageError{err}
	}
	f, err := os.Open(path)
	if err != nil {
		return usageError{fmt.Errorf("open %s: %w", path, err)}
	}
	defer f.Close()
	// The file's content names it in checkpoints and dead-letter keys, so
	// a renamed copy is the same import and an edited file a new one.
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	fileID := hex.EncodeToString(h.Sum(nil))[:16]
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	rd, err := file.NewReader(f, format)
	if err != nil {
		return usageError{fmt.Errorf("%s: %w", path, err)}
	}
	if format == file.FormatCSV {
		if err := rules.CheckHeader(rd.Header()); err != nil {
			return usageError{err}
		}
	}

	app, err := g.open(ctx, true)
	if err != nil {
		return err
	}
	defer app.close()
	before, err := app.store.Counts(ctx)
	if err != nil {
		return err
	}
	sources, err := mapSources(app.cfg)
	if err != nil {
		return usageError{err}
	}
	base, err := settledNow(ctx, app.store)
	if err != nil {
		return err
	}
	imp := &importer{g: g, store: app.store, in: pipeline.NewIngester(app.store, app.bus, true), rules: rules,
		source: sourceName, file: filepath.Base(path), fileID: fileID,
		opts: mapping.Options{DefaultRegion: src.DefaultRegion}, progress: newProgress(g.stderr)}
	if err := imp.run(ctx, rd); err != nil {
		return err
	}
	after, err := app.store.Counts(ctx)
	if err != nil {
		return err
	}
	imp.progress.done(imp.lines)
	landed := after.RawRecords - before.RawRecords
	// The new records go through the map and persist stages now, so that
	// the profiles are there when the command returns. Records landed
	// before (a repeated import) were resolved then.
	if landed > 0 {
		if err := app.runUntil(ctx, app.newStages(sources), base.until(landed+int64(imp.bad))); err != nil {
			return fmt.Errorf("resolve imported records: %w", err)
		}
	}
	if after, err = app.store.Counts(ctx); err != nil {
		return err
	}
	fprintf(g.stdout, "%s: %d records, %d new to the raw table; %d bad lines; %d profiles (%+d), %d merges (%+d)",
		path, imp.records, landed, imp.bad, after.Customers, after.Customers-before.Customers,
		after.Merges, after.Merges-before.Merges)
	if imp.bad > 0 {
		fprintf(g.stdout, " (see crmhub dlq list)")
	}
	fprintf(g.stdout, "\n")
	return nil
}

type importer struct {
	g                    *globals
	store                *store.Store
	in                   *pipeline.Ingester
	rules                *mapping.Rules
	opts                 mapping.Options
	source, file, fileID string
	progress             *progress
	lines, records, bad  int
}

func (imp *importer) run(ctx context.Context, rd *file.Reader) error {
	batch := make([]crmhub.Envelope, 0, importBatch)
	lastLine := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := imp.in.Ingest(ctx, batch, &pipeline.Checkpoint{Source: imp.source,
			Stream: "import:" + imp.fileID, Cursor: fmt.Sprintf("line %d of %s", lastLine, imp.file)})
		batch = batch[:0]
		return err
	}
	for {
		line, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", imp.file, err)
		}
		imp.lines++
		lastLine = line.Number
		imp.progress.tick(imp.lines, imp.bad)
		env, err := imp.envelope(line, rd.Header())
		if err != nil {
			imp.bad++
			if err := imp.deadLetter(ctx, line, err); err != nil {
				return err
			}
			continue
		}
		imp.records++
		batch = append(batch, env)
		if len(batch) == importBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

func (imp *importer) envelope(line file.Line, header []string) (crmhub.Envelope, error) {
	if line.Err != nil {
		return crmhub.Envelope{}, line.Err
	}
	var rec mapping.Record
	if line.Fields != nil {
		idx := make(map[string]int, len(header))
		for i, h := range header {
			idx[h] = i
		}
		rec = mapping.CSVRecord{Header: idx, Row: line.Fields}
	} else {
		var err error
		if rec, err = mapping.JSONRecord(line.Payload); err != nil {
			return crmhub.Envelope{}, err
		}
	}
	m, err := imp.rules.Apply(rec, imp.opts)
	if err != nil {
		return crmhub.Envelope{}, fmt.Errorf("line %d: %w", line.Number, err)
	}
	return crmhub.Envelope{Source: imp.source, SourceType: "file", Entity: imp.rules.Entity,
		ExternalID: m.ExternalID, Version: m.Version, Payload: line.Payload}, nil
}

// deadLetter keeps a bad line. Importing the same file again finds it
// there and leaves it as it is.
func (imp *importer) deadLetter(ctx context.Context, line file.Line, reason error) error {
	key := fmt.Sprintf("import/%s/%s/%d", imp.source, imp.fileID, line.Number)
	if _, err := imp.store.DeadLetterByKey(ctx, key); err == nil {
		return nil
	} else if !errors.Is(err, crmhub.ErrNotFound) {
		return err
	}
	return imp.store.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.AddDeadLetter(ctx, store.DeadLetter{Key: key, Handler: "import", Source: imp.source,
			Entity: string(imp.rules.Entity), Payload: line.Raw, Reason: reason.Error(),
			Metadata: map[string]string{"file": imp.file, "line": fmt.Sprint(line.Number)}})
		return err
	})
}

// progress shows how a long command goes (import, sync): a line
// rewritten in place on a terminal, a line every ten seconds otherwise.
type progress struct {
	w        io.Writer
	terminal bool
	start    time.Time
	last     time.Time
}

func newProgress(w io.Writer) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	now := time.Now()
	return &progress{w: w, terminal: tty, start: now, last: now}
}

func (p *progress) tick(lines, bad int) {
	if p.due() {
		p.show(fmt.Sprintf("%d lines read (%.0f/s), %d bad", lines, p.rate(lines), bad))
	}
}

// due says whether it is time for another progress line.
func (p *progress) due() bool {
	every := 10 * time.Second
	if p.terminal {
		every = 200 * time.Millisecond
	}
	if time.Since(p.last) < every {
		return false
	}
	p.last = time.Now()
	return true
}

// rate is n per second since the start.
func (p *progress) rate(n int) float64 { return float64(n) / time.Since(p.start).Seconds() }

func (p *progress) show(msg string) {
	if p.terminal {
		fprintf(p.w, "\r%s", msg)
	} else {
		fprintf(p.w, "%s\n", msg)
	}
}

func (p *progress) done(lines int) {
	p.finish(fmt.Sprintf("%d lines read", lines))
}

// finish ends the line rewritten in place, if one was shown.
func (p *progress) finish(what string) {
	if p.terminal && time.Since(p.start) > 200*time.Millisecond {
		fprintf(p.w, "\r%s in %s\n", what, time.Since(p.start).Round(time.Millisecond))
	}
}
