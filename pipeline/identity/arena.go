package identity

import (
	"math/bits"
	"slices"
	"unsafe"
)

// recArena holds the entries of a match index by record number in large
// byte chunks. A million records as a million strings are a million
// objects the garbage collector marks on every cycle while the resolver
// works; in chunks they are a few hundred, and the table of locations
// holds no pointers at all.
//
// Entries are immutable: setting one appends it and leaves the old bytes
// in place, so a string returned by get stays valid (it keeps its chunk
// alive) whatever happens to the record later. The space of replaced
// entries is reclaimed by compacting once it exceeds the live entries.
type recArena struct {
	chunks [][]byte
	loc    []recLoc
	live   int // bytes of current entries
	dead   int // bytes of replaced entries still in chunks
}

// recLoc is where the entry of one record is; n == 0 means none.
type recLoc struct{ chunk, off, n uint32 }

// arenaChunk is the size of a chunk; an entry larger than a quarter of it
// gets a chunk of its own.
const arenaChunk = 1 << 20

// compactAfter is the least dead space worth compacting for.
const compactAfter = 64 << 20

// get returns the entry of rid, or "" when it has none.
func (a *recArena) get(rid int64) string {
	if rid < 0 || rid >= int64(len(a.loc)) {
		return ""
	}
	l := a.loc[rid]
	if l.n == 0 {
		return ""
	}
	return unsafe.String(&a.chunks[l.chunk][l.off], l.n)
}

// len returns one more than the highest record number that has room.
func (a *recArena) len() int64 { return int64(len(a.loc)) }

// set makes rec the entry of rid ("" removes it).
func (a *recArena) set(rid int64, rec string) {
	if rid >= int64(len(a.loc)) {
		if rec == "" {
			return
		}
		if rid >= int64(cap(a.loc)) {
			// Doubling: records arrive in ascending number.
			loc := make([]recLoc, rid+1, max(2*cap(a.loc), int(rid)+1))
			copy(loc, a.loc)
			a.loc = loc
		}
		a.loc = a.loc[:rid+1]
	}
	old := a.loc[rid]
	a.dead += int(old.n)
	a.live -= int(old.n)
	if rec == "" {
		a.loc[rid] = recLoc{}
		return
	}
	a.loc[rid] = a.append(rec)
	a.live += len(rec)
	if a.dead > compactAfter && a.dead > a.live {
		a.compact()
	}
}

// append copies rec into the chunks.
func (a *recArena) append(rec string) recLoc {
	if len(rec) > arenaChunk/4 {
		a.chunks = append(a.chunks, []byte(rec))
		return recLoc{chunk: uint32(len(a.chunks) - 1), n: uint32(len(rec))}
	}
	last := len(a.chunks) - 1
	if last < 0 || cap(a.chunks[last])-len(a.chunks[last]) < len(rec) || cap(a.chunks[last]) < arenaChunk {
		a.chunks = append(a.chunks, make([]byte, 0, arenaChunk))
		last++
	}
	c := a.chunks[last]
	off := len(c)
	a.chunks[last] = append(c, rec...)
	return recLoc{chunk: uint32(last), off: uint32(off), n: uint32(len(rec))}
}

// compact copies the current entries into new chunks. Strings handed out
// before keep the old chunks alive until they are dropped.
func (a *recArena) compact() {
	old := a.chunks
	a.chunks = nil
	for rid, l := range a.loc {
		if l.n > 0 {
			a.loc[rid] = a.append(unsafe.String(&old[l.chunk][l.off], l.n))
		}
	}
	a.dead = 0
}

// reset empties the arena, with room for records numbered below n.
func (a *recArena) reset(n int64) {
	*a = recArena{loc: make([]recLoc, 0, n)}
}

// listSlab holds the member lists of a match index, sorted record numbers,
// in large chunks: millions of keys are shared by a few records each, and
// as separate slices they were millions of objects for the collector to
// mark. A list lives in a block of a power-of-two capacity; a list that
// outgrows its block moves to one twice the size, and freed blocks are
// reused by size, so the slab never needs compacting.
type listSlab struct {
	chunks [][]int64
	loc    []listLoc // by list number
	ids    []uint32  // list numbers not in use
	free   [slabClasses][]blockAt
	large  []uint32 // chunks of lists too large for a class, freed
}

// listLoc is where list number i is: n members in a block of 1<<class
// at chunk, off.
type listLoc struct {
	chunk, off, n uint32
	class         uint8
}

