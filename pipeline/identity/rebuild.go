package identity

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
)

// RebuildReport says what a rebuild changed, or would change.
type RebuildReport struct {
	Records int `json:"records"`
	// ProfilesBefore and ProfilesAfter count live profiles.
	ProfilesBefore int `json:"profiles_before"`
	ProfilesAfter  int `json:"profiles_after"`
	// Merges counts profiles that would absorb others; Merged the profiles
	// absorbed.
	Merges int `json:"merges"`
	Merged int `json:"merged"`
	// Split counts profiles whose records would go to several profiles.
	Split int `json:"split"`
	// Created counts new profiles; Moved the records that change profile;
	// Forgotten the records no longer in the input.
	Created   int `json:"created"`
	Moved     int `json:"moved"`
	Forgotten int `json:"forgotten"`
}

// rebuildBatch is how many profiles one rebuild transaction writes.
const rebuildBatch = 2000

// Rebuild re-derives every profile from recs, the newest version of each
// customer record, with the current rules, splits and forced merges. It
// keeps profile ids where the records agree, writes merges to the log
// with actor "rebuild", and forgets records that are not in recs. With
// dryRun it only reports.
func (s *Resolver) Rebuild(ctx context.Context, st *store.Store, recs []Record, dryRun bool) (RebuildReport, error) {
	rep := RebuildReport{Records: len(recs)}
	slices.SortFunc(recs, func(a, b Record) int { return a.Key().Compare(b.Key()) })
	recs = slices.CompactFunc(recs, func(a, b Record) bool { return a.Key() == b.Key() })
	splits, err := st.Splits(ctx)
	if err != nil {
		return rep, err
	}
	links, err := st.Links(ctx)
	if err != nil {
		return rep, err
	}
	assigned, err := st.IdentityAssignments(ctx)
	if err != nil {
		return rep, err
	}
	constrained := map[Key]bool{}
	for _, sp := range splits {
		for _, side := range sp.Sides {
			for _, k := range side {
				constrained[Key(k)] = true
			}
		}
	}
	feats := make([]*features, len(recs))
	parallel(len(recs), func(i int) {
		feats[i] = featuresOf(&recs[i])
		feats[i].constrained = constrained[feats[i].key]
	})
	groups, edges, recKeys := s.r.groupKeys(feats, nil, convertSplits(splits), convertLinks(links))

	customers := make([]string, len(recs))
	keys := make([]Key, len(recs))
	present := make(map[store.RecordKey]bool, len(recs))
	before := map[string]bool{}
	for _, c := range assigned {
		before[c] = true
	}
	rep.ProfilesBefore = len(before)
	for i := range recs {
		keys[i] = recs[i].Key()
		customers[i] = assigned[store.RecordKey(keys[i])]
		present[store.RecordKey(keys[i])] = true
	}
	p := s.plan(customers, keys, feats, groups, edges, action{actor: "rebuild"})
	rep.ProfilesAfter, rep.Merges, rep.Split, rep.Created = len(groups), len(p.merges), p.split, p.created
	for _, m := range p.merges {
		rep.Merged += len(m.MergedIDs)
	}
	for gi, g := range groups {
		for _, i := range g {
			if customers[i] != p.ids[gi] {
				rep.Moved++
			}
		}
	}
	var gone []store.RecordKey
	for k := range assigned {
		if !present[k] {
			gone = append(gone, k)
		}
	}
	rep.Forgotten = len(gone)
	if dryRun {
		return rep, nil
	}
	return rep, s.writeRebuild(ctx, st, recs, feats, recKeys, groups, p, gone)
}

