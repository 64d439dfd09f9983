package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/store"
)

func newDLQCmd(g *globals) *cobra.Command {
	return groupCmd("dlq", "Inspect and replay dead letters: records a pipeline stage gave up on",
		`A record that a pipeline stage cannot process (a malformed payload, a failure that outlasted
every retry) is kept in the dead-letter table with the reason, the stage and the number of
attempts; the records behind it keep flowing. Fix the cause (the mapping, the config, the
outage), then replay: the record goes back on the topic it failed on.`,
		newDLQListCmd(g), newDLQShowCmd(g), newDLQReplayCmd(g))
}

func newDLQListCmd(g *globals) *cobra.Command {
	var (
		after, limit int64
		asJSON       bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List dead letters, oldest first",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.readStore(cmd.Context(), func(s *store.Store) error {
				dls, err := s.DeadLetters(cmd.Context(), after, int(limit))
				if err != nil {
					return err
				}
				return dlqListing.print(g.stdout, dls, asJSON, int64(len(dls)) == limit)
			})
		},
	}
	cmd.Flags().Int64Var(&after, "after", 0, "list dead letters with an id greater than this")
	cmd.Flags().Int64Var(&limit, "limit", 50, "at most this many")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

// dlqListing is how `crmhub dlq list` prints dead letters.
var dlqListing = listing[store.DeadLetter]{
	empty:  "no dead letters",
	header: "ID\tSTAGE\tTOPIC\tRECORD\tATTEMPTS\tLAST SEEN\tREASON",
	row: func(dl store.DeadLetter) []any {
		return []any{dl.ID, dl.Handler, dl.Topic, dl.Source + "/" + string(dl.Entity) + "/" + dl.ExternalID, dl.Attempts,
			dl.LastSeen.Format(time.RFC3339), abbreviate(firstLine(dl.Reason), 60)}
	},
	next: func(dl store.DeadLetter) string { return fmt.Sprintf("crmhub dlq list --after %d", dl.ID) },
}

func newDLQShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show one dead letter with its reason, metadata and payload",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			app, err := g.open(ctx, false)
			if err != nil {
				return err
			}
			defer app.close()
			dl, err := app.store.DeadLetter(ctx, id)
			if err != nil {
				return notFoundIsUsage(err)
			}
			w := g.stdout
			fprintf(w, "id          %d\nstage       %s\ntopic       %s\nrecord      %s/%s/%s\n", dl.ID, dl.Handler, dl.Topic,
				dl.Source, dl.Entity, dl.ExternalID)
			fprintf(w, "attempts    %d\nfirst seen  %s\nlast seen   %s\nreason      %s\n", dl.Attempts,
				dl.FirstSeen.Format(time.RFC3339), dl.LastSeen.Format(time.RFC3339), dl.Reason)
			meta, _ := json.MarshalIndent(dl.Metadata, "            ", "  ")
			fprintf(w, "metadata    %s\n", meta)
			if utf8.Valid(dl.Payload) {
				fprintf(w, "payload     %s\n", dl.Payload)
			} else {
				fprintf(w, "payload     (%d bytes, not text)\n", len(dl.Payload))
			}
			return nil
		},
	}
}

func newDLQReplayCmd(g *globals) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "replay [ID...]",
		Short: "Put dead letters back on the topic they failed on, after the cause is fixed",
		Long: `Publish dead letters again on the topic they failed on and remove them once the bus has
them. A record that fails again comes back as a new dead letter. Give ids, or --all.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return usagef("give dead-letter ids or --all, not both or neither")
			}
			ids := make([]int64, 0, len(args))
			for _, a := range args {
				id, err := parseID(a)
				if err != nil {
					return err
				}
				ids = append(ids, id)
			}
			ctx := cmd.Context()
			app, err := g.open(ctx, true)
			if err != nil {
				return err
			}
			defer app.close()
			if all {
				for after := int64(0); ; {
					dls, err := app.store.DeadLetters(ctx, after, 500)
					if err != nil {
						return err
					}
					if len(dls) == 0 {
						break
					}
					for _, dl := range dls {
						ids = append(ids, dl.ID)
					}
					after = dls[len(dls)-1].ID
				}
			}
			replayed := 0
			for _, id := range ids {
				if err := pipeline.Replay(ctx, app.store, app.bus, id); err != nil {
					fprintf(g.stdout, "replayed %d of %d\n", replayed, len(ids))
					return notFoundIsUsage(err)
				}
				replayed++
			}
			fprintf(g.stdout, "replayed %d dead letters\n", replayed)
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "replay every dead letter")
	return cmd
}

func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usagef("%q is not a dead-letter id; see crmhub dlq list", s)
	}
	return id, nil
}

// notFoundIsUsage reports an unknown id as the user's mistake.
func notFoundIsUsage(err error) error {
	if errors.Is(err, crmhub.ErrNotFound) {
		return usageError{fmt.Errorf("%w; see crmhub dlq list", err)}
	}
	return err
}

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}
