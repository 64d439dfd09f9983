package identity

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRecArenaMatchesAMap writes, replaces and removes entries at random,
// with sizes up to several chunks, and compares the arena with a map after
// every step; strings read before a replacement or a compaction must keep
// their bytes.
func TestRecArenaMatchesAMap(t *testing.T) {
	var a recArena
	want := map[int64]string{}
	type held struct{ got, was string }
	var kept []held
	rng := rand.New(rand.NewPCG(3, 4))
	compactions := 0
	for step := range 20_000 {
		rid := rng.Int64N(2_000)
		var rec string
		switch r := rng.IntN(100); {
		case r < 10: // removal
		case r < 12: // larger than a quarter chunk: a chunk of its own
			rec = strings.Repeat(fmt.Sprint(step%10), arenaChunk/4+1+rng.IntN(arenaChunk))
		default:
			rec = fmt.Sprintf("%d:%s", step, strings.Repeat("x", rng.IntN(3_000)))
		}
		deadBefore := a.dead
		a.set(rid, rec)
		if a.dead < deadBefore {
			compactions++
		}
		if rec == "" {
			delete(want, rid)
		} else {
			want[rid] = rec
		}
		if got := a.get(rid); got != rec {
			t.Fatalf("step %d: entry %d has %d bytes, want %d", step, rid, len(got), len(rec))
		}
		if step%97 == 0 {
			kept = append(kept, held{a.get(rid), strings.Clone(rec)})
		}
	}
	for rid := range a.len() + 10 {
		require.Equal(t, want[rid], a.get(rid), "entry %d", rid)
	}
	live := 0
	for _, rec := range want {
		live += len(rec)
	}
	require.Equal(t, live, a.live, "live bytes")
	require.Positive(t, compactions, "replaced entries were reclaimed")
	for i, h := range kept {
		require.Equal(t, h.was, h.got, "string %d read before later writes changed", i)
	}
	require.Equal(t, "", a.get(-1))
}

// TestListSlabMatchesAModel inserts and removes members of many lists at
// random and compares each list with a plain sorted slice after every
// step, then grows one list past a chunk and shrinks it again.
func TestListSlabMatchesAModel(t *testing.T) {
	var s listSlab
	model := map[int64][]int64{}
	var live []int64 // the keys of model, to pick from
	rng := rand.New(rand.NewPCG(5, 6))
	check := func(step int, i int64) {
		t.Helper()
		if got := s.get(i); !slices.Equal(got, model[i]) {
			t.Fatalf("step %d: list %d is %v, want %v", step, i, got, model[i])
		}
	}
	for step := range 50_000 {
		switch r := rng.IntN(100); {
		case r < 5 || len(model) == 0:
			a, b := rng.Int64N(1000), rng.Int64N(1000)
			if a == b {
				continue
			}
			i := s.newList(min(a, b), max(a, b))
			require.NotContains(t, model, i, "a list number in use was handed out")
			model[i] = []int64{min(a, b), max(a, b)}
			live = append(live, i)
			check(step, i)
		default:
			k := rng.IntN(len(live))
			i := live[k]
			rid := rng.Int64N(1000)
			ms := model[i]
			j, found := slices.BinarySearch(ms, rid)
			if r < 60 {
				require.Equal(t, !found, s.insert(i, rid), "step %d: insert reports a change", step)
				if !found {
					model[i] = slices.Insert(ms, j, rid)
				}
			} else {
				require.Equal(t, found, s.remove(i, rid), "step %d: remove reports a change", step)
				if found {
					model[i] = slices.Delete(ms, j, j+1)
				}
			}
			check(step, i)
			if len(model[i]) < 2 {
				s.drop(i)
				delete(model, i)
				live[k] = live[len(live)-1]
				live = live[:len(live)-1]
			}
		}
	}
	for i := range model {
		check(-1, i)
	}
	require.Equal(t, len(model), s.lists())

	big := s.newList(1, 2)
	for rid := int64(3); rid <= 3*slabChunk; rid++ {
		if !s.insert(big, rid) {
			t.Fatalf("member %d was not added", rid)
		}
	}
	require.Len(t, s.get(big), 3*slabChunk)
	require.Equal(t, int64(3*slabChunk), s.get(big)[3*slabChunk-1])
	for rid := int64(3 * slabChunk); rid > 2; rid-- {
		if !s.remove(big, rid) {
			t.Fatalf("member %d was not removed", rid)
		}
	}
	require.Equal(t, []int64{1, 2}, s.get(big))
	for i := range model {
		check(-2, i)
	}
}
