package night

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"gonum.org/v1/gonum/mat"

	"circles/models"
	"circles/models/f32"
)

// The interest model on Beam: implicit ALS in the blocked layout of
// distributed ALS (in-blocks and out-blocks). The rows of each side are
// dealt into blocks by a hash of their key; a side is one element per
// block. Each block's observations (its in-block) and, for each fixed
// block, which of its rows each solved block needs (its out-block) are
// built once. A sweep then moves one message per pair of blocks that share
// an observation, carrying each needed fixed vector once per block, not
// once per observation, plus a block's own rows: O(blocks²) elements per
// sweep, whatever the number of observations.
//
// Rows start from models.StartRow of their external ID, so partitioning
// never changes a start. Each sweep combines the fixed side's Gram
// matrix, plans the sweep from it with models.PlanSweep (every worker
// plans the same one from the same side input), rotates the fixed rows
// and solves each row with models.RowSolver — the local driver's kernel.

// obsRef is one observation seen from one side: the other row's key and
// the signal.
type obsRef struct {
	Other string
	Val   float32
}

// rowBlock is one block of a side: its rows' keys, ascending, and their
// vectors (k each, in that order).
type rowBlock struct {
	Keys []string
	Vecs []float32
}

// inBlock is one block's observations: row Rows[r] observed Cols[j] with
// Vals[j] for j in [Start[r], Start[r+1]), columns ascending.
type inBlock struct {
	Rows  []string
	Start []int
	Cols  []string
	Vals  []float32
}

// outBlock says, of one fixed block, which rows each solved block needs.
type outBlock struct {
	Targets []int
	Keys    [][]string // ascending, per target
}

// shapeCount counts rows with observations and those solved by CG.
type shapeCount struct {
	Rows, CG int
}

// planRec is what every worker plans a sweep from.
type planRec struct {
	G      []float64 // the fixed side's Gram matrix, k×k row-major (upper triangle)
	Basis  []float64 // the basis both sides are in before the sweep
	Fixed  shapeCount
	Solved shapeCount
	Subset bool // a re-solve of some rows: models.PlanSubset
}

// plan is the sweep's plan, made by models.PlanSweep (PlanSubset).
func (r planRec) plan(p models.ALSParams) (*models.Sweep, error) {
	k := p.Factors
	G := mat.NewSymDense(k, nil)
	for i := range k {
		for j := i; j < k; j++ {
			G.SetSym(i, j, r.G[i*k+j])
		}
	}
	B := mat.NewDense(k, k, slices.Clone(r.Basis))
	if r.Subset {
		return models.PlanSubset(G, B, B, p)
	}
	return models.PlanSweep(G, B, B, models.SweepShape{FixedRows: r.Fixed.Rows, SolvedRows: r.Solved.Rows, CGRows: r.Solved.CG}, p)
}

// basisRec is the basis both sides are in, k×k row-major.
type basisRec struct {
	B []float64
}

// identityBasis is the basis rows start in.
func identityBasis(k int) []float64 {
	b := make([]float64, k*k)
	for i := range k {
		b[i*k+i] = 1
	}
	return b
}

// blockOf is the block of a row.
func blockOf(key string, blocks int) int { return shardOf(key, blocks) }

// blockObs is one observation, in its row's block.
type blockObs struct {
	Row, Col string
	Val      float32
}

// toBlockFn deals observations into their row's block.
type toBlockFn struct {
	Blocks int
}

func (f *toBlockFn) ProcessElement(row string, o obsRef, emit func(int, blockObs)) {
	emit(blockOf(row, f.Blocks), blockObs{Row: row, Col: o.Other, Val: o.Val})
}

// inBlockFn packs one block's observations, sorted by row and column.
func inBlockFn(b int, obs func(*blockObs) bool) (int, inBlock) {
	var all []blockObs
	var o blockObs
	for obs(&o) {
		all = append(all, o)
	}
	slices.SortFunc(all, func(a, b blockObs) int { return cmp.Or(strings.Compare(a.Row, b.Row), strings.Compare(a.Col, b.Col)) })
	in := inBlock{Cols: make([]string, len(all)), Vals: make([]float32, len(all))}
	for j, o := range all {
		if j == 0 || o.Row != all[j-1].Row {
			in.Rows = append(in.Rows, o.Row)
			in.Start = append(in.Start, j)
		}
		in.Cols[j], in.Vals[j] = o.Col, o.Val
	}
	in.Start = append(in.Start, len(all))
	return b, in
}

