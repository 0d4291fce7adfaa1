package models

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"circles/features"
	"circles/pipeline"
)

// ALSParams tunes the implicit-feedback matrix factorisation.
type ALSParams struct {
	Factors     int     `json:"factors"`      // latent dimension, 2..512
	Iterations  int     `json:"iterations"`   // alternating sweeps, 1..100
	CGSteps     int     `json:"cg_steps"`     // conjugate-gradient steps per row solve, 1..32
	Alpha       float64 `json:"alpha"`        // confidence per unit of signal: c = 1 + alpha·|s|, 0..1000
	Lambda      float64 `json:"lambda"`       // base L2 regularisation, 0..100
	RegExponent float64 `json:"reg_exponent"` // frequency scaling: λ_u = λ·(1+n_u)^ν, 0..2
	Seed        uint64  `json:"seed"`         // initialisation seed
	Workers     int     `json:"-"`            // 0 = GOMAXPROCS; results do not depend on it
}

// DefaultALSParams returns production defaults: 3 CG steps (Takács et
// al. 2011 find 2–3 enough with warm starts) and regularisation scaled by
// each row's number of observations (Rendle et al. 2022, "Revisiting the
// Performance of iALS"); the dimension, alpha and lambda are those circles
// quality chose by their worst case across the public datasets.
func DefaultALSParams() ALSParams {
	return ALSParams{Factors: 64, Iterations: 8, CGSteps: 3, Alpha: 5, Lambda: 0.03, RegExponent: 1, Seed: 42}
}

// Validate checks every field and names the first bad one.
func (p ALSParams) Validate() error {
	switch {
	case p.Factors < 2 || p.Factors > 512:
		return fmt.Errorf("als.factors = %d: want 2..512", p.Factors)
	case p.Iterations < 1 || p.Iterations > 100:
		return fmt.Errorf("als.iterations = %d: want 1..100", p.Iterations)
	case p.CGSteps < 1 || p.CGSteps > 32:
		return fmt.Errorf("als.cg_steps = %d: want 1..32", p.CGSteps)
	case !(p.Alpha >= 0 && p.Alpha <= 1000):
		return fmt.Errorf("als.alpha = %v: want 0..1000", p.Alpha)
	case !(p.Lambda >= 0 && p.Lambda <= 100):
		return fmt.Errorf("als.lambda = %v: want 0..100", p.Lambda)
	case !(p.RegExponent >= 0 && p.RegExponent <= 2):
		return fmt.Errorf("als.reg_exponent = %v: want 0..2", p.RegExponent)
	}
	return nil
}

// ALS holds the factors of a trained model: row u of Users and row i of
// Items are the latent vectors; their dot product predicts preference,
// roughly in [0, 1].
type ALS struct {
	Users, Items *mat.Dense
	// Loss is the confidence-weighted squared error over observed entries
	// divided by their total confidence, after each sweep; it should fall.
	Loss []float64
}

// NewALS returns a model of zero vectors for users and items with k
// factors, for factors loaded from elsewhere (a published run).
func NewALS(users, items, k int) *ALS {
	return &ALS{Users: mat.NewDense(max(users, 1), k, nil), Items: mat.NewDense(max(items, 1), k, nil)}
}

