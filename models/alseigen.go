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

// Sweep is what every row solve of one sweep shares: the fixed side's
// Gram matrix, diagonalised or kept dense, and the rotations between the
// bases the two sides are in. It is built from the Gram matrix and a few
// counts only (PlanSweep), never from the rows themselves, so a driver
// that holds the rows partitioned builds the same one from a combined
// Gram matrix and solves its rows with the same kernel.
type Sweep struct {
	p        ALSParams
	k        int
	exactMax int
	lam      []float64 // eigenvalues, clamped at 0; zero when gram is set
	// gram, when set, is the Gram matrix (row-major) of a fixed side left
	// in its own basis (dense mode): every row is then solved by CG, each
	// step one product with it.
	gram []float32
	qt   []float32 // eigen mode: Qᵀ, taking a fixed row into the eigenbasis
	w    []float32 // the solved side's basis → Basis; nil when they are one
	// Basis is the basis both sides are in once the sweep is done: the
	// fixed side's after its rotation, which the solved rows come out in.
	Basis *mat.Dense
}

// SweepShape is what decides between the eigen and the dense mode.
type SweepShape struct {
	FixedRows  int // rows of the fixed side with observations
	SolvedRows int // rows to solve with observations
	CGRows     int // of which more than ExactRows observations
}

// ExactRows is the largest number of observations a row may have to be
// solved exactly in eigen mode.
func (p ALSParams) ExactRows() int { return exactRows(p.Factors, p.CGSteps) }

// PlanSweep diagonalises G, the Gram matrix of the fixed side (in the
// fixed side's basis fixedBasis), when rotating that side costs less than
// what it saves: rotating the fixed rows (k² each) lets rows with few
// observations be solved exactly and the rest by CG without products with
// the Gram matrix; keeping the fixed side as it is costs one k² product
// per CG step per solved row instead. A wide catalogue solved against few
// users is rotated; few users solved against a wide catalogue that is
// already in their basis are not. solvedBasis is the solved side's basis.
func PlanSweep(G *mat.SymDense, fixedBasis, solvedBasis *mat.Dense, shape SweepShape, p ALSParams) (*Sweep, error) {
	keep := (p.CGSteps+1)*shape.SolvedRows + shape.SolvedRows // each CG step, the warm start's rotation
	if mat.Equal(fixedBasis, solvedBasis) {
		keep -= shape.SolvedRows
	}
	if shape.FixedRows+shape.CGRows < keep {
		return planEigen(G, fixedBasis, solvedBasis, p)
	}
	return planDense(G, fixedBasis, solvedBasis, p), nil
}

// PlanSubset is the plan of a re-solve of some rows against fixed
// factors (the cold-start prior's, a subset recomputation's): always the
// eigen mode, whose cost is the fixed side's rotation, once.
func PlanSubset(G *mat.SymDense, fixedBasis, solvedBasis *mat.Dense, p ALSParams) (*Sweep, error) {
	return planEigen(G, fixedBasis, solvedBasis, p)
}

// planEigen is the eigen mode: the fixed side is to be rotated by Q, the
// eigenvectors of G, into a basis where its Gram matrix is diag(λ).
func planEigen(G *mat.SymDense, fixedBasis, solvedBasis *mat.Dense, p ALSParams) (*Sweep, error) {
	var es mat.EigenSym
	if !es.Factorize(G, true) {
		return nil, errEigen
	}
	s := &Sweep{p: p, k: G.SymmetricDim(), exactMax: p.ExactRows(), lam: es.Values(nil)}
	for l, x := range s.lam {
		s.lam[l] = max(x, 0) // rounding can leave a null direction slightly negative
	}
	var Q mat.Dense
	es.VectorsTo(&Q)
	s.qt = float32s(mat.DenseCopyOf(Q.T()))
	var nb mat.Dense
	nb.Mul(fixedBasis, &Q)
	s.Basis = &nb
	s.setWarm(solvedBasis)
	return s, nil
}

