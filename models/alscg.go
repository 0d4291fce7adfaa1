package models

import (
	"context"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"circles/features"
	"circles/pipeline"
)

// The reference row solve (TrainALSCG): conjugate gradient in the original
// basis, in float64, every step a product with the dense Gram matrix.

// gram returns YᵀY as a dense k×k matrix.
func gram(Y *mat.Dense) []float64 {
	_, k := Y.Dims()
	g := mat.NewSymDense(k, nil)
	g.SymOuterK(1, Y.T())
	out := make([]float64, k*k)
	for i := range k {
		for j := range k {
			out[i*k+j] = g.At(i, j)
		}
	}
	return out
}

// sweepCG solves every row of X given the fixed other side Y.
func sweepCG(ctx context.Context, R *features.CSR, Y, X *mat.Dense, p ALSParams) error {
	k := p.Factors
	G := gram(Y)
	Yraw := Y.RawMatrix()
	Xraw := X.RawMatrix()
	return pipeline.ForRange(ctx, R.Rows(), p.Workers, 1024, func(lo, hi int) {
		s := newCGSolver(k)
		for u := lo; u < hi; u++ {
			cols, vals := R.Row(int32(u))
			x := Xraw.Data[u*Xraw.Stride : u*Xraw.Stride+k]
			if len(cols) == 0 {
				clear(x) // no evidence: the prior (zero) is the solution
				continue
			}
			s.solve(x, G, Yraw, cols, vals, p.Alpha, rowLambda(p, len(cols)), p.CGSteps)
		}
	})
}

// cgSolver holds one goroutine's reusable buffers.
type cgSolver struct {
	k          int
	b, r, d, q []float64
}

func newCGSolver(k int) *cgSolver {
	return &cgSolver{k: k, b: make([]float64, k), r: make([]float64, k), d: make([]float64, k), q: make([]float64, k)}
}

// apply sets out = (G + Σ_i (c_i−1) y_i y_iᵀ + λI) v.
func (s *cgSolver) apply(out, v, G []float64, Y blas64.General, cols []int32, vals []float32, alpha, lambda float64) {
	k := s.k
	blas64.Gemv(blas.NoTrans, 1, blas64.General{Rows: k, Cols: k, Stride: k, Data: G}, blas64.Vector{N: k, Inc: 1, Data: v}, 0, blas64.Vector{N: k, Inc: 1, Data: out})
	floats.AddScaled(out, lambda, v)
	for j, c := range cols {
		y := Y.Data[int(c)*Y.Stride : int(c)*Y.Stride+k]
		w := alpha * math.Abs(float64(vals[j])) * floats.Dot(y, v)
		floats.AddScaled(out, w, y)
	}
}

// solve runs steps of conjugate gradient on A x = b from the current x,
// where b = Σ_i c_i p_i y_i.
func (s *cgSolver) solve(x, G []float64, Y blas64.General, cols []int32, vals []float32, alpha, lambda float64, steps int) {
	clear(s.b)
	for j, c := range cols {
		if vals[j] > 0 {
			y := Y.Data[int(c)*Y.Stride : int(c)*Y.Stride+s.k]
			floats.AddScaled(s.b, 1+alpha*float64(vals[j]), y)
		}
	}
	s.apply(s.q, x, G, Y, cols, vals, alpha, lambda)
	floats.SubTo(s.r, s.b, s.q)
	copy(s.d, s.r)
	rs := floats.Dot(s.r, s.r)
	for range steps {
		if rs < 1e-12 {
			return
		}
		s.apply(s.q, s.d, G, Y, cols, vals, alpha, lambda)
		a := rs / floats.Dot(s.d, s.q)
		floats.AddScaled(x, a, s.d)
		floats.AddScaled(s.r, -a, s.q)
		next := floats.Dot(s.r, s.r)
		floats.AddScaledTo(s.d, s.r, next/rs, s.d)
		rs = next
	}
}
