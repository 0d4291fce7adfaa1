package data

import (
	"math/rand/v2"
	"testing"
)

// eventLikeID is the i-th of a mix of IDs shaped like real event IDs (a
// day prefix in the high bits), small ones around 0 and random ones.
func eventLikeID(r *rand.Rand, i int) int64 {
	switch i % 3 {
	case 0:
		return int64(r.IntN(90)+1)<<36 | int64(r.IntN(1000))
	case 1:
		return r.Int64N(1000) - 500
	}
	return r.Int64()
}

// TestIDSetMatchesMap checks the set against a map on IDs shaped like real
// event IDs (a day prefix in the high bits) plus random ones, 0 included,
// through several grow steps.
func TestIDSetMatchesMap(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	s := newIDSet(4)
	ref := map[int64]bool{}
	for i := range 200_000 {
		id := eventLikeID(r, i)
		if got, want := s.add(id), !ref[id]; got != want {
			t.Fatalf("add(%d) = %v, want %v", id, got, want)
		}
		ref[id] = true
	}
}

func BenchmarkIDSetDayPrefixed(b *testing.B) {
	ids := make([]int64, 1_000_000)
	for i := range ids {
		ids[i] = int64(i%90+1)<<36 | int64(i/90)
	}
	b.ReportAllocs()
	for b.Loop() {
		s := newIDSet(len(ids))
		for _, id := range ids {
			s.add(id)
		}
	}
}

// TestIndexMatchesMap checks interning and lookups against a map, through
// several grow steps, on eventLikeID's IDs.
func TestIndexMatchesMap(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	var x Index
	if x.Lookup(7) != -1 || x.Len() != 0 {
		t.Fatal("the zero Index is not empty")
	}
	ref := map[int64]int32{}
	for i := range 100_000 {
		id := eventLikeID(r, i)
		want, seen := ref[id]
		if !seen {
			want = int32(len(ref))
			ref[id] = want
		}
		if got, added := x.Add(id); got != want || added == seen {
			t.Fatalf("Add(%d) = %d, %v; want %d, %v", id, got, added, want, !seen)
		}
		probe := r.Int64N(2000) - 1000
		if want, ok := ref[probe]; ok != (x.Lookup(probe) >= 0) || ok && x.Lookup(probe) != want {
			t.Fatalf("Lookup(%d) = %d, want %d (known %v)", probe, x.Lookup(probe), want, ok)
		}
	}
	for id, i := range ref {
		if x.Lookup(id) != i || x.ID(i) != id {
			t.Fatalf("Lookup(%d) = %d, ID(%d) = %d; want %d", id, x.Lookup(id), i, x.ID(i), i)
		}
	}
}
