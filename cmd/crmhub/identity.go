package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/config"
	"github.com/crmhub/crmhub/pipeline"
	"github.com/crmhub/crmhub/pipeline/identity"
	"github.com/crmhub/crmhub/pipeline/identity/evaluate"
	"github.com/crmhub/crmhub/store"
)

// operator names who runs an identity command, for the merge log.
func operator(flag string) string {
	if flag != "" {
		return flag
	}
	if u := os.Getenv("USER"); u != "" {
		return "cli:" + u
	}
	return "cli"
}

func newMergeCmd(g *globals) *cobra.Command {
	var actor, reason string
	cmd := &cobra.Command{
		Use:   "merge PROFILE PROFILE",
		Short: "Force two profiles into one",
		Long: `Merge two profiles on an operator's say, whatever the rules think. The merge is kept as
a link between a record of each, so 'crmhub rebuild' keeps it, and it replaces an earlier
unmerge that kept the two apart. Profiles of different tenants never merge.`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.identityOp(cmd.Context(), func(ctx context.Context, res *identity.Resolver, tx *store.Tx) (identity.Outcome, error) {
				return res.ForceMerge(ctx, tx, args[0], args[1], operator(actor), reason)
			})
		},
	}
	cmd.Flags().StringVar(&actor, "actor", "", "who asks for the merge, for the merge log (default cli:$USER)")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the merge log")
	return cmd
}

