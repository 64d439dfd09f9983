package identity

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/store"
)

// ErrNoSides reports a merge whose sides were not recorded, which cannot
// be undone as a whole.
var ErrNoSides = errors.New("the merge does not record which records each side held")

// Unmerge undoes a merge: the records each side held when it happened are
// put on the sides of a new split, so they never share a profile again
// (not after new records arrive, not after a rebuild), and the profiles
// they are in now are recomputed. Records that joined later go wherever
// their links take them.
func (s *Resolver) Unmerge(ctx context.Context, tx *store.Tx, mergeID, actor string) (Outcome, error) {
	m, err := tx.Merge(ctx, mergeID)
	if err != nil {
		return Outcome{}, err
	}
	if m.Undone() {
		return Outcome{}, fmt.Errorf("merge %s was undone on %s by %s: %w", m.ID, m.UndoneAt.Format("2006-01-02"), m.UndoneBy, crmhub.ErrConflict)
	}
	if len(m.Sides) < 2 {
		return Outcome{}, fmt.Errorf("merge %s: %w; split records off with their keys instead", m.ID, ErrNoSides)
	}
	var sides [][]store.RecordKey
	for _, id := range slices.Sorted(maps.Keys(m.Sides)) {
		var side []store.RecordKey
		for _, k := range m.Sides[id] {
			if key, ok := ParseKey(k); ok {
				side = append(side, store.RecordKey(key))
			}
		}
		sides = append(sides, side)
	}
	out, err := s.split(ctx, tx, sides, actor)
	if err != nil {
		return Outcome{}, err
	}
	if err := tx.UndoMerge(ctx, m.ID, actor); err != nil {
		return Outcome{}, err
	}
	return out, nil
}

// SplitOff takes records out of their profile: they and the rest of the
// profile never share one again.
func (s *Resolver) SplitOff(ctx context.Context, tx *store.Tx, keys []Key, actor string) (Outcome, error) {
	if len(keys) == 0 {
		return Outcome{}, fmt.Errorf("split off: no records named: %w", crmhub.ErrInvalid)
	}
	recs, err := tx.IdentityRecords(ctx, toStoreKeys(keys))
	if err != nil {
		return Outcome{}, err
	}
	if len(recs) != len(keys) {
		return Outcome{}, fmt.Errorf("split off: %d of the %d records are not known: %w", len(keys)-len(recs), len(keys), crmhub.ErrNotFound)
	}
	profile := recs[0].CustomerID
	off := map[store.RecordKey]bool{}
	for _, r := range recs {
		if r.CustomerID != profile {
			return Outcome{}, fmt.Errorf("split off: the records belong to different profiles (%s, %s): %w", profile, r.CustomerID, crmhub.ErrInvalid)
		}
		off[r.RecordKey] = true
	}
	members, err := tx.IdentityRecordsOfCustomers(ctx, []string{profile})
	if err != nil {
		return Outcome{}, err
	}
	var rest []store.RecordKey
	for _, m := range members {
		if !off[m.RecordKey] {
			rest = append(rest, m.RecordKey)
		}
	}
	if len(rest) == 0 {
		return Outcome{}, fmt.Errorf("split off: profile %s has no other records: %w", profile, crmhub.ErrInvalid)
	}
	return s.split(ctx, tx, [][]store.RecordKey{toStoreKeys(keys), rest}, actor)
}

func (s *Resolver) split(ctx context.Context, tx *store.Tx, sides [][]store.RecordKey, actor string) (Outcome, error) {
	sp := store.Split{ID: crmhub.NewID(crmhub.SplitIDPrefix), Sides: sides}
	if err := tx.AddSplit(ctx, sp, actor); err != nil {
		return Outcome{}, err
	}
	var all []store.RecordKey
	for _, side := range sides {
		all = append(all, side...)
	}
	return s.recomputeRecords(ctx, tx, all, action{actor: actor})
}

