package f32

import (
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/floats"
)

// ints returns n small integers as float32 starting at a random offset
// into a larger slice, so that every alignment is exercised; sums of
// their products are exact in float32, so every kernel must agree with
// integer arithmetic bit for bit.
func ints(r *rand.Rand, n int) []float32 {
	off := r.IntN(8)
	s := make([]float32, n+off)
	for i := range s {
		s[i] = float32(r.IntN(7) - 3)
	}
	return s[off:]
}

func TestKernelsAreExactOnIntegers(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 140 {
		for range 5 {
			x, y := ints(r, n), ints(r, n)
			var want float32
			for i := range x {
				want += x[i] * y[i]
			}
			if got := Dot(x, y); got != want {
				t.Fatalf("Dot, n=%d: %v, want %v", n, got, want)
			}
			a := float32(r.IntN(5) - 2)
			got, ref := append([]float32(nil), y...), append([]float32(nil), y...)
			Axpy(a, x, got)
			axpyGo(a, x, ref)
			for i := range got {
				if got[i] != ref[i] {
					t.Fatalf("Axpy, n=%d: y[%d] = %v, want %v", n, i, got[i], ref[i])
				}
			}
			prod := make([]float32, n)
			Mul(prod, x, y)
			for i := range prod {
				if prod[i] != x[i]*y[i] {
					t.Fatalf("Mul, n=%d: dst[%d] = %v, want %v", n, i, prod[i], x[i]*y[i])
				}
			}
			var four [4]float32
			stride := n + r.IntN(3)
			m4 := ints(r, 3*stride+n)
			Dot4(m4, stride, x, &four)
			for i, got := range four {
				if w := dotGo(x, m4[i*stride:i*stride+n]); got != w {
					t.Fatalf("Dot4, n=%d stride %d: out[%d] = %v, want %v", n, stride, i, got, w)
				}
			}
			rows := r.IntN(9)
			m := ints(r, rows*n)
			out := make([]float32, rows)
			MulVec(out, m, x)
			for i := range rows {
				if w := dotGo(x, m[i*n:(i+1)*n]); out[i] != w {
					t.Fatalf("MulVec, %d×%d: out[%d] = %v, want %v", rows, n, i, out[i], w)
				}
			}
		}
	}
}

func TestKernelsMatchFloat64(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	for n := range 300 {
		x, y := make([]float32, n), make([]float32, n)
		var want float64
		for i := range x {
			x[i], y[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
			want += float64(x[i]) * float64(y[i])
		}
		got := float64(Dot(x, y))
		if d := got - want; d > 1e-5*float64(n+1) || d < -1e-5*float64(n+1) {
			t.Fatalf("Dot, n=%d: %v, want %v", n, got, want)
		}
	}
}

func BenchmarkMulVec128(b *testing.B) {
	const k = 128
	r := rand.New(rand.NewPCG(5, 6))
	m, x, out := make([]float32, k*k), make([]float32, k), make([]float32, k)
	for i := range m {
		m[i] = float32(r.NormFloat64())
	}
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for b.Loop() {
		MulVec(out, m, x)
	}
	b.ReportMetric(float64(k*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gmadd/s")
}

func TestDot64IsFloatsDotOfTheFloat64Images(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(9, 10))
	for n := range 140 {
		for range 20 {
			x, y := make([]float32, n), make([]float32, n)
			x64, y64 := make([]float64, n), make([]float64, n)
			for i := range n {
				x[i], y[i] = float32(r.NormFloat64()), float32(r.NormFloat64()*1e3)
				x64[i], y64[i] = float64(x[i]), float64(y[i])
			}
			if got, want := Dot64(x, y), floats.Dot(x64, y64); got != want {
				t.Fatalf("n=%d: Dot64 = %v, floats.Dot = %v", n, got, want)
			}
		}
	}
}

// BenchmarkDot64 takes dot products of one vector with rows read at
// random from a matrix far larger than the caches, as ranking does:
// floats.Dot on float64 rows against Dot64 on the same rows in float32,
// and Dot64Rows taking them 256 at a time.
func BenchmarkDot64(b *testing.B) {
	const n, k = 1 << 20, 64
	r := rand.New(rand.NewPCG(11, 12))
	m32, m64 := make([]float32, n*k), make([]float64, n*k)
	for i := range m32 {
		m32[i] = float32(r.NormFloat64())
		m64[i] = float64(m32[i])
	}
	rows := make([]int, 1<<16)
	for i := range rows {
		rows[i] = r.IntN(n)
	}
	x32, x64 := m32[:k], m64[:k]
	var sink float64
	b.Run("floats.Dot", func(b *testing.B) {
		i := 0
		for b.Loop() {
			j := rows[i%len(rows)] * k
			sink += floats.Dot(x64, m64[j:j+k])
			i++
		}
	})
	b.Run("Dot64", func(b *testing.B) {
		i := 0
		for b.Loop() {
			j := rows[i%len(rows)] * k
			sink += Dot64(x32, m32[j:j+k])
			i++
		}
	})
	b.Run("Dot64Rows", func(b *testing.B) {
		const batch = 256
		ids := make([]int32, len(rows))
		for i, r := range rows {
			ids[i] = int32(r)
		}
		out := make([]float64, batch)
		i := 0
		for b.Loop() {
			if i%batch == 0 {
				lo := i % len(ids)
				Dot64Rows(out, x32, m32, ids[lo:lo+batch])
			}
			sink += out[i%batch]
			i++
		}
	})
	_ = sink
}
