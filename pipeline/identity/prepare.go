package identity

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Prepared is a record made ready for ApplyPrepared outside any unit of
// work: its match features and keys, its document, and its comparisons
// with the candidates the match index held when it was prepared. Units of
// work that resolve records are serial (one writer on SQLite, a lock on
// PostgreSQL); preparing the next records while one runs is what keeps the
// other cores busy.
type Prepared struct {
	rec  Record
	feat *features
	keys []string
	doc  []byte
	// pre holds comparisons with candidates by record number, each valid
	// while the candidate's entry in the match index is the one compared.
	pre map[int64]verdict
}

// Record returns the record p was prepared from.
func (p *Prepared) Record() Record { return p.rec }

// Prepare makes records ready for ApplyPrepared. It needs no unit of work
// and may run while one writes: a candidate that changes or appears before
// the records are applied is compared again then.
//
// All callers together prepare on one core fewer than the process has:
// the unit of work is what limits throughput, and Go schedules goroutines
// without priorities, so a writer sharing every core with preparation
// would get only part of one.
func (s *Resolver) Prepare(recs []Record) ([]*Prepared, error) {
	out := make([]*Prepared, len(recs))
	errs := make([]error, len(recs))
	parallel(len(recs), func(i int) {
		s.preparing <- struct{}{}
		out[i], errs[i] = s.prepare(recs[i])
		<-s.preparing
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Resolver) prepare(r Record) (*Prepared, error) {
	p := &Prepared{rec: r}
	doc, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode record %s: %w", r.Key(), err)
	}
	p.doc = doc
	p.feat = featuresOf(&p.rec)
	p.keys = keysOf(p.feat, s.r.blocked)
	cands := s.mem.candidates(hashKeys(p.keys), s.r.cfg.MaxBlockSize)
	if len(cands) == 0 {
		return p, nil
	}
	p.pre = make(map[int64]verdict, len(cands))
	var cheap features
	for rid, rec := range cands {
		key, feat, ok := splitRec(rec)
		if !ok || !decodeBound(feat, key, &cheap) || key == p.feat.key {
			// The record's own stored version is no candidate, and an
			// entry that does not decode is reported by the unit of work.
			continue
		}
		// Most candidates share a blocking key and little else: they are
		// ruled out before their names and street are decoded.
		if s.r.ruledOut(p.feat, &cheap) {
			p.pre[rid] = verdict{enc: rec}
			continue
		}
		other, ok := s.mem.decode(rid, rec)
		if !ok {
			continue
		}
		rule, score, ok := s.r.link(p.feat, other, "")
		p.pre[rid] = verdict{enc: rec, rule: rule, score: score, ok: ok}
	}
	return p, nil
}