// ForceMerge makes two profiles one on an operator's say: a link between
// a record of each that rebuild keeps, replacing any split that kept
// them apart. The merge log keeps actor and reason.
func (s *Resolver) ForceMerge(ctx context.Context, tx *store.Tx, a, b, actor, reason string) (Outcome, error) {
	var recs [2][]store.IdentityRecord
	for i, id := range []string{a, b} {
		id, err := survivorOf(ctx, tx, id)
		if err != nil {
			return Outcome{}, err
		}
		if recs[i], err = tx.IdentityRecordsOfCustomers(ctx, []string{id}); err != nil {
			return Outcome{}, err
		}
		if len(recs[i]) == 0 {
			return Outcome{}, fmt.Errorf("profile %s has no records: %w", id, crmhub.ErrNotFound)
		}
		slices.SortFunc(recs[i], func(x, y store.IdentityRecord) int { return Key(x.RecordKey).Compare(Key(y.RecordKey)) })
	}
	if recs[0][0].CustomerID == recs[1][0].CustomerID {
		return Outcome{CustomerID: recs[0][0].CustomerID}, nil
	}
	if recs[0][0].Tenant != recs[1][0].Tenant {
		return Outcome{}, fmt.Errorf("profiles %s and %s belong to different tenants (%q, %q), which never merge: %w",
			a, b, recs[0][0].Tenant, recs[1][0].Tenant, crmhub.ErrConflict)
	}
	side := map[store.RecordKey]int{}
	var all []store.RecordKey
	for i := range recs {
		for _, r := range recs[i] {
			side[r.RecordKey] = i + 1
			all = append(all, r.RecordKey)
		}
	}
	splits, err := tx.SplitsOf(ctx, all)
	if err != nil {
		return Outcome{}, err
	}
	var drop []string
	for _, sp := range splits {
		seen := map[int]int{} // profile -> split side
		for si, ks := range sp.Sides {
			for _, k := range ks {
				if p := side[k]; p != 0 {
					seen[p] = si + 1
				}
			}
		}
		if seen[1] != 0 && seen[2] != 0 && seen[1] != seen[2] {
			drop = append(drop, sp.ID)
		}
	}
	if err := tx.DeleteSplits(ctx, drop); err != nil {
		return Outcome{}, err
	}
	if err := tx.AddLink(ctx, store.Link{A: recs[0][0].RecordKey, B: recs[1][0].RecordKey}, actor); err != nil {
		return Outcome{}, err
	}
	out, err := s.recomputeRecords(ctx, tx, all, action{actor: actor, rule: RuleManual, reason: reason})
	if err != nil {
		return Outcome{}, err
	}
	out.CustomerID = out.Changed[0]
	for _, m := range out.Merges {
		out.CustomerID = m.SurvivorID
	}
	return out, nil
}

// survivorOf follows tombstones to the profile a merged one lives on in.
func survivorOf(ctx context.Context, tx *store.Tx, id string) (string, error) {
	for range 100 {
		c, err := tx.Customer(ctx, id)
		if err != nil {
			return "", err
		}
		if c.MergedInto == "" {
			return id, nil
		}
		id = c.MergedInto
	}
	return "", fmt.Errorf("profile %s: merged-into chain too long", id)
}

// recomputeRecords recomputes the profiles the records are in, with the
// whole connected part of the graph around them.
func (s *Resolver) recomputeRecords(ctx context.Context, tx *store.Tx, keys []store.RecordKey, act action) (Outcome, error) {
	recs, err := tx.IdentityRecords(ctx, keys)
	if err != nil {
		return Outcome{}, err
	}
	ids := map[string]bool{}
	for _, r := range recs {
		if r.CustomerID != "" {
			ids[r.CustomerID] = true
		}
	}
	region, err := s.profileRecords(ctx, tx, slices.Sorted(maps.Keys(ids)), nil)
	if err != nil {
		return Outcome{}, err
	}
	// The records just constrained are not marked in the loaded nodes
	// when the split was added in this transaction before they were read;
	// recompute treats the region as constrained either way.
	return s.recompute(ctx, tx, nil, region, true, act)
}

func toStoreKeys(keys []Key) []store.RecordKey {
	out := make([]store.RecordKey, len(keys))
	for i, k := range keys {
		out[i] = store.RecordKey(k)
	}
	return out
}
