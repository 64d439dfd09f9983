// Package identity decides which source records describe the same person
// and assembles one profile from each such group.
//
// The records are the nodes of a graph. Two records are linked when a
// deterministic rule says so (the same normalized email or phone, unless
// the key is blocked, shared by too many different people, or the two
// names clearly disagree) or when the Fellegi–Sunter score of their names,
// birthdays, addresses, emails and phones reaches a fuzzy rule's
// threshold. Candidates for the fuzzy comparison come from blocking keys,
// so a record is only compared with the few records that share one.
// Operators add edges (a forced merge) and constraints (an unmerge: these
// groups of records never share a profile).
//
// A profile is a connected component of that graph. Components that hold
// no constraint are plain connected components, which do not depend on the
// order in which records arrived. A component with a constraint is split
// by a greedy pass over its edges in a fixed order (forced first, then by
// score, then by record key), so it too is a function of the records and
// constraints alone. The incremental resolver recomputes exactly the
// components a change touches; rebuild recomputes all of them; both call
// the same functions and reach the same profiles.
package identity
