package main

import (
	"context"
	"encoding/json"
	"io"
	"text/tabwriter"

	"github.com/crmhub/crmhub/store"
)

// readStore runs fn on the store of the config, opened (and migrated)
// for the length of the call: what a command that only reads it needs.
func (g *globals) readStore(ctx context.Context, fn func(s *store.Store) error) error {
	app, err := g.open(ctx, false)
	if err != nil {
		return err
	}
	defer app.close()
	return fn(app.store)
}

// listing is how a list command prints a page of items: as JSON, or as a
// table with a line saying how to ask for the next page when this one is
// full.
type listing[T any] struct {
	empty  string              // printed instead of an empty table
	header string              // the table's header, tab-separated
	row    func(T) []any       // one row's cells
	next   func(last T) string // the command that lists the next page
}

// print writes items to w as JSON when asJSON, else as a table. full
// says the page holds as many items as were asked for.
func (l listing[T]) print(w io.Writer, items []T, asJSON, full bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(items)
	}
	if len(items) == 0 {
		fprintf(w, "%s\n", l.empty)
		return nil
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fprintf(tw, "%s\n", l.header)
	for _, it := range items {
		for i, cell := range l.row(it) {
			if i > 0 {
				fprintf(tw, "\t")
			}
			fprintf(tw, "%v", cell)
		}
		fprintf(tw, "\n")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if full && l.next != nil {
		fprintf(w, "more: %s\n", l.next(items[len(items)-1]))
	}
	return nil
}
