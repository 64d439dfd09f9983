package pipeline

import (
	"context"
	"runtime"
	"slices"
	"sync"

	"github.com/crmhub/crmhub"
	"github.com/crmhub/crmhub/pipeline/identity"
	"github.com/crmhub/crmhub/store"
)

// rawPage is how many raw records one read of the landing table takes.
const rawPage = 2000

// RawCustomers maps the newest version of every customer record in the
// landing table, for a rebuild. Records that no longer map (no mapping,
// no id, nothing to identify a person) are counted in failed and left
// out.
func (st *Stages) RawCustomers(ctx context.Context) (recs []identity.Record, failed int, err error) {
	type newest struct {
		version string
		id      int64
		index   int // into recs, -1 when it failed to map
	}
	seen := map[string]newest{}
	// Pages are read one ahead while the current one is mapped.
	type fetched struct {
		page []store.RawRecord
		err  error
	}
	pages := make(chan fetched, 2)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(pages)
		var after int64
		for {
			page, err := st.store.RawRecords(ctx, "", after, rawPage)
			select {
			case pages <- fetched{page, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(page) == 0 {
				return
			}
			after = page[len(page)-1].ID
		}
	}()
	for f := range pages {
		if f.err != nil {
			return nil, 0, f.err
		}
		page := f.page
		if len(page) == 0 {
			break
		}
		// Keep only what is newer than what was seen; map those in
		// parallel.
		var todo []int
		for i, r := range page {
			if r.Entity != string(crmhub.EntityCustomer) && r.Entity != string(crmhub.EntityLead) {
				continue
			}
			k := r.Source + "\x00" + r.ExternalID
			if prev, ok := seen[k]; ok && crmhub.CompareVersions(r.Version, prev.version) < 0 {
				continue
			}
			todo = append(todo, i)
		}
		mapped := make([]identity.Record, len(todo))
		ok := make([]bool, len(todo))
		parallelEach(len(todo), func(j int) {
			r := page[todo[j]]
			e := crmhub.Envelope{Source: r.Source, SourceType: r.Meta["source_type"], Entity: crmhub.Entity(r.Entity),
				ExternalID: r.ExternalID, Version: r.Version, ReceivedAt: r.ReceivedAt, Payload: r.Payload}
			rec, isCustomer, err := st.CustomerRecord(e)
			ok[j] = err == nil && isCustomer
			mapped[j] = rec
		})
		for j, i := range todo {
			r := page[i]
			k := r.Source + "\x00" + r.ExternalID
			prev, had := seen[k]
			if had && crmhub.CompareVersions(r.Version, prev.version) < 0 {
				continue
			}
			n := newest{version: r.Version, id: r.ID, index: -1}
			if had && prev.index >= 0 {
				n.index = prev.index
			}
			if ok[j] {
				if n.index < 0 {
					n.index = len(recs)
					recs = append(recs, mapped[j])
				} else {
					recs[n.index] = mapped[j]
				}
			} else if n.index >= 0 {
				recs[n.index] = identity.Record{} // the newest version no longer maps
			}
			seen[k] = n
		}
	}
	for _, n := range seen {
		if n.index < 0 {
			failed++
		}
	}
	out := slices.DeleteFunc(recs, func(r identity.Record) bool {
		if r.Source == "" {
			failed++
			return true
		}
		return false
	})
	return out, failed, nil
}

// parallelEach calls fn for 0..n-1 on all cores.
func parallelEach(n int, fn func(int)) {
	workers := min(runtime.GOMAXPROCS(0), max(n, 1))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				fn(i)
			}
		}()
	}
	wg.Wait()
}
