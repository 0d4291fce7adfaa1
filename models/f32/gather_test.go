package f32

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestGatherCopiesRows(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	for _, k := range []int{1, 7, 8, 16, 24, 64, 100, 128} {
		const n = 50
		src := make([]float32, n*k)
		for i := range src {
			src[i] = float32(i)
		}
		for _, m := range []int{0, 1, 3, 9, 40} {
			rows := make([]int32, m)
			for j := range rows {
				rows[j] = int32(r.IntN(n))
			}
			got := make([]float32, m*k)
			Gather(got, src, k, rows)
			var want []float32
			for _, row := range rows {
				want = append(want, src[int(row)*k:(int(row)+1)*k]...)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("k=%d, %d rows: got %v, want %v", k, m, got, want)
			}
		}
	}
}

func TestGatherRefusesRowsOutOfRange(t *testing.T) {
	t.Parallel()
	for _, row := range []int32{-1, 4} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("row %d of 4: no panic", row)
				}
			}()
			Gather(make([]float32, 8), make([]float32, 32), 8, []int32{row})
		}()
	}
}

// BenchmarkGather reads rows at random from a matrix far larger than the
// caches, as the interest model's solve does, against a plain copy loop.
func BenchmarkGather(b *testing.B) {
	const n, k, m = 1 << 20, 64, 256
	src := make([]float32, n*k)
	for i := range src {
		src[i] = float32(i) // real pages, not the shared zero page
	}
	r := rand.New(rand.NewPCG(7, 8))
	lists := make([][]int32, 2048)
	for i := range lists {
		lists[i] = make([]int32, m)
		for j := range lists[i] {
			lists[i][j] = int32(r.IntN(n))
		}
	}
	dst := make([]float32, m*k)
	b.Run("copy", func(b *testing.B) {
		i := 0
		for b.Loop() {
			for j, row := range lists[i%len(lists)] {
				copy(dst[j*k:(j+1)*k], src[int(row)*k:(int(row)+1)*k])
			}
			i++
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*m), "ns/row")
	})
	b.Run("gather", func(b *testing.B) {
		i := 0
		for b.Loop() {
			Gather(dst, src, k, lists[i%len(lists)])
			i++
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*m), "ns/row")
	})
}

func TestDot64RowsIsDot64PerRow(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	for _, k := range []int{0, 1, 3, 4, 7, 8, 31, 32, 64, 65} {
		const n = 40
		m := make([]float32, n*k)
		for i := range m {
			m[i] = float32(r.NormFloat64())
		}
		x := make([]float32, k)
		for i := range x {
			x[i] = float32(r.NormFloat64() * 10)
		}
		rows := make([]int32, 25)
		for j := range rows {
			rows[j] = int32(r.IntN(n))
		}
		got := make([]float64, len(rows))
		Dot64Rows(got, x, m, rows)
		for j, row := range rows {
			if want := Dot64(x, m[int(row)*k:(int(row)+1)*k]); got[j] != want {
				t.Fatalf("k=%d, row %d: %v, want %v", k, j, got[j], want)
			}
		}
	}
}
