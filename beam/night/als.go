package night

import (
	"slices"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"gonum.org/v1/gonum/mat"

	"circles/models"
)

// The interest model on Beam: implicit ALS in the layout of distributed
// iALS. Rows of both sides are keyed by external IDs and start from
// models.StartRow of their key, so partitioning never changes a start.
// Each sweep combines the fixed side's Gram matrix, plans the sweep from
// it with models.PlanSweep (every worker plans the same one from the same
// side inputs), rotates the fixed rows, joins them to the observations
// that name them, regroups by solved row and solves each row with
// models.RowSolver — the local driver's kernel.

// obsRef is one observation seen from one side: the other row's key and
// the signal.
type obsRef struct {
	Other string
	Val   float32
}

// obsVec is one observation of a solved row with the fixed row's vector.
type obsVec struct {
	Col string
	Val float32
	Vec []float32
}

// shapeCount counts rows with observations and those solved by CG.
type shapeCount struct {
	Rows, CG int
}

// planRec is what every worker plans a sweep from.
type planRec struct {
	G      []float64 // the fixed side's Gram matrix, k×k row-major
	Basis  []float64 // the basis both sides are in before the sweep
	Fixed  shapeCount
	Solved shapeCount
}

// plan is the sweep's plan, made by models.PlanSweep.
func (r planRec) plan(p models.ALSParams) (*models.Sweep, error) {
	k := p.Factors
	G := mat.NewSymDense(k, nil)
	for i := range k {
		for j := i; j < k; j++ {
			G.SetSym(i, j, r.G[i*k+j])
		}
	}
	B := mat.NewDense(k, k, slices.Clone(r.Basis))
	return models.PlanSweep(G, B, B, models.SweepShape{FixedRows: r.Fixed.Rows, SolvedRows: r.Solved.Rows, CGRows: r.Solved.CG}, p)
}

// identityBasis is the basis rows start in.
func identityBasis(k int) []float64 {
	b := make([]float64, k*k)
	for i := range k {
		b[i*k+i] = 1
	}
	return b
}

// startFn gives each row with observations its random start.
type startFn struct {
	P    models.ALSParams
	Side uint64
}

func (f *startFn) ProcessElement(key string, _ func(*obsRef) bool, emit func(string, []float32)) {
	x := make([]float32, f.P.Factors)
	_, id := keyID(key)
	var k uint64
	if f.Side == models.UserSide {
		k = models.UserKey(id)
	} else {
		kind, _ := keyID(key)
		k = models.ItemKey(targetKind(kind), id)
	}
	models.StartRow(x, f.P.Seed, f.Side, k)
	emit(key, x)
}

// countFn counts one row's observations into a shape.
type countFn struct {
	ExactMax int
}

func (f *countFn) ProcessElement(_ string, obs func(*obsRef) bool) shapeCount {
	n := 0
	var o obsRef
	for obs(&o) {
		n++
	}
	c := shapeCount{Rows: 1}
	if n > f.ExactMax {
		c.CG = 1
	}
	return c
}

func addShapes(a, b shapeCount) shapeCount { return shapeCount{a.Rows + b.Rows, a.CG + b.CG} }

// gramFn sums the outer products of the fixed rows, in float64.
type gramFn struct {
	K int
}

func (f *gramFn) CreateAccumulator() []float64 { return make([]float64, f.K*f.K) }

func (f *gramFn) AddInput(g []float64, x []float32) []float64 {
	k := f.K
	for i, a := range x {
		row := g[i*k : (i+1)*k]
		for j := i; j < k; j++ {
			row[j] += float64(a) * float64(x[j])
		}
	}
	return g
}

func (f *gramFn) MergeAccumulators(a, b []float64) []float64 {
	for i, v := range b {
		a[i] += v
	}
	return a
}

// basisRec is the basis both sides are in, k×k row-major.
type basisRec struct {
	B []float64
}

// planInFn assembles a sweep's plan record.
func planInFn(g []float64, basis basisRec, fixed, solved shapeCount) planRec {
	return planRec{G: g, Basis: basis.B, Fixed: fixed, Solved: solved}
}

// planned caches a sweep's plan in a DoFn instance: every instance of a
// step plans from the same side input and gets the same plan.
type planned struct {
	sw  *models.Sweep
	err error
}

