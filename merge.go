package crmhub

import "time"

// Merge records that several profiles became one: which ones, why, on what
// evidence and on whose say. A merge can be undone.
type Merge struct {
	ID         string     `json:"id"`
	SurvivorID string     `json:"survivor_id"`
	MergedIDs  []string   `json:"merged_ids"`
	Rule       string     `json:"rule"` // e.g. "email", "phone", "fuzzy", "manual"
	Score      float64    `json:"score,omitempty"`
	Evidence   []Evidence `json:"evidence,omitempty"`
	Actor      string     `json:"actor"` // "system" or the operator who forced it
	// Reason is why the operator forced the merge, in their words.
	Reason    string     `json:"reason,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UndoneAt  *time.Time `json:"undone_at,omitempty"`
	UndoneBy  string     `json:"undone_by,omitempty"`
	// Sides lists, per profile that took part, the records
	// (source:external_id) it held when the merge happened, so that the
	// merge can be undone.
	Sides map[string][]string `json:"sides,omitempty"`
}

// Evidence is one compared field behind a merge decision.
type Evidence struct {
	Field  string  `json:"field"`
	Left   string  `json:"left,omitempty"`
	Right  string  `json:"right,omitempty"`
	Score  float64 `json:"score"`
	Weight float64 `json:"weight,omitempty"`
}

// Undone reports whether the merge was undone.
func (m *Merge) Undone() bool { return m.UndoneAt != nil }

// Validate checks that the merge names a survivor, at least one merged
// profile that is not the survivor, a rule and an actor. Errors wrap
// ErrInvalid.
func (m *Merge) Validate() error {
	if !HasIDPrefix(m.ID, MergeIDPrefix) {
		return invalidf("merge id %q: want %s_<ulid>", m.ID, MergeIDPrefix)
	}
	if m.SurvivorID == "" || len(m.MergedIDs) == 0 {
		return invalidf("merge %s: needs a survivor and merged profiles", m.ID)
	}
	for _, id := range m.MergedIDs {
		if id == m.SurvivorID {
			return invalidf("merge %s: profile %s cannot merge into itself", m.ID, id)
		}
	}
	if m.Rule == "" || m.Actor == "" {
		return invalidf("merge %s: needs a rule and an actor", m.ID)
	}
	return nil
}
