package data

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestMergerInAnyOrderIsMerge adds batches to a Merger in shuffled orders
// and checks that the rows kept, the stats and the duplicates quarantined
// are Merge's: the first file holding an ID keeps it, whatever order the
// scans end in.
func TestMergerInAnyOrderIsMerge(t *testing.T) {
	t.Parallel()
	batches := func() []*Batch[int64] {
		r := rand.New(rand.NewPCG(21, 22))
		var bs []*Batch[int64]
		for f := range 7 {
			b := &Batch[int64]{File: fmt.Sprintf("day=%d.parquet", f), Stats: NewStats(TableInteractions)}
			for row := range int64(r.IntN(300)) {
				if r.IntN(10) == 0 {
					continue // a row quarantined by the scan
				}
				id := r.Int64N(1000) // duplicates within and across files
				b.keep(row, id*10+int64(f), id)
				b.Stats.Read++
				b.Stats.Used++
			}
			bs = append(bs, b)
		}
		return bs
	}
	wantRows, wantStats, wantRejects := Merge(TableInteractions, batches())
	r := rand.New(rand.NewPCG(23, 24))
	for range 5 {
		bs := batches()
		m := NewMerger[int64](TableInteractions, len(bs), 10) // too small: it must grow
		for _, i := range r.Perm(len(bs)) {
			m.Add(i, bs[i])
		}
		rows, stats, rejects := m.Result()
		if !reflect.DeepEqual(rows, wantRows) || !reflect.DeepEqual(stats, wantStats) || !reflect.DeepEqual(rejects, wantRejects) {
			t.Fatalf("a Merger fed out of order differs from Merge")
		}
	}
	if len(wantRejects) == 0 {
		t.Fatal("no duplicates: the test proves nothing")
	}
}