// need says that a solved block needs one fixed row.
type need struct {
	Key    string
	Target int
}

// needFn turns an observation seen from the fixed side into a need of its
// fixed row's block.
type needFn struct {
	Blocks int
}

func (f *needFn) ProcessElement(fixed string, o obsRef, emit func(int, need)) {
	emit(blockOf(fixed, f.Blocks), need{Key: fixed, Target: blockOf(o.Other, f.Blocks)})
}

// outBlockFn packs one fixed block's needs, each fixed row once per target.
func outBlockFn(b int, needs func(*need) bool) (int, outBlock) {
	by := map[int]map[string]bool{}
	var n need
	for needs(&n) {
		if by[n.Target] == nil {
			by[n.Target] = map[string]bool{}
		}
		by[n.Target][n.Key] = true
	}
	var out outBlock
	for _, t := range slices.Sorted(maps.Keys(by)) {
		keys := make([]string, 0, len(by[t]))
		for k := range by[t] {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out.Targets = append(out.Targets, t)
		out.Keys = append(out.Keys, keys)
	}
	return b, out
}

// startFn gives every row of a block its random start.
type startFn struct {
	P    models.ALSParams
	Side uint64
}

func (f *startFn) ProcessElement(b int, in inBlock) (int, rowBlock) {
	k := f.P.Factors
	out := rowBlock{Keys: in.Rows, Vecs: make([]float32, len(in.Rows)*k)}
	for r, key := range in.Rows {
		kind, id := keyID(key)
		sk := models.UserKey(id)
		if f.Side == models.ItemSide && kind != userKind { // the friend graph's items are users
			sk = models.ItemKey(targetKind(kind), id)
		}
		models.StartRow(out.Vecs[r*k:(r+1)*k], f.P.Seed, f.Side, sk)
	}
	return b, out
}

// countFn counts a block's rows into a shape.
type countFn struct {
	ExactMax int
}

func (f *countFn) ProcessElement(_ int, in inBlock) shapeCount {
	c := shapeCount{Rows: len(in.Rows)}
	for r := range in.Rows {
		if in.Start[r+1]-in.Start[r] > f.ExactMax {
			c.CG++
		}
	}
	return c
}

func addShapes(a, b shapeCount) shapeCount { return shapeCount{a.Rows + b.Rows, a.CG + b.CG} }

// gramFn sums the outer products of the fixed rows, in float64.
type gramFn struct {
	K int
}

func (f *gramFn) CreateAccumulator() []float64 { return make([]float64, f.K*f.K) }

func (f *gramFn) AddInput(g []float64, b rowBlock) []float64 {
	k := f.K
	for r := range b.Keys {
		x := b.Vecs[r*k : (r+1)*k]
		for i, a := range x {
			row := g[i*k : (i+1)*k]
			for j := i; j < k; j++ {
				row[j] += float64(a) * float64(x[j])
			}
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

// planFn assembles a sweep's plan record.
type planFn struct {
	Subset bool
}

func (f *planFn) ProcessElement(g []float64, basis basisRec, fixed, solved shapeCount) planRec {
	return planRec{G: g, Basis: basis.B, Fixed: fixed, Solved: solved, Subset: f.Subset}
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

// rotateFn takes a block of fixed rows into the sweep's basis.
type rotateFn struct {
	P models.ALSParams
	c planned
}

func (f *rotateFn) ProcessElement(b int, rows rowBlock, plan planRec) (int, rowBlock, error) {
	sw, err := f.c.get(plan, f.P)
	if err != nil {
		return 0, rowBlock{}, err
	}
	k := f.P.Factors
	out := rowBlock{Keys: rows.Keys, Vecs: slices.Clone(rows.Vecs)}
	scratch := make([]float32, k)
	for r := range rows.Keys {
		sw.RotateFixed(out.Vecs[r*k:(r+1)*k], scratch)
	}
	return b, out, nil
}

// sendFn sends, from one fixed block, the rows each solved block needs.
type sendFn struct {
	K int
}

func (f *sendFn) ProcessElement(ctx context.Context, _ int, rows func(*rowBlock) bool, outs func(*outBlock) bool, emit func(int, rowBlock)) {
	var rb rowBlock
	var ob outBlock
	if !outs(&ob) {
		return // a block nobody observed
	}
	rows(&rb)
	k := f.K
	zero := make([]float32, k)
	for t, target := range ob.Targets {
		msg := rowBlock{Keys: ob.Keys[t], Vecs: make([]float32, 0, len(ob.Keys[t])*k)}
		for _, key := range ob.Keys[t] {
			// a row the fixed side lacks is an item nobody observed, whose
			// factor is zero, as in the local model: only the cold-start
			// prior's groups are such items
			x := zero
			if r, ok := slices.BinarySearch(rb.Keys, key); ok {
				x = rb.Vecs[r*k : (r+1)*k]
			}
			msg.Vecs = append(msg.Vecs, x...)
		}
		emit(target, msg)
		messages.Inc(ctx, 1)
		vectorBytes.Inc(ctx, int64(4*len(msg.Vecs)))
	}
}

// solveBlockFn solves every row of one block from its in-block, the fixed
// vectors sent to it and the rows' warm starts. On the sweep's second
// half (Sweep > 0), when the solved rows are items, it also adds up the
// loss of the block's observations whose user models.LossSampled picks:
// both sides are then in one basis, so these are the dot products the
// local driver's loss reads, at no extra shuffle.
type solveBlockFn struct {
	P     models.ALSParams
	Sweep int // 1-based, on the half that solves items; 0 on the other
	c     planned
	s     *models.RowSolver
}

func (f *solveBlockFn) ProcessElement(ctx context.Context, b int, msgs func(*rowBlock) bool, ins func(*inBlock) bool, prevs func(*rowBlock) bool, plan planRec, nnz int64, emit func(int, rowBlock), loss func(int, lossRec)) error {
	sw, err := f.c.get(plan, f.P)
	if err != nil {
		return err
	}
	if f.s == nil {
		f.s = sw.NewSolver()
	}
	k := f.P.Factors
	vecs := map[string][]float32{}
	var m rowBlock
	for msgs(&m) {
		for r, key := range m.Keys {
			vecs[key] = m.Vecs[r*k : (r+1)*k]
		}
	}
	var in inBlock
	var prev rowBlock
	if !ins(&in) || !prevs(&prev) {
		return nil // unreachable: a block exists because it has rows
	}
	out := rowBlock{Keys: prev.Keys, Vecs: slices.Clone(prev.Vecs)}
	var cols [][]float32
	var l lossRec
	for r := range in.Rows { // in.Rows and prev.Keys are the same ascending keys
		lo, hi := in.Start[r], in.Start[r+1]
		cols = cols[:0]
		for _, c := range in.Cols[lo:hi] {
			cols = append(cols, vecs[c])
		}
		obs := models.ObservedRows(cols)
		x := out.Vecs[r*k : (r+1)*k]
		f.s.Solve(x, in.Vals[lo:hi], &obs)
		if f.Sweep == 0 {
			continue
		}
		for j, c := range in.Cols[lo:hi] {
			if _, id := keyID(c); models.LossSampled(int(nnz), models.UserKey(id)) {
				e, conf := models.LossTerm(in.Vals[lo+j], f.P.Alpha, f32.Dot64(x, cols[j]))
				l.Num += conf * e * e
				l.Den += conf
			}
		}
	}
	rowsSolved.Inc(ctx, int64(len(in.Rows)))
	emit(b, out)
	if f.Sweep > 0 {
		loss(f.Sweep, l)
	}
	return nil
}

// lossRec is a part of a sweep's loss: Σ c·e² and Σ c.
type lossRec struct {
	Num, Den float64
}

func addLoss(a, b lossRec) lossRec { return lossRec{a.Num + b.Num, a.Den + b.Den} }

// backFn unpacks a block into rows in the original basis.
type backFn struct {
	K int
}

func (f *backFn) ProcessElement(_ int, rb rowBlock, b basisRec, emit func(string, []float32)) {
	k, basis := f.K, b.B
	for r, key := range rb.Keys {
		x := rb.Vecs[r*k : (r+1)*k]
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
}

// side is one side of the factorisation in the pipeline: its blocks of
// rows, its in-blocks (when solved) and out-blocks (when fixed), and its
// shape.
type side struct {
	rows, in, out, shape beam.PCollection
}

// newSide builds a side's static blocks from its observations, keyed by
// its rows, and starts its rows.
func newSide(s beam.Scope, p models.ALSParams, blocks int, tag uint64, obs beam.PCollection) side {
	in := inBlocks(s, shuffleALSBlocks, blocks, obs)
	out := outBlocks(s, shuffleALSBlocks, blocks, obs)
	return side{
		rows:  beam.ParDo(s, &startFn{P: p, Side: tag}, in),
		in:    in,
		out:   out,
		shape: beam.Combine(s, addShapes, beam.ParDo(s, &countFn{ExactMax: p.ExactRows()}, in)),
	}
}

// inBlocks packs observations keyed by their rows into in-blocks; stage
// names the shuffle's meter.
func inBlocks(s beam.Scope, stage string, blocks int, obs beam.PCollection) beam.PCollection {
	return beam.ParDo(s, inBlockFn, beam.GroupByKey(s, metered(s, stage, beam.ParDo(s, &toBlockFn{Blocks: blocks}, obs))))
}

// outBlocks packs observations keyed by their fixed rows into
// out-blocks.
func outBlocks(s beam.Scope, stage string, blocks int, obs beam.PCollection) beam.PCollection {
	return beam.ParDo(s, outBlockFn, beam.GroupByKey(s, metered(s, stage, beam.ParDo(s, &needFn{Blocks: blocks}, obs))))
}

// rowBlocks packs rows (key → vector, k factors) into blocks.
func rowBlocks(s beam.Scope, stage string, blocks, k int, rows beam.PCollection) beam.PCollection {
	return beam.ParDo(s, &rowBlockFn{K: k}, beam.GroupByKey(s, metered(s, stage, beam.ParDo(s, &toRowFn{Blocks: blocks}, rows))))
}

// sweep solves the rows of one side against the fixed one and returns
// both (the fixed side rotated), the basis both are then in, and, when
// lossOf is a sweep's number, that sweep's loss parts keyed by it.
func sweep(s beam.Scope, p models.ALSParams, fixed, solved side, basis, nnz beam.PCollection, lossOf int) (side, side, beam.PCollection, beam.PCollection) {
	return sweepPlanned(s, p, fixed, solved, basis, nnz, lossOf, false)
}

// sweepPlanned is sweep, planned as models.PlanSubset plans a re-solve of
// some rows when subset is set, else as models.PlanSweep plans a sweep.
func sweepPlanned(s beam.Scope, p models.ALSParams, fixed, solved side, basis, nnz beam.PCollection, lossOf int, subset bool) (side, side, beam.PCollection, beam.PCollection) {
	g := beam.Combine(s, &gramFn{K: p.Factors}, beam.DropKey(s, fixed.rows))
	plan := beam.ParDo(s, &planFn{Subset: subset}, g, beam.SideInput{Input: basis}, beam.SideInput{Input: fixed.shape}, beam.SideInput{Input: solved.shape})
	fixed.rows = beam.ParDo(s, &rotateFn{P: p}, fixed.rows, beam.SideInput{Input: plan})
	msgs := beam.ParDo(s, &sendFn{K: p.Factors}, beam.CoGroupByKey(s, metered(s, shuffleALSSweeps, fixed.rows), metered(s, shuffleALSSweeps, fixed.out)))
	var loss beam.PCollection
	solved.rows, loss = beam.ParDo2(s, &solveBlockFn{P: p, Sweep: lossOf}, beam.CoGroupByKey(s, metered(s, shuffleALSSweeps, msgs), metered(s, shuffleALSSweeps, solved.in), metered(s, shuffleALSSweeps, solved.rows)),
		beam.SideInput{Input: plan}, beam.SideInput{Input: nnz})
	return fixed, solved, beam.ParDo(s, &basisFn{P: p}, plan), loss
}
