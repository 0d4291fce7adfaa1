package data

import (
	"math/rand/v2"
	"testing"
)

// TestBatchRowNumbers checks that the row numbers of kept rows, implicit
// in Skipped, come back exactly for any pattern of kept and skipped rows.
func TestBatchRowNumbers(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 1))
	for range 200 {
		var b Batch[int]
		var want []int64
		p := r.Float64()
		for row := range int64(r.IntN(300)) {
			if r.Float64() < p {
				b.keep(row, 0, row)
				want = append(want, row)
			}
		}
		rowOf := b.RowNumbers()
		for j, w := range want {
			if got := rowOf(j); got != w {
				t.Fatalf("kept row %d: row number %d, want %d (skipped %v)", j, got, w, b.Skipped)
			}
		}
	}
}
