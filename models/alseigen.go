package models

import (
	"context"
	"errors"
	"math"

	"gonum.org/v1/gonum/mat"

	"circles/features"
	"circles/models/f32"
	"circles/pipeline"
)

// The production row solve. Row u of a sweep solves the normal equations
//
//	(G + λ_u I + Σ_i (c_i−1) y_i y_iᵀ) x = Σ_i c_i p_i y_i,  G = YᵀY,
//
// where G, the fixed side's Gram matrix, is shared by every row. In the
// eigenbasis of G (G = V Λ Vᵀ, k³ once per sweep) the shared part is the
// diagonal Λ + λ_u I, and a row costs O(n_u·k) where the textbook solve
// (alscg.go) pays a k² product with G at every CG step. A row with few
// observations — most items of a long tail — is then solved exactly, by
// the Woodbury identity on an n_u×n_u system; a row with many by
// conjugate gradient, warm-started from its previous value (CG is
// invariant under the rotation, so this path gives the reference solve's
// iterates up to rounding). Rotating the fixed side costs k² per fixed
// row, so a sweep that solves few rows against many (users against a wide
// catalogue) keeps the fixed side as it is and runs CG with the dense G
// instead (sweepEigen weighs the two).
//
// Each side is kept in float32, in the basis its last sweep left it in,
// and rotated back to float64 in the original basis only when training
// ends: the confidence weighting makes a factor a ranking signal, not a
// quantity needing more than seven digits, and float32 halves the memory
// and the traffic of every kernel (models/f32).

// errEigen reports a Gram matrix gonum could not decompose, which only
// non-finite factors cause.
var errEigen = errors.New("als: eigendecomposition of the Gram matrix failed (non-finite factors?)")

// side is one side of the factorisation while it trains: its rows in
// float32, in an orthonormal basis of their own (the original vector is
// basis · row). A sweep rotates the fixed side into the eigenbasis of its
// Gram matrix and solves the other side in that basis, so no side is ever
// rotated back until training ends (toDense).
type side struct {
	k     int
	x     []float32  // rows, row-major n×k
	basis *mat.Dense // k×k, orthonormal columns
}

// newSide copies m's rows, in the identity basis.
func newSide(m *mat.Dense) *side {
	n, k := m.Dims()
	s := &side{k: k, x: make([]float32, n*k), basis: identity(k)}
	raw := m.RawMatrix()
	for i := range n {
		for j, v := range raw.Data[i*raw.Stride : i*raw.Stride+k] {
			s.x[i*k+j] = float32(v)
		}
	}
	return s
}

func identity(k int) *mat.Dense {
	m := mat.NewDense(k, k, nil)
	for i := range k {
		m.Set(i, i, 1)
	}
	return m
}

func (s *side) rows() int             { return len(s.x) / s.k }
func (s *side) row(i int32) []float32 { return s.x[int(i)*s.k : (int(i)+1)*s.k] }

// toDense returns the rows, rotated back to the original basis, as float64.
func (s *side) toDense() *mat.Dense {
	k := s.k
	m := mat.NewDense(s.rows(), k, nil)
	raw := m.RawMatrix()
	B := float32s(s.basis)
	out := make([]float32, k)
	for i := range int32(s.rows()) {
		rotate(out, B, s.row(i), k)
		for j, v := range out {
			raw.Data[int(i)*raw.Stride+j] = float64(v)
		}
	}
	return m
}

// float32s is m (k×k) as row-major float32.
func float32s(m *mat.Dense) []float32 {
	k, _ := m.Dims()
	out := make([]float32, k*k)
	for i := range k {
		for j := range k {
			out[i*k+j] = float32(m.At(i, j))
		}
	}
	return out
}

// rotate sets out = M x for a row-major k×k M.
func rotate(out, M, x []float32, k int) {
	f32.MulVec(out[:k], M[:k*k], x[:k])
}

