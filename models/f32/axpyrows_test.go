package f32

import (
	"math"
	"math/rand/v2"
	"testing"
)

// normals returns n float32 draws of N(0, scale²) starting at a random
// offset into a larger slice, so that every alignment is exercised.
func normals(r *rand.Rand, n int, scale float64) []float32 {
	off := r.IntN(8)
	s := make([]float32, n+off)
	for i := range s {
		s[i] = float32(r.NormFloat64() * scale)
	}
	return s[off:]
}

// TestAxpyRowsIsAxpyPerRow holds AxpyRows to its promise: the bits of
// Axpy row after row, on inexact values, for widths around each of the
// kernel's column blocks.
func TestAxpyRowsIsAxpyPerRow(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(9, 10))
	for _, k := range []int{0, 1, 3, 7, 8, 9, 31, 32, 63, 64, 65, 72, 100, 128, 129} {
		for _, n := range []int{0, 1, 2, 5, 40} {
			m, a := normals(r, n*k, 1), normals(r, n, 100)
			got, want := normals(r, k, 10), make([]float32, k)
			copy(want, got)
			AxpyRows(got, a, m)
			for j, c := range a {
				Axpy(c, m[j*k:(j+1)*k], want)
			}
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("k=%d, %d rows, column %d: %v, want %v", k, n, i, got[i], want[i])
				}
			}
		}
	}
}

func TestAxpyRowsRefusesShortMatrix(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("3 coefficients, 2 rows: no panic")
		}
	}()
	AxpyRows(make([]float32, 8), make([]float32, 3), make([]float32, 16))
}

// BenchmarkAxpyRows adds the rows of a gathered block, as every step of
// the interest model's solve does (k = 64, a row with 100 observations),
// against Axpy once per row.
func BenchmarkAxpyRows(b *testing.B) {
	const k, n = 64, 100
	r := rand.New(rand.NewPCG(11, 12))
	m, a, out := normals(r, n*k, 1), normals(r, n, 1), make([]float32, k)
	b.Run("AxpyRows", func(b *testing.B) {
		for b.Loop() {
			AxpyRows(out, a, m)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
	})
	b.Run("Axpy", func(b *testing.B) {
		for b.Loop() {
			for j, c := range a {
				Axpy(c, m[j*k:(j+1)*k], out)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
	})
}
