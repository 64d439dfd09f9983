package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/privacy"
	"github.com/crmhub/crmhub/store"
)

func newPrivacyCmd(g *globals) *cobra.Command {
	return groupCmd("privacy", "Export or erase everything held on a person; list privacy requests and erasure tasks",
		`Carry out privacy requests as an operator, the same way crmhub carries out the privacy
webhooks of a Shopify source (customers/data_request, customers/redact, shop/redact).

An erasure deletes the person from every table (profiles, records, orders, events, raw
records, dead letters, merges, the bus messages kept in the store) and keeps only keyed
hashes of their emails, phones and records, so that a later sync or webhook does not bring
them back. It leaves an erasure task for every configured destination. It cannot be undone.`,
		newPrivacyRedactCmd(g), newPrivacyExportCmd(g), newPrivacyRequestsCmd(g), newPrivacyTasksCmd(g))
}

// personFlags name a person on the command line.
type personFlags struct {
	emails, phones, customers, records []string
	source                             string
}

func (p *personFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&p.emails, "email", nil, "the person's email (repeatable)")
	cmd.Flags().StringArrayVar(&p.phones, "phone", nil, "the person's phone; without +country code, --source's default_region applies (repeatable)")
	cmd.Flags().StringArrayVar(&p.customers, "customer", nil, "a profile id, cus_... (repeatable)")
	cmd.Flags().StringArrayVar(&p.records, "record", nil, "a record of a source, SOURCE:ID (repeatable)")
	cmd.Flags().StringVar(&p.source, "source", "", "the source whose default_region reads --phone")
}

// request turns the flags into a request of kind. Records of several
// sources become one request per source, since a request's customer ids
// belong to one source.
func (p *personFlags) requests(kind crmhub.PrivacyKind) ([]crmhub.PrivacyRequest, error) {
	if len(p.emails)+len(p.phones)+len(p.customers)+len(p.records) == 0 {
		return nil, usagef("name the person with --email, --phone, --customer or --record")
	}
	first := crmhub.PrivacyRequest{Kind: kind, Source: p.source, Emails: p.emails, Phones: p.phones, Profiles: p.customers}
	bySource := map[string][]string{}
	var order []string
	for _, r := range p.records {
		src, id, ok := strings.Cut(r, ":")
		if !ok || src == "" || id == "" {
			return nil, usagef("--record %q: want SOURCE:ID", r)
		}
		if _, seen := bySource[src]; !seen {
			order = append(order, src)
		}
		bySource[src] = append(bySource[src], id)
	}
	out := []crmhub.PrivacyRequest{first}
	for i, src := range order {
		if i == 0 && (first.Source == "" || first.Source == src) {
			out[0].Source, out[0].CustomerIDs = src, bySource[src]
			continue
		}
		out = append(out, crmhub.PrivacyRequest{Kind: kind, Source: src, CustomerIDs: bySource[src]})
	}
	for _, r := range out {
		if err := r.Validate(); err != nil {
			return nil, usageError{err}
		}
	}
	return out, nil
}

func newPrivacyRedactCmd(g *globals) *cobra.Command {
	var (
		p      personFlags
		actor  string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "redact",
		Short: "Erase a person from every table and keep them from coming back",
		Long: `Erase the person named by --email, --phone, --customer or --record from every table: the
profiles that hold one of those (and the profiles merged into them), their records in every
source, orders, events, merges, raw records and dead letters that concern them, and the bus
messages the store keeps. Only keyed hashes of their emails, phones and records remain, so
that records of them arriving later are dropped. Every configured destination gets an erasure
task. Profiles that only share a name are not touched. This cannot be undone.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			reqs, err := p.requests(crmhub.PrivacyRedact)
			if err != nil {
				return err
			}
			return g.runPrivacy(cmd.Context(), reqs, operator(actor), func(app *app, rec store.PrivacyRequest) error {
				return printRequest(g, rec, asJSON)
			})
		},
	}
	p.add(cmd)
	cmd.Flags().StringVar(&actor, "actor", "", "who asks for the erasure, for the request log (default cli:$USER)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the request and its summary as JSON")
	return cmd
}

func newPrivacyExportCmd(g *globals) *cobra.Command {
	var (
		p         personFlags
		actor     string
		requestID string
		out       string
	)
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export everything held on a person as JSON, or fetch the export of a data request",
		Long: `Gather everything crmhub holds on the person named by --email, --phone, --customer or
--record (profiles with the source of every field, source records, merges, orders, events,
raw records, dead letters) into one JSON document, recorded as a data request. With
--request, print the export a data request made before, such as one a Shopify
customers/data_request webhook asked for (see crmhub privacy requests).

The export holds personal data: -o writes the file readable by its owner only.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if requestID != "" {
				if len(p.emails)+len(p.phones)+len(p.customers)+len(p.records) > 0 {
					return usagef("give --request or a person, not both")
				}
				return g.printStoredExport(cmd.Context(), requestID, out)
			}
			reqs, err := p.requests(crmhub.PrivacyDataRequest)
			if err != nil {
				return err
			}
			if len(reqs) > 1 {
				return usagef("export takes records of one source at a time")
			}
			return g.runPrivacy(cmd.Context(), reqs, operator(actor), func(app *app, rec store.PrivacyRequest) error {
				return writeExport(g, rec, out)
			})
		},
	}
	p.add(cmd)
	cmd.Flags().StringVar(&actor, "actor", "", "who asks for the export, for the request log (default cli:$USER)")
	cmd.Flags().StringVar(&requestID, "request", "", "print the stored export of this data request (prv_...)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to this file instead of standard output")
	return cmd
}