// eigenBasis is one sweep's diagonalised Gram matrix: the fixed side's
// rows are rotated so that, in the new basis, their Gram matrix is
// diag(lam).
type eigenBasis struct {
	k   int
	lam []float64 // eigenvalues, clamped at 0; zero when gram is set
	y   *side     // the fixed side, in the new basis
	// gram, when set, is the Gram matrix (row-major) of a fixed side left
	// in its own basis (densely): every row is then solved by CG, each
	// step one product with it.
	gram []float32
}

func (b *eigenBasis) yRow(i int32) []float32 { return b.y.row(i) }

// diagonalise rotates the fixed side Y into the eigenbasis of its Gram
// matrix YᵀY and returns the rotation Q from its old basis (new = old·Q).
func diagonalise(ctx context.Context, y *side, workers int, scratch **gramScratch) (*eigenBasis, *mat.Dense, error) {
	k := y.k
	G, err := gramOf(ctx, y, workers, scratch)
	if err != nil {
		return nil, nil, err
	}
	var es mat.EigenSym
	if !es.Factorize(G, true) {
		return nil, nil, errEigen
	}
	b := &eigenBasis{k: k, lam: es.Values(nil), y: y}
	for l, x := range b.lam {
		b.lam[l] = max(x, 0) // rounding can leave a null direction slightly negative
	}
	var Q mat.Dense
	es.VectorsTo(&Q)
	Qt := float32s(mat.DenseCopyOf(Q.T()))
	err = pipeline.ForRange(ctx, y.rows(), workers, 1024, func(lo, hi int) {
		old := make([]float32, k)
		for i := lo; i < hi; i++ {
			r := y.row(int32(i))
			copy(old, r)
			rotate(r, Qt, old, k)
		}
	})
	var nb mat.Dense
	nb.Mul(y.basis, &Q)
	y.basis = &nb
	return b, &Q, err
}

// densely is the basis the fixed side is already in, with its Gram matrix
// kept dense.
func densely(ctx context.Context, y *side, workers int, scratch **gramScratch) (*eigenBasis, error) {
	G, err := gramOf(ctx, y, workers, scratch)
	if err != nil {
		return nil, err
	}
	k := y.k
	b := &eigenBasis{k: k, lam: make([]float64, k), y: y, gram: make([]float32, k*k)}
	for i := range k {
		for j := range k {
			b.gram[i*k+j] = float32(G.At(i, j))
		}
	}
	return b, nil
}

// gramScratch holds gramOf's per-task partial sums between sweeps.
type gramScratch struct{ parts [][]float64 }

