package features

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPairSetIsASetOfUnorderedPairs checks Has against a map on random
// pairs, with repeats, both orders and indices past the largest stored.
func TestPairSetIsASetOfUnorderedPairs(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{0, 1, 5, 60, 400} {
		want := map[[2]int32]bool{}
		var pairs [][2]int32
		for range n {
			a, b := int32(r.IntN(40)), int32(r.IntN(40))
			pairs = append(pairs, [2]int32{a, b})
			want[[2]int32{min(a, b), max(a, b)}] = true
		}
		s := NewPairSet(pairs)
		if s.Len() != len(want) {
			t.Errorf("%d pairs: Len = %d, want %d", n, s.Len(), len(want))
		}
		for a := range int32(45) {
			for b := range int32(45) {
				if got := s.Has(a, b); got != want[[2]int32{min(a, b), max(a, b)}] {
					t.Fatalf("%d pairs: Has(%d, %d) = %v", n, a, b, got)
				}
			}
		}
	}
}

// TestSortByPairIsAStableSortByPair checks sortByPair against a stable
// sort by pairKey: the order ties sum their evidence in must not change.
func TestSortByPairIsAStableSortByPair(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(13, 14))
	for _, n := range []int{0, 1, 10, 500, 3000} {
		events := make([]tieEvent, n)
		for i := range events {
			// w numbers the events, so that any reordering within a pair shows
			events[i] = tieEvent{from: int32(r.IntN(30)), to: int32(r.IntN(30)), w: float32(i)}
		}
		want := slices.Clone(events)
		slices.SortStableFunc(want, func(a, b tieEvent) int { return cmp.Compare(pairKey(a.from, a.to), pairKey(b.from, b.to)) })
		if got := sortByPair(30, events); !slices.Equal(got, want) {
			t.Fatalf("%d events: sortByPair differs from a stable sort by pair", n)
		}
	}
}