// planDense is the dense mode: the fixed side stays in its basis.
func planDense(G *mat.SymDense, fixedBasis, solvedBasis *mat.Dense, p ALSParams) *Sweep {
	k := G.SymmetricDim()
	s := &Sweep{p: p, k: k, exactMax: p.ExactRows(), lam: make([]float64, k), gram: make([]float32, k*k), Basis: fixedBasis}
	for i := range k {
		for j := range k {
			s.gram[i*k+j] = float32(G.At(i, j))
		}
	}
	s.setWarm(solvedBasis)
	return s
}

// setWarm sets the rotation of warm starts from the solved side's basis
// into the new one, unless they are one.
func (s *Sweep) setWarm(solvedBasis *mat.Dense) {
	if !mat.Equal(s.Basis, solvedBasis) {
		var W mat.Dense
		W.Mul(s.Basis.T(), solvedBasis)
		s.w = float32s(&W)
	}
}

// RotatesFixed reports whether the fixed rows must go through RotateFixed
// before any row is solved.
func (s *Sweep) RotatesFixed() bool { return s.qt != nil }

// RotateFixed takes one fixed row, in place, into the sweep's basis;
// scratch holds k values.
func (s *Sweep) RotateFixed(row, scratch []float32) {
	if s.qt == nil {
		return
	}
	copy(scratch[:s.k], row)
	rotate(row, s.qt, scratch, s.k)
}

// RowSolver holds one goroutine's buffers for solving rows of a sweep.
type RowSolver struct {
	s  *eigenSolver
	sw *Sweep
}

// NewSolver returns buffers for one goroutine.
func (s *Sweep) NewSolver() *RowSolver {
	return &RowSolver{s: newEigenSolver(s, s.exactMax, s.p.Lambda), sw: s}
}

// Observed is the fixed rows one solved row observed, in the sweep's
// basis (after RotateFixed): the rows of a side at some columns (the
// local driver), or rows listed in order (a partitioned driver). It is a
// concrete type, not a function, so that the local rows are gathered by
// one kernel ([f32.Gather]) that overlaps their fetches from memory: the
// gather is bound by memory latency.
type Observed struct {
	x    []float32 // local: the side's rows, row-major
	k    int
	cols []int32 // local: the rows observed
	list [][]float32
}

// ObservedRows is the observed rows given in order.
func ObservedRows(list [][]float32) Observed { return Observed{list: list} }