// gramOf returns the Gram matrix of y's rows. Rows are taken in tasks of
// a size that depends only on their number, each summed into its own
// float64 partial from float32 dot products over blocks of 256 rows
// (transposed, so that every entry is one long dot product), and the
// partials are added in task order: the result is the same for any number
// of workers.
func gramOf(ctx context.Context, y *side, workers int, scratch **gramScratch) (*mat.SymDense, error) {
	n, k := y.rows(), y.k
	const block = 256
	per := max(16*block, (n+15)/16)
	per = (per + block - 1) / block * block
	tasks := (n + per - 1) / per
	if *scratch == nil {
		*scratch = &gramScratch{}
	}
	sc := *scratch
	for len(sc.parts) < tasks {
		sc.parts = append(sc.parts, nil)
	}
	err := pipeline.ForEach(ctx, tasks, workers, func(_ context.Context, t int) error {
		if len(sc.parts[t]) != k*k {
			sc.parts[t] = make([]float64, k*k)
		}
		g := sc.parts[t]
		clear(g)
		yt := make([]float32, k*block)
		for lo := t * per; lo < min(n, (t+1)*per); lo += block {
			m := min(block, n-lo)
			for i := range m {
				for j, x := range y.row(int32(lo + i)) {
					yt[j*block+i] = x
				}
			}
			var four [4]float32
			for a := range k {
				ya := yt[a*block : a*block+m]
				c := a
				for ; c+4 <= k; c += 4 {
					f32.Dot4(yt[c*block:], block, ya, &four)
					for r, v := range four {
						g[a*k+c+r] += float64(v)
					}
				}
				for ; c < k; c++ {
					g[a*k+c] += float64(f32.Dot(ya, yt[c*block:c*block+m]))
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	G := mat.NewSymDense(k, nil)
	for _, g := range sc.parts[:tasks] {
		for a := range k {
			for c := a; c < k; c++ {
				G.SetSym(a, c, G.At(a, c)+g[a*k+c])
			}
		}
	}
	return G, nil
}

// sweepEigen solves every row of the solved side against the fixed one.
// It diagonalises the fixed side's Gram matrix when rotating that side
// costs less than what it saves: rotating n_fixed rows (k² each) lets
// rows with few observations be solved exactly and the rest by CG without
// products with the Gram matrix; keeping the fixed side as it is costs
// one k² product per CG step per solved row instead. A wide catalogue
// solved against few users is rotated; few users solved against a wide
// catalogue that is already in their basis are not. Either way both
// sides end in one basis.
func sweepEigen(ctx context.Context, R *features.CSR, fixed, solved *side, p ALSParams, scratch **gramScratch) error {
	k, exactMax := p.Factors, exactRows(p.Factors, p.CGSteps)
	same := fixed.basis == solved.basis
	var rows, cgRows int
	for u := range int32(R.Rows()) {
		if cols, _ := R.Row(u); len(cols) > 0 {
			n := len(cols)
			rows++
			if n > exactMax {
				cgRows++
			}
		}
	}
	keep := (p.CGSteps+1)*rows + rows // each CG step, the warm start's rotation
	if same {
		keep -= rows
	}
	var b *eigenBasis
	var err error
	if fixed.rows()+cgRows < keep {
		b, _, err = diagonalise(ctx, fixed, p.Workers, scratch)
	} else {
		b, err = densely(ctx, fixed, p.Workers, scratch)
	}
	if err != nil {
		return err
	}
	// W takes a row from the solved side's basis to the fixed side's.
	var Wf []float32
	if fixed.basis != solved.basis {
		var W mat.Dense
		W.Mul(fixed.basis.T(), solved.basis)
		Wf = float32s(&W)
	}
	err = pipeline.ForRange(ctx, R.Rows(), p.Workers, 1024, func(lo, hi int) {
		s := newEigenSolver(b, exactMax, p.Lambda)
		for u := lo; u < hi; u++ {
			cols, vals := R.Row(int32(u))
			x := solved.row(int32(u))
			switch {
			case len(cols) == 0:
				clear(x) // no evidence: the prior (zero) is the solution
				continue
			case !s.warm(len(cols)):
			case Wf != nil:
				rotate(s.x, Wf, x, k)
			default:
				copy(s.x, x)
			}
			s.solve(cols, vals, p.Alpha, rowLambda(p, len(cols)), p.CGSteps)
			copy(x, s.x)
		}
	})
	solved.basis = fixed.basis
	return err
}

// solveSubset re-solves the rows of X (float64, original basis) marked in
// only (all when nil) against fixed Y, warm-started from their values.
func solveSubset(ctx context.Context, R *features.CSR, Y, X *mat.Dense, only []bool, p ALSParams) error {
	var scratch *gramScratch
	b, Q, err := diagonalise(ctx, newSide(Y), p.Workers, &scratch)
	if err != nil {
		return err
	}
	k := p.Factors
	Qf, Qtf := float32s(Q), float32s(mat.DenseCopyOf(Q.T()))
	Xraw := X.RawMatrix()
	return pipeline.ForRange(ctx, R.Rows(), p.Workers, 1024, func(lo, hi int) {
		s := newEigenSolver(b, exactRows(k, p.CGSteps), p.Lambda)
		in, out := make([]float32, k), make([]float32, k)
		for u := lo; u < hi; u++ {
			if only != nil && !only[u] {
				continue
			}
			cols, vals := R.Row(int32(u))
			x := Xraw.Data[u*Xraw.Stride : u*Xraw.Stride+k]
			if len(cols) == 0 {
				clear(x)
				continue
			}
			if s.warm(len(cols)) {
				for j, v := range x {
					in[j] = float32(v)
				}
				rotate(s.x, Qtf, in, k)
			}
			s.solve(cols, vals, p.Alpha, rowLambda(p, len(cols)), p.CGSteps)
			rotate(out, Qf, s.x, k)
			for j, v := range out {
				x[j] = float64(v)
			}
		}
	})
}

// exactRows is the largest number of observations for which the exact
// Woodbury solve (about n²/2·k multiply-adds for the small system, 4n·k
// for the rest) costs no more than CG's rotation in and 2(steps+1)·n·k.
func exactRows(k, steps int) int {
	n := 0
	for next := n + 1; next*next/2+4*next <= k+2*(steps+1)*next; next++ {
		n = next
	}
	return n
}

// eigenSolver holds one goroutine's buffers.
type eigenSolver struct {
	b        *eigenBasis
	exactMax int
	x, rhs   []float32 // the row in the rotated basis; Σ c p y'
	diag     []float32 // Λ + λ_u I
	dinv     []float32 // exact path: its inverse
	r, d, q  []float32 // CG residual, direction, product
	z        []float32 // exact path: D⁻¹ y'_i, row-major n×k
	w        []float32 // exact path: sqrt(c_i − 1)
	m, t     []float64 // exact path: the n×n system and its solution
	g        []float32 // CG path: the observed rows y'_i, gathered (n×k)
	gw, gt   []float32 // CG path: their weights c_i − 1; y'_i·v
	// singular: with no regularisation and a null direction of the Gram
	// matrix, D is not invertible and every row takes the CG path.
	singular bool
}

// newEigenSolver returns buffers for rows regularised at least by
// minLambda.
func newEigenSolver(b *eigenBasis, exactMax int, minLambda float64) *eigenSolver {
	k := b.k
	f := func(n int) []float32 { return make([]float32, n) }
	return &eigenSolver{b: b, exactMax: exactMax, singular: !(minLambda+b.lam[0] > 0), x: f(k), rhs: f(k), diag: f(k), dinv: f(k), r: f(k), d: f(k), q: f(k),
		z: f(exactMax * k), w: f(exactMax), m: make([]float64, exactMax*exactMax), t: make([]float64, exactMax)}
}

// warm reports whether a row with n observations is solved by CG, from
// a warm start the caller puts in s.x (in the new basis).
func (s *eigenSolver) warm(n int) bool { return n > s.exactMax || s.singular || s.b.gram != nil }

// solve leaves the row's solution in the rotated basis in s.x: exact for
// few observations, steps of CG from s.x otherwise.
func (s *eigenSolver) solve(cols []int32, vals []float32, alpha, lambda float64, steps int) {
	b := s.b
	for l, e := range b.lam {
		s.diag[l] = float32(e + lambda)
	}
	clear(s.rhs)
	if s.warm(len(cols)) {
		s.gather(cols, vals, alpha)
		for j, v := range vals {
			if v > 0 {
				f32.Axpy(float32(1+alpha*float64(v)), s.g[j*b.k:(j+1)*b.k], s.rhs)
			}
		}
		s.cg(steps)
		return
	}
	for j, c := range cols {
		if vals[j] > 0 {
			f32.Axpy(float32(1+alpha*float64(vals[j])), b.yRow(c), s.rhs)
		}
	}
	s.exact(cols, vals, alpha)
}

// exact solves (D + W Wᵀ) x = rhs with D = diag, W's columns w_i y'_i,
// by the Woodbury identity: x = D⁻¹rhs − D⁻¹W t, (I + WᵀD⁻¹W) t = WᵀD⁻¹rhs.
func (s *eigenSolver) exact(cols []int32, vals []float32, alpha float64) {
	k, n := s.b.k, len(cols)
	for l, d := range s.diag {
		s.dinv[l] = 1 / d
	}
	for i, c := range cols {
		s.w[i] = float32(math.Sqrt(alpha * math.Abs(float64(vals[i]))))
		f32.Mul(s.z[i*k:(i+1)*k], s.b.yRow(c), s.dinv)
	}
	for i, ci := range cols {
		yi, zi := s.b.yRow(ci), s.z[i*k:(i+1)*k]
		for j := range i + 1 {
			s.m[i*n+j] = float64(s.w[i]) * float64(s.w[j]) * float64(f32.Dot(yi, s.z[j*k:(j+1)*k]))
		}
		s.m[i*n+i]++
		s.t[i] = float64(s.w[i]) * float64(f32.Dot(zi, s.rhs))
	}
	choleskySolve(s.m[:n*n], s.t[:n], n)
	f32.Mul(s.x, s.rhs, s.dinv)
	for i := range n {
		f32.Axpy(-float32(float64(s.w[i])*s.t[i]), s.z[i*k:(i+1)*k], s.x)
	}
}

// cg runs steps of conjugate gradient on (D + Σ (c_i−1) y'_i y'_iᵀ) x = rhs
// from the current s.x.
func (s *eigenSolver) cg(steps int) {
	k := s.b.k
	s.apply(s.q, s.x)
	for l := range k {
		s.r[l] = s.rhs[l] - s.q[l]
	}
	copy(s.d, s.r)
	rs := float64(f32.Dot(s.r, s.r))
	for range steps {
		if rs < 1e-12 {
			return
		}
		s.apply(s.q, s.d)
		a := rs / float64(f32.Dot(s.d, s.q))
		f32.Axpy(float32(a), s.d, s.x)
		f32.Axpy(float32(-a), s.q, s.r)
		next := float64(f32.Dot(s.r, s.r))
		beta := float32(next / rs)
		for l := range k {
			s.d[l] = s.r[l] + beta*s.d[l]
		}
		rs = next
	}
}

// gather copies the row's observed vectors y'_i into one contiguous
// block, with their weights c_i − 1, so that the right-hand side and every
// CG step read them in order: on a fixed side larger than the caches each
// row is fetched from memory once per sweep instead of once per step.
func (s *eigenSolver) gather(cols []int32, vals []float32, alpha float64) {
	k, n := s.b.k, len(cols)
	if cap(s.g) < n*k {
		s.g, s.gw, s.gt = make([]float32, n*k), make([]float32, n), make([]float32, n)
	}
	s.g, s.gw, s.gt = s.g[:n*k], s.gw[:n], s.gt[:n]
	for j, c := range cols {
		copy(s.g[j*k:(j+1)*k], s.b.yRow(c))
		s.gw[j] = float32(alpha * math.Abs(float64(vals[j])))
	}
}

// apply sets out = (D + Σ (c_i−1) y'_i y'_iᵀ) v over the gathered rows.
func (s *eigenSolver) apply(out, v []float32) {
	if s.b.gram != nil {
		f32.MulVec(out, s.b.gram, v)
		for l := range v {
			out[l] += s.diag[l] * v[l]
		}
	} else {
		for l := range v {
			out[l] = s.diag[l] * v[l]
		}
	}
	k := s.b.k
	f32.MulVec(s.gt, s.g, v)
	for j, t := range s.gt {
		f32.Axpy(s.gw[j]*t, s.g[j*k:(j+1)*k], out)
	}
}

// choleskySolve overwrites t with the solution of M t = t for the
// symmetric positive definite n×n M whose lower triangle is given
// (row-major); M is overwritten by its Cholesky factor.
func choleskySolve(m, t []float64, n int) {
	for j := range n {
		d := m[j*n+j]
		for l := range j {
			d -= m[j*n+l] * m[j*n+l]
		}
		d = math.Sqrt(max(d, 1e-300))
		m[j*n+j] = d
		for i := j + 1; i < n; i++ {
			v := m[i*n+j]
			for l := range j {
				v -= m[i*n+l] * m[j*n+l]
			}
			m[i*n+j] = v / d
		}
	}
	for i := range n { // L y = t
		v := t[i]
		for l := range i {
			v -= m[i*n+l] * t[l]
		}
		t[i] = v / m[i*n+i]
	}
	for i := n - 1; i >= 0; i-- { // Lᵀ t = y
		v := t[i]
		for l := i + 1; l < n; l++ {
			v -= m[l*n+i] * t[l]
		}
		t[i] = v / m[i*n+i]
	}
}
