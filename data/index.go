package data

import "math/bits"

// Index interns external int64 IDs to dense int32 indices in first-seen
// order. The zero value is ready to use. It is not safe for concurrent
// writes; concurrent Lookup calls on an Index nobody writes are safe.
//
// Its table is open addressing with linear probing, each slot an ID next
// to its index, so that a lookup (two per event scanned) costs one trip
// to memory where a map costs two or three: at a million users the
// table is far larger than the caches.
type Index struct {
	ids   []int64
	slots []indexSlot
}

// indexSlot holds an ID and its index plus one; 0 marks an empty slot.
type indexSlot struct {
	id   int64
	next int32
}

// Add returns the index of id, adding it if new; added reports whether it was.
func (x *Index) Add(id int64) (i int32, added bool) {
	if (len(x.ids)+1)*maxLoadDen > len(x.slots)*maxLoadNum {
		x.grow()
	}
	j := x.find(id)
	if sl := &x.slots[j]; sl.next != 0 {
		return sl.next - 1, false
	}
	i = int32(len(x.ids))
	x.slots[j] = indexSlot{id: id, next: i + 1}
	x.ids = append(x.ids, id)
	return i, true
}

// Lookup returns the index of id, or -1 when id is unknown.
func (x *Index) Lookup(id int64) int32 {
	if len(x.slots) == 0 {
		return -1
	}
	return x.slots[x.find(id)].next - 1
}

// find returns the slot holding id, or the empty slot where it belongs.
func (x *Index) find(id int64) int {
	i := slotOf(id, len(x.slots))
	for x.slots[i].next != 0 && x.slots[i].id != id {
		if i++; i == len(x.slots) {
			i = 0
		}
	}
	return i
}

func (x *Index) grow() {
	x.slots = make([]indexSlot, max(16, 2*len(x.slots)))
	for i, id := range x.ids {
		x.slots[x.find(id)] = indexSlot{id: id, next: int32(i) + 1}
	}
}

// ID returns the external ID at index i.
func (x *Index) ID(i int32) int64 { return x.ids[i] }

// Len is the number of interned IDs.
func (x *Index) Len() int { return len(x.ids) }

// Dict interns strings (cities, topics, merchant categories) to dense int32
// codes. The zero value is ready to use; it is not safe for concurrent use.
type Dict struct {
	names []string
	pos   map[string]int32
}

// Intern returns the code of s, adding it if new.
func (d *Dict) Intern(b []byte) int32 {
	if i, ok := d.pos[string(b)]; ok {
		return i
	}
	if d.pos == nil {
		d.pos = make(map[string]int32)
	}
	s := string(b)
	i := int32(len(d.names))
	d.pos[s] = i
	d.names = append(d.names, s)
	return i
}

// Code returns the code of s, or -1 when s was never interned.
func (d *Dict) Code(s string) int32 {
	if i, ok := d.pos[s]; ok {
		return i
	}
	return -1
}

// Name returns the string with code i.
func (d *Dict) Name(i int32) string { return d.names[i] }

// Len is the number of interned strings.
func (d *Dict) Len() int { return len(d.names) }

// An idSet is at most 3/4 full. At a hundred million event IDs the set
// is the largest thing a run holds while it merges; half full, as open
// addressing usually is, it would take 2 GiB where this takes 1 GiB, for
// a few more probes in a cache line already loaded.
const maxLoadNum, maxLoadDen = 3, 4

// idSet is an open-addressing set of int64 IDs used to drop duplicate event
// IDs. It is several times smaller and faster than a map[int64]struct{} at
// the hundred-million-row scale of the event tables. Its table is sized
// to its capacity exactly, not rounded up to a power of two, which could
// double it.
type idSet struct {
	slots []int64 // 0 marks an empty slot; the ID 0 is tracked by zero
	n     int
	zero  bool
}

func newIDSet(capacity int) *idSet {
	return &idSet{slots: make([]int64, max(16, capacity*maxLoadDen/maxLoadNum+1))}
}

// slotOf is the slot of a table of n where a probe for id starts:
// Fibonacci hashing (id·2⁶⁴/φ spreads IDs that differ only in their high
// bits, a day prefix, as well as in their low ones), its top bits taken
// to the table's size by a multiply-shift (Lemire's "fast range"), so
// the size need not be a power of two. Index and idSet both probe from it.
func slotOf(id int64, n int) int {
	hi, _ := bits.Mul64(uint64(id)*0x9E3779B97F4A7C15, uint64(n))
	return int(hi)
}

// add inserts id and reports whether it was absent.
func (s *idSet) add(id int64) bool {
	if id == 0 {
		if s.zero {
			return false
		}
		s.zero = true
		return true
	}
	if (s.n+1)*maxLoadDen > len(s.slots)*maxLoadNum {
		s.grow()
	}
	for i := slotOf(id, len(s.slots)); ; {
		switch s.slots[i] {
		case id:
			return false
		case 0:
			s.slots[i] = id
			s.n++
			return true
		}
		if i++; i == len(s.slots) {
			i = 0
		}
	}
}

// grow makes the table half as large again: a set sized from an estimate
// that fell short need not double.
func (s *idSet) grow() {
	old := s.slots
	s.slots = make([]int64, len(old)+len(old)/2)
	s.n = 0
	for _, id := range old {
		if id != 0 {
			s.add(id)
		}
	}
}