// writeRebuild writes a rebuild's outcome in units of work that are
// relaxed but for the last: its durable commit makes every earlier one
// durable too (the database writes one ordered log), without a disk flush
// per unit of work. A rebuild cut short is run again.
func (s *Resolver) writeRebuild(ctx context.Context, st *store.Store, recs []Record, feats []*features,
	recKeys [][]string, groups [][]int, p plan, gone []store.RecordKey) error {
	// The records, as mapped now; encoded on all cores.
	for start := 0; start < len(recs); start += rebuildBatch {
		end := min(start+rebuildBatch, len(recs))
		irs := make([]store.IdentityRecord, end-start)
		errs := make([]error, end-start)
		parallel(end-start, func(j int) {
			i := start + j
			r := &recs[i]
			doc, err := json.Marshal(r)
			if err != nil {
				errs[j] = fmt.Errorf("rebuild: encode record %s: %w", r.Key(), err)
				return
			}
			irs[j] = store.IdentityRecord{RecordKey: store.RecordKey(r.Key()), Tenant: r.Tenant,
				Version: r.Version, Doc: doc, Feat: feats[i].encode(), Constrained: feats[i].constrained}
		})
		if err := errors.Join(errs...); err != nil {
			return err
		}
		if err := st.InTx(ctx, func(tx *store.Tx) error {
			if st.Driver() == store.DriverSQLite {
				// Features change: in-memory match indexes load again.
				if _, err := tx.BumpIdentityGeneration(ctx); err != nil {
					return err
				}
			}
			return tx.PutIdentityRecords(ctx, irs)
		}, store.Relaxed()); err != nil {
			return fmt.Errorf("rebuild: %w", err)
		}
	}
	if err := st.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.DeleteIdentityRecords(ctx, gone); err != nil {
			return err
		}
		if st.Driver() == store.DriverSQLite {
			// The in-memory match index of every process loads again
			// from the records just written.
			_, err := tx.BumpIdentityGeneration(ctx)
			return err
		}
		return tx.ReplaceIdentityKeys(ctx)
	}); err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	if st.Driver() == store.DriverPostgres {
		if err := s.writeKeys(ctx, st, recs, recKeys); err != nil {
			return err
		}
	}
	// The profiles, assembled on all cores.
	for start := 0; start < len(groups); start += rebuildBatch {
		chunk := groups[start:min(start+rebuildBatch, len(groups))]
		cs := make([]crmhub.Customer, len(chunk))
		parallel(len(chunk), func(ci int) {
			rs := make([]Record, len(chunk[ci]))
			for j, i := range chunk[ci] {
				rs[j] = recs[i]
			}
			cs[ci] = s.r.cfg.Survivorship.Profile(p.ids[start+ci], rs)
			cs[ci].UpdatedAt = time.Time{}
		})
		if err := st.InTx(ctx, func(tx *store.Tx) error { return tx.UpsertCustomers(ctx, cs) }, store.Relaxed()); err != nil {
			return fmt.Errorf("rebuild: %w", err)
		}
	}
	return st.InTx(ctx, func(tx *store.Tx) error {
		var cs []crmhub.Customer
		for _, t := range p.tombstones {
			cs = append(cs, crmhub.Customer{ID: t.id, MergedInto: t.into})
		}
		for start := 0; start < len(cs); start += rebuildBatch {
			if err := tx.UpsertCustomers(ctx, cs[start:min(start+rebuildBatch, len(cs))]); err != nil {
				return err
			}
		}
		for _, m := range p.merges {
			if err := tx.RecordMerge(ctx, m); err != nil {
				return err
			}
		}
		return nil
	})
}

// writeKeys writes the match keys of a rebuild to the identity_keys
// table, in index order: sorted inserts append to the B-tree instead of
// splitting pages all over it.
func (s *Resolver) writeKeys(ctx context.Context, st *store.Store, recs []Record, recKeys [][]string) error {
	rids, err := st.IdentityRIDs(ctx)
	if err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	rows := make([][]store.KeyRow, len(recs))
	parallel(len(recs), func(i int) {
		rid := rids[store.RecordKey(recs[i].Key())]
		for _, k := range recKeys[i] {
			rows[i] = append(rows[i], store.KeyRow{Key: hashKey(k), RID: rid})
		}
	})
	var all []store.KeyRow
	for _, r := range rows {
		all = append(all, r...)
	}
	rows = nil
	slices.SortFunc(all, func(a, b store.KeyRow) int {
		if c := cmp.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return cmp.Compare(a.RID, b.RID)
	})
	const keyBatch = 50_000
	for start := 0; start < len(all); start += keyBatch {
		chunk := all[start:min(start+keyBatch, len(all))]
		if err := st.InTx(ctx, func(tx *store.Tx) error { return tx.AddIdentityKeys(ctx, chunk) }, store.Relaxed()); err != nil {
			return fmt.Errorf("rebuild: %w", err)
		}
	}
	return nil
}
