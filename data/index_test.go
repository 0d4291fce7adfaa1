package data

import (
	"math/rand/v2"
	"testing"
)

// TestIDSetMatchesMap checks the set against a map on IDs shaped like real
// event IDs (a day prefix in the high bits) plus random ones, 0 included,
// through several grow steps.
func TestIDSetMatchesMap(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	s := newIDSet(4)
	ref := map[int64]bool{}
	for i := range 200_000 {
		var id int64
		switch i % 3 {
		case 0:
			id = int64(r.IntN(90)+1)<<36 | int64(r.IntN(1000))
		case 1:
			id = r.Int64N(1000) - 500
		default:
			id = r.Int64()
		}
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
