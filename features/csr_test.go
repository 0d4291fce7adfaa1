package features

import (
	"math/rand/v2"
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
