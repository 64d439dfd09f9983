package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub/connectors/sample"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/store"
)

// demoConfig is the configuration `crmhub demo` writes into its directory:
// the embedded default, with no secrets and no network.
const demoConfig = `# Written by 'crmhub demo'. Edit freely: the demo does not overwrite it.
store:
  driver: sqlite
  dsn: crmhub.db          # next to this file
bus:
  driver: sqlite
http:
  listen: "127.0.0.1:8080"
log:
  level: info
  format: text
sources:
  - name: sample
    type: sample          # realistic Shopify, ERP, Meta and GA4 records, offline
    seed: 1
identity:
  match:
    - email
    - phone
    - {fuzzy: [name, birthday, address, email, phone], threshold: 0.95}
`

func newDemoCmd(g *globals) *cobra.Command {
	var (
		dir    string
		seed   uint64
		people int
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run crmhub on its embedded default with realistic sample data, offline",
		Long: `Create a demo directory (./crmhub-demo by default) with a config and an embedded SQLite
store, and feed it realistic Shopify-, ERP-, Meta- and GA4-shaped records: the same people in
several sources, Latin, Arabic and Persian spellings, Eastern Arabic digits in phone numbers,
and a few malformed records. Needs no config, no server and no network.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if people <= 0 {
				return usagef("--people must be at least 1")
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return fmt.Errorf("create demo directory: %w", err)
			}
			path := filepath.Join(dir, "crmhub.yaml")
			if err := writeIfMissing(path, []byte(demoConfig)); err != nil {
				return err
			}
			g.configPath = path
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			app, err := g.open(ctx, true)
			if err != nil {
				return err
			}
			defer app.close()
			s := app.store

			envs := sample.Generate(seed, people)
			perSource := map[string]int{}
			for _, e := range envs {
				perSource[e.Source]++
			}
			before, err := s.Counts(ctx)
			if err != nil {
				return err
			}
			// The sample records enter the way every source's records do:
			// landed in the raw table and published on the bus, in one
			// transaction.
			base, err := settledNow(ctx, s)
			if err != nil {
				return err
			}
			in := pipeline.NewIngester(s, app.bus, true)
			if err := in.Ingest(ctx, envs, &pipeline.Checkpoint{Source: "sample", Stream: "records",
				Cursor: fmt.Sprintf("seed=%d people=%d", seed, people)}); err != nil {
				return err
			}
			after, err := s.Counts(ctx)
			if err != nil {
				return err
			}
			// The map and persist stages turn the new records into profiles.
			sources, err := mapSources(app.cfg)
			if err != nil {
				return err
			}
			if err := addSampleSources(sources); err != nil {
				return err
			}
			if landed := after.RawRecords - before.RawRecords; landed > 0 {
				if err := app.runUntil(ctx, app.newStages(sources), base.until(landed)); err != nil {
					return fmt.Errorf("resolve the sample records: %w", err)
				}
			}
			resolved, err := s.Counts(ctx)
			if err != nil {
				return err
			}
			fprintf(g.stdout, "crmhub demo in %s (seed %d, %d people)\n\n", dir, seed, people)
			fprintf(g.stdout, "ingested %d records, %d new to the raw table (landing the same record twice is a no-op),\n"+
				"each published on %s for the pipeline:\n", len(envs), after.RawRecords-before.RawRecords, pipeline.TopicRaw)
			names := make([]string, 0, len(perSource))
			for n := range perSource {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				fprintf(g.stdout, "  %-11s %-8s %4d\n", n, sample.SourceTypes[n], perSource[n])
			}
			fprintf(g.stdout, "\nresolved into %d profiles (%d merges); %d records in dead letters (crmhub dlq list -c %s)\n\n",
				resolved.Customers, resolved.Merges, resolved.DeadLetters, path)
			if err := printExampleProfile(ctx, g, s); err != nil {
				return err
			}
			rep, err := buildStatus(ctx, cfg, s)
			if err != nil {
				return err
			}
			printStatus(g.stdout, rep)
			fprintf(g.stdout, "\nnext: crmhub export customers -c %s\n", path)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "crmhub-demo", "directory for the demo's config and store")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed of the sample data; the same seed gives the same records")
	cmd.Flags().IntVar(&people, "people", 200, "how many people the sample data describes")
	return cmd
}

// writeIfMissing writes data to path unless the file exists.
func writeIfMissing(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// printExampleProfile shows the profile with the most source records: one
// person as several systems spell them.
func printExampleProfile(ctx context.Context, g *globals, s *store.Store) error {
	var id string
	err := s.ReadDB().QueryRowContext(ctx, `SELECT customer_id FROM identities GROUP BY customer_id
		ORDER BY COUNT(*) DESC, customer_id LIMIT 1`).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find an example profile: %w", err)
	}
	c, err := s.Customer(ctx, id)
	if err != nil {
		return err
	}
	fprintf(g.stdout, "for example, %s: %s %s, %s, %s\n", c.ID, c.FirstName, c.LastName,
		strings.Join(c.Emails, " "), strings.Join(c.Phones, " "))
	recs, err := s.IdentityRecordsOfCustomers(ctx, []string{id})
	if err != nil {
		return err
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Source < recs[j].Source })
	for _, r := range recs {
		var rec struct {
			Fields map[string][]string `json:"fields"`
		}
		if err := json.Unmarshal(r.Doc, &rec); err != nil {
			return fmt.Errorf("read record %s: %w", r.RecordKey, err)
		}
		name := strings.TrimSpace(first(rec.Fields["first_name"]) + " " + first(rec.Fields["last_name"]))
		fprintf(g.stdout, "  %-11s %-20s %s\n", r.Source, r.ExternalID, name)
	}
	fprintf(g.stdout, "\n")
	return nil
}

func first(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	return xs[0]
}