// Solve overwrites x, a row of the solved side (in that side's basis
// before the sweep: its warm start), with its solution in the sweep's
// Basis, given its observations: vals[j] is the signal on the j-th
// observed fixed row, obs that row. Observations in the same order give
// the same result bit for bit; both drivers sort them by column.
func (r *RowSolver) Solve(x []float32, vals []float32, obs *Observed) {
	s, sw := r.s, r.sw
	switch n := len(vals); {
	case n == 0:
		clear(x) // no evidence: the prior (zero) is the solution
		return
	case !s.warm(n):
	case sw.w != nil:
		rotate(s.x, sw.w, x, sw.k)
	default:
		copy(s.x, x)
	}
	s.solve(vals, obs, sw.p.Alpha, rowLambda(sw.p, len(vals)), sw.p.CGSteps)
	copy(x, s.x)
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

// sweepEigen solves every row of the solved side against the fixed one
// (fixedRows of which have observations), through PlanSweep. Either way
// both sides end in one basis.
func sweepEigen(ctx context.Context, R *features.CSR, fixed, solved *side, fixedRows int, p ALSParams, scratch **gramScratch) error {
	G, err := gramOf(ctx, fixed, p.Workers, scratch)
	if err != nil {
		return err
	}
	sw, err := PlanSweep(G, fixed.basis, solved.basis, shapeOf(R, fixedRows, p), p)
	if err != nil {
		return err
	}
	if err := fixed.rotate(ctx, sw, p.Workers); err != nil {
		return err
	}
	err = pipeline.ForRange(ctx, R.Rows(), p.Workers, 1024, func(lo, hi int) {
		s := sw.NewSolver()
		obs := fixed.observed()
		for u := lo; u < hi; u++ {
			cols, vals := R.Row(int32(u))
			obs.cols = cols
			s.Solve(solved.row(int32(u)), vals, &obs)
		}
	})
	solved.basis = fixed.basis
	return err
}

// shapeOf is the shape of a sweep solving the rows of R.
func shapeOf(R *features.CSR, fixedRows int, p ALSParams) SweepShape {
	shape := SweepShape{FixedRows: fixedRows}
	exactMax := p.ExactRows()
	for u := range R.Rows() {
		if n := R.Start[u+1] - R.Start[u]; n > 0 {
			shape.SolvedRows++
			if n > int64(exactMax) {
				shape.CGRows++
			}
		}
	}
	return shape
}

// nonEmptyRows counts the rows of R with observations.
func nonEmptyRows(R *features.CSR) int {
	n := 0
	for u := range R.Rows() {
		if R.Start[u+1] > R.Start[u] {
			n++
		}
	}
	return n
}

// rotate takes every row of the side into the sweep's basis.
func (y *side) rotate(ctx context.Context, sw *Sweep, workers int) error {
	if sw.RotatesFixed() {
		err := pipeline.ForRange(ctx, y.rows(), workers, 1024, func(lo, hi int) {
			scratch := make([]float32, y.k)
			for i := lo; i < hi; i++ {
				sw.RotateFixed(y.row(int32(i)), scratch)
			}
		})
		if err != nil {
			return err
		}
	}
	y.basis = sw.Basis
	return nil
}

// observed is the side's rows as a solver reads them; set cols per row.
func (y *side) observed() Observed { return Observed{x: y.x, k: y.k} }

// solveSubset re-solves the rows of X (float64, original basis) marked in
// only (all when nil) against fixed Y, warm-started from their values.
func solveSubset(ctx context.Context, R *features.CSR, Y, X *mat.Dense, only []bool, p ALSParams) error {
	var scratch *gramScratch
	y := newSide(Y)
	G, err := gramOf(ctx, y, p.Workers, &scratch)
	if err != nil {
		return err
	}
	sw, err := PlanSubset(G, y.basis, identity(p.Factors), p)
	if err != nil {
		return err
	}
	if err := y.rotate(ctx, sw, p.Workers); err != nil {
		return err
	}
	k := p.Factors
	back := float32s(sw.Basis)
	Xraw := X.RawMatrix()
	return pipeline.ForRange(ctx, R.Rows(), p.Workers, 1024, func(lo, hi int) {
		s := sw.NewSolver()
		obs := y.observed()
		in, out := make([]float32, k), make([]float32, k)
		for u := lo; u < hi; u++ {
			if only != nil && !only[u] {
				continue
			}
			cols, vals := R.Row(int32(u))
			x := Xraw.Data[u*Xraw.Stride : u*Xraw.Stride+k]
			for j, v := range x {
				in[j] = float32(v)
			}
			obs.cols = cols
			s.Solve(in, vals, &obs)
			rotate(out, back, in, k)
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
	b        *Sweep
	exactMax int
	x, rhs   []float32 // the row in the rotated basis; Σ c p y'
	diag     []float32 // Λ + λ_u I
	dinv     []float32 // exact path: its inverse
	r, d, q  []float32 // CG residual, direction, product
	z        []float32 // exact path: D⁻¹ y'_i, row-major n×k
	w        []float32 // exact path: sqrt(c_i − 1)
	m, t     []float64 // exact path: the n×n system and its solution
	g        []float32 // the observed rows y'_i, gathered (n×k)
	gw, gt   []float32 // CG path: their weights c_i − 1; y'_i·v
	// singular: with no regularisation and a null direction of the Gram
	// matrix, D is not invertible and every row takes the CG path.
	singular bool
}

// newEigenSolver returns buffers for rows regularised at least by
// minLambda.
func newEigenSolver(b *Sweep, exactMax int, minLambda float64) *eigenSolver {
	k := b.k
	f := func(n int) []float32 { return make([]float32, n) }
	return &eigenSolver{b: b, exactMax: exactMax, singular: !(minLambda+b.lam[0] > 0), x: f(k), rhs: f(k), diag: f(k), dinv: f(k), r: f(k), d: f(k), q: f(k),
		z: f(exactMax * k), w: f(exactMax), m: make([]float64, exactMax*exactMax), t: make([]float64, exactMax)}
}

// warm reports whether a row with n observations is solved by CG, from
// a warm start the caller puts in s.x (in the new basis).
func (s *eigenSolver) warm(n int) bool { return n > s.exactMax || s.singular || s.b.gram != nil }

// solve leaves the row's solution in the rotated basis in s.x: exact for
// few observations, steps of CG from s.x otherwise. Either way the
// observed rows are gathered first, so that each is fetched from memory
// once, with the fetches overlapping.
func (s *eigenSolver) solve(vals []float32, obs *Observed, alpha, lambda float64, steps int) {
	b := s.b
	for l, e := range b.lam {
		s.diag[l] = float32(e + lambda)
	}
	clear(s.rhs)
	s.gather(vals, obs, alpha)
	// rhs = Σ c_i y'_i over the positive observations, each run of them
	// added in one pass (s.gt is free until the first CG step)
	k := b.k
	for lo := 0; lo < len(vals); {
		if vals[lo] <= 0 {
			lo++
			continue
		}
		hi := lo
		for ; hi < len(vals) && vals[hi] > 0; hi++ {
			s.gt[hi] = float32(1 + alpha*float64(vals[hi]))
		}
		f32.AxpyRows(s.rhs, s.gt[lo:hi], s.g[lo*k:hi*k])
		lo = hi
	}
	if s.warm(len(vals)) {
		s.cg(steps)
		return
	}
	s.exact(vals, alpha)
}

// exact solves (D + W Wᵀ) x = rhs with D = diag, W's columns w_i y'_i,
// by the Woodbury identity: x = D⁻¹rhs − D⁻¹W t, (I + WᵀD⁻¹W) t = WᵀD⁻¹rhs.
func (s *eigenSolver) exact(vals []float32, alpha float64) {
	k, n := s.b.k, len(vals)
	for l, d := range s.diag {
		s.dinv[l] = 1 / d
	}
	for i, v := range vals {
		s.w[i] = float32(math.Sqrt(alpha * math.Abs(float64(v))))
		f32.Mul(s.z[i*k:(i+1)*k], s.g[i*k:(i+1)*k], s.dinv)
	}
	for i := range n {
		yi, zi := s.g[i*k:(i+1)*k], s.z[i*k:(i+1)*k]
		for j := range i + 1 {
			s.m[i*n+j] = float64(s.w[i]) * float64(s.w[j]) * float64(f32.Dot(yi, s.z[j*k:(j+1)*k]))
		}
		s.m[i*n+i]++
		s.t[i] = float64(s.w[i]) * float64(f32.Dot(zi, s.rhs))
	}
	choleskySolve(s.m[:n*n], s.t[:n], n)
	f32.Mul(s.x, s.rhs, s.dinv)
	for i := range n {
		s.gt[i] = -float32(float64(s.w[i]) * s.t[i])
	}
	f32.AxpyRows(s.x, s.gt, s.z[:n*k])
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
// block, with their weights c_i − 1, so that the right-hand side, the
// exact solve and every CG step read them in order: on a fixed side
// larger than the caches each row is fetched from memory once per sweep
// instead of once per step, and [f32.Gather] overlaps those fetches.
func (s *eigenSolver) gather(vals []float32, obs *Observed, alpha float64) {
	k, n := s.b.k, len(vals)
	if cap(s.g) < n*k {
		s.g, s.gw, s.gt = make([]float32, n*k), make([]float32, n), make([]float32, n)
	}
	s.g, s.gw, s.gt = s.g[:n*k], s.gw[:n], s.gt[:n]
	if obs.list == nil {
		f32.Gather(s.g, obs.x, k, obs.cols[:n])
	} else {
		for j, row := range obs.list[:n] {
			copy(s.g[j*k:(j+1)*k], row)
		}
	}
	for j, v := range vals {
		s.gw[j] = float32(alpha * math.Abs(float64(v)))
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
	f32.MulVec(s.gt, s.g, v)
	for j, t := range s.gt {
		s.gt[j] = s.gw[j] * t
	}
	f32.AxpyRows(out, s.gt, s.g)
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