func newUnmergeCmd(g *globals) *cobra.Command {
	var actor, mergeID string
	var records []string
	cmd := &cobra.Command{
		Use:   "unmerge PROFILE",
		Short: "Split a profile back into what its records support",
		Long: `Undo a merge of PROFILE: its latest one, or the one named with --merge. The records each
side held when the merge happened never share a profile again, not after new records
arrive and not after 'crmhub rebuild'; records that joined later go where their links
take them. With --record, split those records off the profile instead.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.identityOp(cmd.Context(), func(ctx context.Context, res *identity.Resolver, tx *store.Tx) (identity.Outcome, error) {
				act := operator(actor)
				if len(records) > 0 {
					keys := make([]identity.Key, 0, len(records))
					for _, r := range records {
						k, ok := identity.ParseKey(r)
						if !ok {
							return identity.Outcome{}, usagef("--record %q: want SOURCE:EXTERNAL_ID", r)
						}
						keys = append(keys, k)
					}
					return res.SplitOff(ctx, tx, keys, act)
				}
				if mergeID == "" {
					latest, err := latestMerge(ctx, tx, args[0])
					if err != nil {
						return identity.Outcome{}, err
					}
					if latest == "" {
						return identity.Outcome{}, usagef("profile %s has no merge to undo; name records to split off with --record", args[0])
					}
					mergeID = latest
				}
				return res.Unmerge(ctx, tx, mergeID, act)
			})
		},
	}
	cmd.Flags().StringVar(&actor, "actor", "", "who asks for the split, for the merge log (default cli:$USER)")
	cmd.Flags().StringVar(&mergeID, "merge", "", "the merge to undo (default: the profile's latest)")
	cmd.Flags().StringArrayVar(&records, "record", nil, "split this record (SOURCE:EXTERNAL_ID) off instead; repeatable")
	return cmd
}

// identityOp runs one operator action on the identity graph in a
// transaction and prints the profiles it touched.
func (g *globals) identityOp(ctx context.Context, op identityFunc) error {
	app, err := g.open(ctx, true)
	if err != nil {
		return err
	}
	defer app.close()
	out, err := changeIdentity(ctx, app.store, pipeline.NewAnnouncer(app.bus, true), app.identityResolver(), op)
	switch {
	case errors.As(err, new(usageError)):
		return err
	case errors.Is(err, crmhub.ErrNotFound), errors.Is(err, crmhub.ErrInvalid), errors.Is(err, crmhub.ErrConflict),
		errors.Is(err, identity.ErrNoSides):
		return usageError{err}
	case err != nil:
		return err
	}
	for _, m := range out.Merges {
		fprintf(g.stdout, "merge %s: %s into %s (%s)\n", m.ID, strings.Join(m.MergedIDs, ", "), m.SurvivorID, m.Rule)
	}
	for _, id := range out.Changed {
		c, err := app.store.Customer(ctx, id)
		if err != nil {
			return err
		}
		if c.MergedInto != "" {
			fprintf(g.stdout, "%s: merged into %s\n", id, c.MergedInto)
			continue
		}
		keys := make([]string, len(c.Identities))
		for i, idn := range c.Identities {
			keys[i] = idn.Source + ":" + idn.ExternalID
		}
		fprintf(g.stdout, "%s: %d records (%s)\n", id, len(keys), strings.Join(keys, ", "))
	}
	return nil
}

// identityFunc is one operator action on the identity graph, in tx.
type identityFunc func(ctx context.Context, res *identity.Resolver, tx *store.Tx) (identity.Outcome, error)

// changeIdentity runs op with res in a unit of work that holds the
// identity lock, as the persist stage resolves records. The match index
// of an embedded store holds match keys, not which profile a record is
// in, so merges and splits leave it valid; an op run with the running
// stages' resolver uses its index instead of loading another copy. The
// profiles it changed are announced through ann, so that destinations
// hear of the merge or the split as of any change.
func changeIdentity(ctx context.Context, s *store.Store, ann *pipeline.Announcer, res *identity.Resolver, op identityFunc) (identity.Outcome, error) {
	var out identity.Outcome
	err := ann.Do(ctx, s, func(tx *store.Tx) ([]string, error) {
		if err := tx.LockIdentity(ctx); err != nil {
			return nil, err
		}
		var err error
		out, err = op(ctx, res, tx)
		return out.Changed, err
	})
	return out, err
}

// latestMerge returns the latest merge that profile id survived and that
// is not undone, or "" when there is none.
func latestMerge(ctx context.Context, tx *store.Tx, id string) (string, error) {
	merges, err := tx.MergesOf(ctx, id)
	if err != nil {
		return "", err
	}
	for _, m := range slices.Backward(merges) {
		if !m.Undone() && m.SurvivorID == id {
			return m.ID, nil
		}
	}
	return "", nil
}

func newRebuildCmd(g *globals) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "rebuild",
		Short: "Re-derive every profile from the raw landing table",
		Long: `Map the newest version of every customer record in the raw landing table again, with the
current mappings and identity rules, and resolve them into profiles from scratch. Profile
ids stay where the records agree; unmerges and forced merges are kept. Order records are
mapped and written again too (the newest version of each wins; deleted orders stay
deleted); they follow their customers' profiles. Run it after changing a mapping or the
identity rules, with the pipeline stopped. --dry-run prints how many profiles would merge
or split and changes nothing.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.runRebuild(cmd.Context(), dryRun)
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only report what would change")
	return cmd
}

func (g *globals) runRebuild(ctx context.Context, dryRun bool) error {
	app, err := g.open(ctx, false)
	if err != nil {
		return err
	}
	defer app.close()
	sources, err := mapSources(app.cfg)
	if err != nil {
		return usageError{err}
	}
	if hasSampleSource(app.cfg) {
		if err := addSampleSources(sources); err != nil {
			return err
		}
	}
	st := app.newStages(sources)
	recs, failed, err := st.RawCustomers(ctx)
	if err != nil {
		return err
	}
	res := identity.NewResolver(identity.ConfigFrom(app.cfg.Identity))
	rep, err := res.Rebuild(ctx, app.store, recs, dryRun)
	if err != nil {
		return err
	}
	verb := "rebuilt"
	if dryRun {
		verb = "dry run, nothing written"
	}
	fprintf(g.stdout, "%s: %d customer records (%d no longer map); profiles %d -> %d; %d merges absorbing %d profiles; %d profiles split; %d new profiles; %d records change profile\n",
		verb, rep.Records, failed, rep.ProfilesBefore, rep.ProfilesAfter, rep.Merges, rep.Merged, rep.Split,
		rep.Created, rep.Moved)
	// Orders find their profiles through their customers' identities, so
	// they need the mapping again but no resolving.
	orders, err := st.RebuildOrders(ctx, dryRun)
	if err != nil {
		return err
	}
	if orders.Records+orders.Deletions > 0 {
		written := "written again"
		if dryRun {
			written = "would be written again"
		}
		fprintf(g.stdout, "orders: %d order records %s (%d no longer map), %d deletions\n",
			orders.Records-orders.Failed, written, orders.Failed, orders.Deletions)
	}
	return nil
}

// hasSampleSource reports whether the config has a sample source, whose
// records come under the sample connector's own source names.
func hasSampleSource(cfg *config.Config) bool {
	for _, s := range cfg.Sources {
		if s.Type == "sample" {
			return true
		}
	}
	return false
}

func newIdentityCmd(g *globals) *cobra.Command {
	cmd := groupCmd("identity", "Measure identity resolution", "")
	var truth, source string
	var asJSON bool
	eval := &cobra.Command{
		Use:   "evaluate --truth FILE --source SOURCE",
		Short: "Score the profiles against known matches: pairwise precision, recall and F1",
		Long: `Compare which records of SOURCE share a profile with a truth file, and print pairwise
precision (the share of records put together that belong together), recall (the share of
records that belong together that were put together) and F1. The truth is a CSV file with a
header: either two columns of matching record ids (FEBRL's true pairs), or a record id column
and a cluster column named cluster, label, label_true or entity_id. Ids are the records'
external ids in SOURCE. Use it to choose thresholds on a labelled sample of your own data.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if truth == "" || source == "" {
				return usagef("--truth and --source are required")
			}
			return g.runEvaluate(cmd.Context(), truth, source, asJSON)
		},
	}
	eval.Flags().StringVar(&truth, "truth", "", "CSV file of true matches")
	eval.Flags().StringVar(&source, "source", "", "the source whose records the truth names")
	eval.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(eval)
	return cmd
}

func (g *globals) runEvaluate(ctx context.Context, truthPath, source string, asJSON bool) error {
	f, err := os.Open(truthPath)
	if err != nil {
		return usageError{fmt.Errorf("open truth: %w", err)}
	}
	defer f.Close()
	truth, _, err := evaluate.ReadTruth(f)
	if err != nil {
		return usageError{fmt.Errorf("%s: %w", truthPath, err)}
	}
	app, err := g.open(ctx, false)
	if err != nil {
		return err
	}
	defer app.close()
	assigned, err := app.store.IdentityAssignments(ctx)
	if err != nil {
		return err
	}
	groups := map[string][]string{}
	records := 0
	for k, c := range assigned {
		if k.Source == source {
			groups[c] = append(groups[c], k.ExternalID)
			records++
		}
	}
	if records == 0 {
		return usagef("the store holds no records of source %q", source)
	}
	list := make([][]string, 0, len(groups))
	for _, gr := range groups {
		list = append(list, gr)
	}
	predicted := evaluate.Pairs(list)
	s := evaluate.Compare(predicted, truth, nil)
	rep := struct {
		Source         string  `json:"source"`
		Records        int     `json:"records"`
		Profiles       int     `json:"profiles"`
		TruePairs      int     `json:"true_pairs"`
		PredictedPairs int     `json:"predicted_pairs"`
		Precision      float64 `json:"precision"`
		Recall         float64 `json:"recall"`
		F1             float64 `json:"f1"`
		evaluate.Score
	}{source, records, len(groups), len(truth), len(predicted), s.Precision(), s.Recall(), s.F1(), s}
	if asJSON {
		return json.NewEncoder(g.stdout).Encode(rep)
	}
	fprintf(g.stdout, "source %s: %d records in %d profiles; %d true pairs, %d predicted\n", source, records,
		len(groups), len(truth), len(predicted))
	fprintf(g.stdout, "precision %.4f  recall %.4f  F1 %.4f  (true positives %d, false positives %d, false negatives %d)\n",
		s.Precision(), s.Recall(), s.F1(), s.TruePositives, s.FalsePositives, s.FalseNegatives)
	return nil
}