func (c *planned) get(r planRec, p models.ALSParams) (*models.Sweep, error) {
	if c.sw == nil && c.err == nil {
		c.sw, c.err = r.plan(p)
	}
	return c.sw, c.err
}

// basisFn is the basis a sweep leaves both sides in.
type basisFn struct {
	P models.ALSParams
}

func (f *basisFn) ProcessElement(r planRec) (basisRec, error) {
	sw, err := r.plan(f.P)
	if err != nil {
		return basisRec{}, err
	}
	return basisRec{B: mat.DenseCopyOf(sw.Basis).RawMatrix().Data}, nil
}

// rotateFn takes the fixed rows into the sweep's basis.
type rotateFn struct {
	P models.ALSParams
	c planned
}

func (f *rotateFn) ProcessElement(key string, x []float32, plan planRec, emit func(string, []float32)) error {
	sw, err := f.c.get(plan, f.P)
	if err != nil {
		return err
	}
	y := slices.Clone(x)
	sw.RotateFixed(y, make([]float32, len(y)))
	emit(key, y)
	return nil
}

// fanOutFn sends a fixed row to every row that observed it.
func fanOutFn(col string, obs func(*obsRef) bool, rows func(*[]float32) bool, emit func(string, obsVec)) {
	var vec []float32
	if !rows(&vec) {
		return // unreachable: every observed row has a vector
	}
	var o obsRef
	for obs(&o) {
		emit(o.Other, obsVec{Col: col, Val: o.Val, Vec: vec})
	}
}

// solveFn solves one row from its observations and its warm start.
type solveFn struct {
	P models.ALSParams
	c planned
	s *models.RowSolver
}

func (f *solveFn) ProcessElement(key string, obs func(*obsVec) bool, prev func(*[]float32) bool, plan planRec, emit func(string, []float32)) error {
	sw, err := f.c.get(plan, f.P)
	if err != nil {
		return err
	}
	if f.s == nil {
		f.s = sw.NewSolver()
	}
	var rows []obsVec
	var o obsVec
	for obs(&o) {
		rows = append(rows, o)
	}
	var x []float32
	if !prev(&x) {
		return nil // unreachable: every row with observations has a start
	}
	// the local driver sorts observations by column; here the column is
	// the fixed row's key
	slices.SortFunc(rows, func(a, b obsVec) int { return strings.Compare(a.Col, b.Col) })
	vals := make([]float32, len(rows))
	for j, r := range rows {
		vals[j] = r.Val
	}
	x = slices.Clone(x)
	f.s.Solve(x, vals, func(j int) []float32 { return rows[j].Vec })
	emit(key, x)
	return nil
}

// backFn rotates a row into the original basis.
type backFn struct {
	K int
}

func (f *backFn) ProcessElement(key string, x []float32, b basisRec, emit func(string, []float32)) {
	k, basis := f.K, b.B
	out := make([]float32, k)
	for i := range k {
		var s float64
		for j := range k {
			s += basis[i*k+j] * float64(x[j])
		}
		out[i] = float32(s)
	}
	emit(key, out)
}

// sweep solves the rows of one side (solved, with their observations
// keyed by the fixed side in byFixed) against the fixed side, and returns
// the solved side and the basis both sides are then in.
func sweep(s beam.Scope, p models.ALSParams, fixed, solved, byFixed beam.PCollection, fixedShape, solvedShape, basis beam.PCollection) (beam.PCollection, beam.PCollection, beam.PCollection) {
	g := beam.Combine(s, &gramFn{K: p.Factors}, beam.DropKey(s, fixed))
	plan := beam.ParDo(s, planInFn, g, beam.SideInput{Input: basis}, beam.SideInput{Input: fixedShape}, beam.SideInput{Input: solvedShape})
	rotated := beam.ParDo(s, &rotateFn{P: p}, fixed, beam.SideInput{Input: plan})
	fanned := beam.ParDo(s, fanOutFn, beam.CoGroupByKey(s, byFixed, rotated))
	next := beam.ParDo(s, &solveFn{P: p}, beam.CoGroupByKey(s, fanned, solved), beam.SideInput{Input: plan})
	return next, rotated, beam.ParDo(s, &basisFn{P: p}, plan)
}