// runPrivacy carries out requests with the privacy service the pipeline
// uses, each under an origin of its own, and hands each outcome to done.
func (g *globals) runPrivacy(ctx context.Context, reqs []crmhub.PrivacyRequest, actor string,
	done func(*app, store.PrivacyRequest) error) error {
	// The bus is opened so that the erasure reaches the messages it keeps
	// in the store.
	app, err := g.open(ctx, true)
	if err != nil {
		return err
	}
	defer app.close()
	svc := app.privacy()
	for _, req := range reqs {
		rec, err := svc.Handle(ctx, "cli:"+crmhub.NewID(crmhub.PrivacyIDPrefix), actor, req)
		if errors.Is(err, crmhub.ErrNotFound) {
			return usageError{fmt.Errorf("%w; see crmhub export customers", err)}
		}
		if err != nil {
			return err
		}
		if err := done(app, rec); err != nil {
			return err
		}
	}
	return nil
}

func printRequest(g *globals, rec store.PrivacyRequest, asJSON bool) error {
	sum, err := privacy.ReadSummary(rec)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(g.stdout).Encode(struct {
			store.PrivacyRequest
			Summary privacy.Summary `json:"summary"`
		}{rec, sum})
	}
	var rows int64
	for _, n := range sum.Rows {
		rows += n
	}
	fprintf(g.stdout, "%s %s %s: %s, %d rows, %d bus messages; %d suppression entries; %d erasure tasks\n",
		rec.ID, rec.Kind, rec.Status, countOf(len(sum.Profiles), "profile", "profiles"), rows, sum.Messages,
		sum.Suppressions, sum.ErasureTasks)
	if len(sum.Profiles) > 0 {
		fprintf(g.stdout, "profiles: %s\n", strings.Join(sum.Profiles, " "))
	}
	return nil
}

func countOf(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// writeExport writes the export stored with a request, indented.
func writeExport(g *globals, rec store.PrivacyRequest, path string) error {
	if len(rec.Export) == 0 {
		return usagef("privacy request %s has no export (kind %s, status %s)", rec.ID, rec.Kind, rec.Status)
	}
	var b bytes.Buffer
	if err := json.Indent(&b, rec.Export, "", "  "); err != nil {
		return fmt.Errorf("read export of %s: %w", rec.ID, err)
	}
	b.WriteByte('\n')
	o, err := createOutput(path, g.stdout)
	if err != nil {
		return err
	}
	defer o.abort()
	if _, err := o.w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write %s: %w", o.name, err)
	}
	if err := o.commit(); err != nil {
		return err
	}
	if o.tmp != nil {
		fprintf(g.stderr, "export of %s written to %s\n", rec.ID, path)
	}
	return nil
}

func (g *globals) printStoredExport(ctx context.Context, id, path string) error {
	app, err := g.open(ctx, false)
	if err != nil {
		return err
	}
	defer app.close()
	rec, err := app.store.PrivacyRequest(ctx, id)
	if errors.Is(err, crmhub.ErrNotFound) {
		return usageError{fmt.Errorf("%w; see crmhub privacy requests", err)}
	}
	if err != nil {
		return err
	}
	return writeExport(g, rec, path)
}

func newPrivacyRequestsCmd(g *globals) *cobra.Command {
	var (
		after  string
		limit  int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "requests",
		Short: "List privacy requests with their status, oldest first",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.readStore(cmd.Context(), func(s *store.Store) error {
				reqs, err := s.PrivacyRequests(cmd.Context(), after, limit)
				if err != nil {
					return err
				}
				return privacyListing.print(g.stdout, reqs, asJSON, len(reqs) == limit)
			})
		},
	}
	cmd.Flags().StringVar(&after, "after", "", "list requests with an id greater than this")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func newPrivacyTasksCmd(g *globals) *cobra.Command {
	var (
		destination, status string
		after               int64
		limit               int
	)
	cmd := &cobra.Command{
		Use:   "tasks",
		Short: "List erasure tasks left for destinations (NDJSON)",
		Long: `List the erasure tasks that erasures left for the configured destinations, one JSON
object per line: the destination, the erased profile's id, and what else the destination
may find the person by (source identities, SHA-256 of normalized emails and of phone
digits). A destination carries out its pending tasks in the system it pushes to.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.readStore(cmd.Context(), func(s *store.Store) error {
				tasks, err := s.ErasureTasks(cmd.Context(), destination, status, after, limit)
				if err != nil {
					return err
				}
				enc := json.NewEncoder(g.stdout)
				for _, t := range tasks {
					line := struct {
						store.ErasureTask
						Subject json.RawMessage `json:"subject,omitempty"`
					}{t, t.Subject}
					if err := enc.Encode(line); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&destination, "destination", "", "only this destination's tasks")
	cmd.Flags().StringVar(&status, "status", store.ErasurePending, "only tasks in this status (pending, done; \"\" for all)")
	cmd.Flags().Int64Var(&after, "after", 0, "list tasks with an id greater than this")
	cmd.Flags().IntVar(&limit, "limit", 500, "at most this many")
	return cmd
}

// privacyListing is how `crmhub privacy requests` prints requests.
var privacyListing = listing[store.PrivacyRequest]{
	empty:  "no privacy requests",
	header: "ID\tKIND\tSOURCE\tSTATUS\tRECEIVED\tPROFILES\tERROR",
	row: func(r store.PrivacyRequest) []any {
		sum, _ := privacy.ReadSummary(r)
		return []any{r.ID, r.Kind, orDash(r.Source), r.Status, r.CreatedAt.Format(time.RFC3339), len(sum.Profiles),
			abbreviate(firstLine(r.Error), 60)}
	},
	next: func(r store.PrivacyRequest) string { return "crmhub privacy requests --after " + r.ID },
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
