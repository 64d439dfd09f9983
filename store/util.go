package store

import (
	"context"
	"runtime"
	"slices"
	"sync"

	"github.com/jmoiron/sqlx"
)

func sqlxSelect(ctx context.Context, r reader, dest any, query string, args ...any) error {
	return r.selectRows(ctx, dest, r.d.rebind(query), args...)
}

func sqlxGet(ctx context.Context, r reader, dest any, query string, args ...any) error {
	q := r.d.rebind(query)
	if st := r.stmts.lookup(q, len(args)); st != nil && r.tx != nil {
		return r.tx.StmtxContext(ctx, st).GetContext(ctx, dest, args...)
	}
	if st := r.reads.get(ctx, q); st != nil {
		return st.GetContext(ctx, dest, args...)
	}
	return sqlx.GetContext(ctx, r.q, dest, q, args...)
}

func anySlice[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

func sortBy[T any](xs []T, key func(T) int) {
	slices.SortStableFunc(xs, func(a, b T) int { return key(a) - key(b) })
}

// eachParallel calls fn(0..n-1) on all cores when n is large enough to be
// worth the goroutines, and in order otherwise.
func eachParallel(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n/64)
	if workers < 2 {
		for i := range n {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				fn(i)
			}
		})
	}
	wg.Wait()
}