// TrainALS factorises the users × items signal matrix R (with Rt its
// transpose) by implicit ALS (Hu, Koren, Volinsky 2008): preference 1 for
// positive signal and 0 for negative, confidence 1 + α|s|, every unobserved
// entry preference 0 with confidence 1. Each row is solved by warm-started
// conjugate gradient needing only products with the Gram matrix and the
// row's own observations. Rows are solved in parallel; the result depends
// only on R and p. progress, when not nil, is called after each sweep.
func TrainALS(ctx context.Context, R, Rt *features.CSR, p ALSParams, progress func(iter int, loss float64)) (*ALS, error) {
	k := p.Factors
	r := rand.New(rand.NewPCG(p.Seed, 0x5eed))
	init := func(n int) *mat.Dense {
		m := mat.NewDense(max(n, 1), k, nil)
		raw := m.RawMatrix().Data
		for i := range raw {
			raw[i] = r.NormFloat64() * 0.01
		}
		return m
	}
	m := &ALS{Users: init(R.Rows()), Items: init(Rt.Rows())}
	for it := range p.Iterations {
		if err := sweep(ctx, R, m.Items, m.Users, p); err != nil {
			return nil, err
		}
		if err := sweep(ctx, Rt, m.Users, m.Items, p); err != nil {
			return nil, err
		}
		loss := observedLoss(R, m, p)
		m.Loss = append(m.Loss, loss)
		if progress != nil {
			progress(it+1, loss)
		}
	}
	return m, nil
}

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

// SolveUsers re-solves the rows of users marked in only (all rows when
// only is nil) against fixed item factors, warm-started from their current
// values in m.Users. It is how a subset of users is recomputed in the same
// latent space as a published model.
func SolveUsers(ctx context.Context, R *features.CSR, m *ALS, only []bool, p ALSParams) error {
	return sweepRows(ctx, R, m.Items, m.Users, only, p)
}

// sweep solves every row of X given the fixed other side Y.
func sweep(ctx context.Context, R *features.CSR, Y, X *mat.Dense, p ALSParams) error {
	return sweepRows(ctx, R, Y, X, nil, p)
}

// sweepRows solves the rows of X marked in only (all when nil).
func sweepRows(ctx context.Context, R *features.CSR, Y, X *mat.Dense, only []bool, p ALSParams) error {
	k := p.Factors
	G := gram(Y)
	Yraw := Y.RawMatrix()
	Xraw := X.RawMatrix()
	n := R.Rows()
	return pipeline.ForRange(ctx, n, p.Workers, 1024, func(lo, hi int) {
		s := newSolver(k)
		for u := lo; u < hi; u++ {
			if only != nil && !only[u] {
				continue
			}
			cols, vals := R.Row(int32(u))
			x := Xraw.Data[u*Xraw.Stride : u*Xraw.Stride+k]
			if len(cols) == 0 {
				clear(x) // no evidence: the prior (zero) is the solution
				continue
			}
			lambda := p.Lambda * math.Pow(1+float64(len(cols)), p.RegExponent)
			s.solve(x, G, Yraw, cols, vals, p.Alpha, lambda, p.CGSteps)
		}
	})
}

// solver holds one goroutine's reusable buffers.
type solver struct {
	k          int
	b, r, d, q []float64
}

func newSolver(k int) *solver {
	return &solver{k: k, b: make([]float64, k), r: make([]float64, k), d: make([]float64, k), q: make([]float64, k)}
}

// apply sets out = (G + Σ_i (c_i−1) y_i y_iᵀ + λI) v.
func (s *solver) apply(out, v, G []float64, Y blas64.General, cols []int32, vals []float32, alpha, lambda float64) {
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
func (s *solver) solve(x, G []float64, Y blas64.General, cols []int32, vals []float32, alpha, lambda float64, steps int) {
	k := s.k
	clear(s.b)
	for j, c := range cols {
		if vals[j] > 0 {
			y := Y.Data[int(c)*Y.Stride : int(c)*Y.Stride+k]
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

// observedLoss is Σ c (p − x·y)² / Σ c over the observed entries of R.
func observedLoss(R *features.CSR, m *ALS, p ALSParams) float64 {
	var num, den float64
	for u := range R.Rows() {
		cols, vals := R.Row(int32(u))
		x := m.Users.RawRowView(u)
		for j, c := range cols {
			pref := 0.0
			if vals[j] > 0 {
				pref = 1
			}
			conf := 1 + p.Alpha*math.Abs(float64(vals[j]))
			e := pref - floats.Dot(x, m.Items.RawRowView(int(c)))
			num += conf * e * e
			den += conf
		}
	}
	if den == 0 {
		return 0
	}
	return num / den
}