type blockAt struct{ chunk, off uint32 }

const (
	// slabChunk is the number of members a chunk holds; a list larger
	// than that gets a chunk of its own.
	slabChunk   = 1 << 16
	slabClasses = 17 // blocks of 1 << 0 … 1 << 16
)

// newList makes a list of the given sorted members and returns its number.
func (s *listSlab) newList(members ...int64) int64 {
	b, class := s.alloc(len(members))
	copy(s.chunks[b.chunk][b.off:], members)
	l := listLoc{chunk: b.chunk, off: b.off, n: uint32(len(members)), class: class}
	if n := len(s.ids); n > 0 {
		i := s.ids[n-1]
		s.ids = s.ids[:n-1]
		s.loc[i] = l
		return int64(i)
	}
	s.loc = append(s.loc, l)
	return int64(len(s.loc) - 1)
}

// get returns list i, clipped: appending to it never writes into the slab.
func (s *listSlab) get(i int64) []int64 {
	l := s.loc[i]
	return s.chunks[l.chunk][l.off : l.off+l.n : l.off+l.n]
}

// insert adds rid to list i unless it is there; it reports whether it
// was added.
func (s *listSlab) insert(i, rid int64) bool {
	ms := s.get(i)
	j, found := slices.BinarySearch(ms, rid)
	if found {
		return false
	}
	l := &s.loc[i]
	if l.n == s.capacity(*l) {
		b, class := s.alloc(int(l.n) + 1)
		copy(s.chunks[b.chunk][b.off:], ms)
		s.release(*l)
		*l = listLoc{chunk: b.chunk, off: b.off, n: l.n, class: class}
	}
	block := s.chunks[l.chunk][l.off : l.off+l.n+1]
	copy(block[j+1:], block[j:l.n])
	block[j] = rid
	l.n++
	return true
}

// remove takes rid off list i; it reports whether it was there.
func (s *listSlab) remove(i, rid int64) bool {
	ms := s.get(i)
	j, found := slices.BinarySearch(ms, rid)
	if !found {
		return false
	}
	l := &s.loc[i]
	block := s.chunks[l.chunk][l.off : l.off+l.n]
	copy(block[j:], block[j+1:])
	l.n--
	return true
}

// drop frees list i.
func (s *listSlab) drop(i int64) {
	s.release(s.loc[i])
	s.loc[i] = listLoc{}
	s.ids = append(s.ids, uint32(i))
}

// capacity returns how many members the block of l holds.
func (s *listSlab) capacity(l listLoc) uint32 {
	if l.class >= slabClasses {
		return uint32(len(s.chunks[l.chunk]))
	}
	return 1 << l.class
}

// lists returns how many list numbers are in use.
func (s *listSlab) lists() int { return len(s.loc) - len(s.ids) }

// alloc returns a block for at least n members and its class, or the
// class slabClasses for a chunk of its own.
func (s *listSlab) alloc(n int) (blockAt, uint8) {
	class := uint8(bits.Len(uint(max(n, 2) - 1)))
	if class >= slabClasses {
		c := make([]int64, 2*n)
		if k := len(s.large); k > 0 {
			i := s.large[k-1]
			s.large = s.large[:k-1]
			s.chunks[i] = c
			return blockAt{chunk: i}, slabClasses
		}
		s.chunks = append(s.chunks, c)
		return blockAt{chunk: uint32(len(s.chunks) - 1)}, slabClasses
	}
	if f := s.free[class]; len(f) > 0 {
		b := f[len(f)-1]
		s.free[class] = f[:len(f)-1]
		return b, class
	}
	size := 1 << class
	last := len(s.chunks) - 1
	if last < 0 || len(s.chunks[last])+size > slabChunk || cap(s.chunks[last]) != slabChunk {
		s.chunks = append(s.chunks, make([]int64, 0, slabChunk))
		last++
	}
	off := len(s.chunks[last])
	s.chunks[last] = s.chunks[last][:off+size]
	return blockAt{chunk: uint32(last), off: uint32(off)}, class
}

// release frees the block of l.
func (s *listSlab) release(l listLoc) {
	if l.class >= slabClasses {
		s.chunks[l.chunk] = nil
		s.large = append(s.large, l.chunk)
		return
	}
	s.free[l.class] = append(s.free[l.class], blockAt{chunk: l.chunk, off: l.off})
}
