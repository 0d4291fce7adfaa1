package models

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"circles/data"
	"circles/features"
)

// TestRowSolvesMatchDirectSolve checks every row solve against gonum's
// dense solver on the same normal equations: the reference CG and the
// eigenbasis CG with as many steps as dimensions, and the eigenbasis exact
// path, are exact up to rounding (float64 for the reference, float32 for
// the others).
func TestRowSolvesMatchDirectSolve(t *testing.T) {
	t.Parallel()
	const k, items = 6, 40
	r := rand.New(rand.NewPCG(1, 1))
	Y := mat.NewDense(items, k, nil)
	for i := range items {
		for j := range k {
			Y.Set(i, j, r.NormFloat64())
		}
	}
	cols := []int32{1, 5, 9, 17, 33}
	vals := []float32{2, 1, -3, 0.5, 4} // one explicit negative
	const alpha, lambda = 2.0, 0.3
	G := gram(Y)

	// A = YᵀY + Σ (c−1) y yᵀ + λI, b = Σ c·p·y
	A := mat.NewDense(k, k, append([]float64(nil), G...))
	b := mat.NewVecDense(k, nil)
	for j, c := range cols {
		y := Y.RawRowView(int(c))
		conf := 1 + alpha*math.Abs(float64(vals[j]))
		for p := range k {
			for q := range k {
				A.Set(p, q, A.At(p, q)+(conf-1)*y[p]*y[q])
			}
			if vals[j] > 0 {
				b.SetVec(p, b.AtVec(p)+conf*y[p])
			}
		}
	}
	for p := range k {
		A.Set(p, p, A.At(p, p)+lambda)
	}
	var want mat.VecDense
	if err := want.SolveVec(A, b); err != nil {
		t.Fatal(err)
	}
	check := func(name string, got []float64, tol float64) {
		t.Helper()
		for i := range k {
			if d := math.Abs(got[i] - want.AtVec(i)); d > tol*(1+math.Abs(want.AtVec(i))) {
				t.Errorf("%s: x[%d] = %v, want %v (direct solve)", name, i, got[i], want.AtVec(i))
			}
		}
	}
	got := make([]float64, k)
	newCGSolver(k).solve(got, G, Y.RawMatrix(), cols, vals, alpha, lambda, k+2)
	check("reference CG", got, 1e-8)

	var scratch *gramScratch
	y := newSide(Y)
	Gs, err := gramOf(t.Context(), y, 1, &scratch)
	if err != nil {
		t.Fatal(err)
	}
	sw, err := planEigen(Gs, y.basis, y.basis, DefaultALSParams())
	if err != nil {
		t.Fatal(err)
	}
	if err := y.rotate(t.Context(), sw, 1); err != nil {
		t.Fatal(err)
	}
	back := float32s(sw.Basis)
	rows := y.observed()
	rows.cols = cols
	for _, c := range []struct {
		name     string
		exactMax int
	}{{"eigenbasis exact", len(cols)}, {"eigenbasis CG", 0}} {
		s := newEigenSolver(sw, c.exactMax, lambda)
		s.solve(vals, &rows, alpha, lambda, k+2)
		out := make([]float32, k)
		rotate(out, back, s.x, k)
		for i, v := range out {
			got[i] = float64(v)
		}
		check(c.name, got, 1e-4)
	}
}

// TestExactRows pins the switch between the exact and the CG row solve.
func TestExactRows(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ k, steps, want int }{{64, 3, 16}, {128, 3, 20}, {2, 1, 2}} {
		if got := exactRows(c.k, c.steps); got != c.want {
			t.Errorf("exactRows(%d, %d) = %d, want %d", c.k, c.steps, got, c.want)
		}
	}
}

// TestSolversAgreeWhenExact trains the same model with both row solves
// given enough CG steps to be exact: both are then plain ALS and must
// reach the same factors up to float32 rounding.
func TestSolversAgreeWhenExact(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(9, 9))
	var ts []features.Triple
	for u := range int32(300) {
		for range 1 + r.IntN(40) { // rows on both sides of exactRows
			ts = append(ts, features.Triple{Row: u, Col: int32(r.IntN(120)), Val: 1 + float32(r.IntN(4))})
		}
	}
	R := features.BuildCSR(300, ts)
	Rt := R.Transpose(120)
	p := DefaultALSParams()
	p.Factors, p.Iterations, p.CGSteps = 8, 3, 16
	a, err := TrainALS(t.Context(), &R, &Rt, RowKeys{}, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := TrainALSCG(t.Context(), &R, &Rt, RowKeys{}, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range a.Loss {
		if math.Abs(l-b.Loss[i]) > 1e-4*b.Loss[i] {
			t.Errorf("loss after sweep %d: %v (eigenbasis) vs %v (reference)", i+1, l, b.Loss[i])
		}
	}
	var diff mat.Dense
	diff.Sub(a.Users, b.Users)
	if rel := mat.Norm(&diff, 2) / mat.Norm(b.Users, 2); rel > 1e-3 {
		t.Errorf("user factors differ by %.2g (relative), want ≤ 1e-3", rel)
	}
}

// TestALSRecoversBlocks plants two communities that each consume their own
// half of the items; a trained model must rank each user's unseen
// in-community items above out-of-community items (per-user AUC), and the
// loss must fall across sweeps.
func TestALSRecoversBlocks(t *testing.T) {
	t.Parallel()
	const users, items = 60, 40
	r := rand.New(rand.NewPCG(3, 4))
	var ts []features.Triple
	held := map[[2]int32]bool{}
	for u := range int32(users) {
		lo := int32(0)
		if u >= users/2 {
			lo = items / 2
		}
		for i := lo; i < lo+items/2; i++ {
			if r.Float64() < 0.5 {
				ts = append(ts, features.Triple{Row: u, Col: i, Val: 1 + float32(r.IntN(3))})
			} else {
				held[[2]int32{u, i}] = true
			}
		}
	}
	R := features.BuildCSR(users, ts)
	Rt := R.Transpose(items)
	p := DefaultALSParams()
	p.Factors, p.Iterations = 4, 6
	m, err := TrainALS(t.Context(), &R, &Rt, RowKeys{}, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if last := m.Loss[len(m.Loss)-1]; !(last < m.Loss[0]) {
		t.Errorf("loss did not fall: %v", m.Loss)
	}
	score := func(u, i int32) float64 { return mat.Dot(m.Users.RowView(int(u)), m.Items.RowView(int(i))) }
	sum := 0.0
	for u := range int32(users) {
		var in, out []float64
		for i := range int32(items) {
			inBlock := (u < users/2) == (i < items/2)
			switch {
			case inBlock && held[[2]int32{u, i}]:
				in = append(in, score(u, i))
			case !inBlock:
				out = append(out, score(u, i))
			}
		}
		ordered := 0
		for _, x := range in {
			for _, y := range out {
				if x > y {
					ordered++
				}
			}
		}
		auc := float64(ordered) / float64(max(1, len(in)*len(out)))
		sum += auc
		if len(in) > 0 && auc < 0.8 {
			t.Errorf("user %d: AUC of unseen in-community vs out-of-community items = %.2f, want ≥ 0.8", u, auc)
		}
	}
	if mean := sum / users; mean < 0.95 {
		t.Errorf("mean AUC = %.3f, want ≥ 0.95", mean)
	}
}

// TestALSDeterministicAcrossWorkers checks that parallelism never changes
// the factors.
func TestALSDeterministicAcrossWorkers(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	var ts []features.Triple
	for range 3000 {
		ts = append(ts, features.Triple{Row: int32(r.IntN(500)), Col: int32(r.IntN(200)), Val: float32(r.IntN(5)) - 1})
	}
	R := features.BuildCSR(500, ts)
	Rt := R.Transpose(200)
	p := DefaultALSParams()
	p.Factors, p.Iterations = 8, 3
	p.Workers = 1
	a, err := TrainALS(t.Context(), &R, &Rt, RowKeys{}, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Workers = 4
	b, err := TrainALS(t.Context(), &R, &Rt, RowKeys{}, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !mat.Equal(a.Users, b.Users) || !mat.Equal(a.Items, b.Items) {
		t.Errorf("factors differ between 1 and 4 workers")
	}
}

// BenchmarkALSSweep times one user-side sweep at a realistic shape: 100,000
// users with 30 observations each over 50,000 items, 64 factors, for the
// eigenbasis solve and the reference CG side by side.
func BenchmarkALSSweep(b *testing.B) {
	const users, items, per = 100_000, 50_000, 30
	r := rand.New(rand.NewPCG(7, 8))
	ts := make([]features.Triple, 0, users*per)
	for u := range int32(users) {
		for range per {
			ts = append(ts, features.Triple{Row: u, Col: int32(r.IntN(items)), Val: 1 + float32(r.IntN(5))})
		}
	}
	R := features.BuildCSR(users, ts)
	p := DefaultALSParams()
	Y := mat.NewDense(items, p.Factors, nil)
	for i := range Y.RawMatrix().Data {
		Y.RawMatrix().Data[i] = r.NormFloat64() * 0.1
	}
	for _, solver := range []struct {
		name  string
		sweep func(X *mat.Dense) error
	}{
		{"solve=eigen", func(X *mat.Dense) error {
			var scratch *gramScratch
			return sweepEigen(b.Context(), &R, newSide(Y), newSide(X), items, p, &scratch)
		}},
		{"solve=reference", func(X *mat.Dense) error { return sweepCG(b.Context(), &R, Y, X, p) }},
	} {
		b.Run(solver.name, func(b *testing.B) {
			X := mat.NewDense(users, p.Factors, nil)
			b.ReportAllocs()
			for b.Loop() {
				if err := solver.sweep(X); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(users)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// TestALSStartFollowsKeys trains the same matrix twice, rows of both
// sides in another order and with empty rows added, each row keyed by the
// same key: a row's start depends on its key alone, so the factors of
// every key agree up to the rounding of sums taken in another order. It
// is what lets a partitioned driver reach the local driver's model.
func TestALSStartFollowsKeys(t *testing.T) {
	t.Parallel()
	const users, items = 300, 120
	r := rand.New(rand.NewPCG(11, 12))
	type obs struct {
		u, i int32
		v    float32
	}
	var all []obs
	for u := range int32(users) {
		for range 1 + r.IntN(30) {
			all = append(all, obs{u, int32(r.IntN(items)), 1 + float32(r.IntN(4))})
		}
	}
	train := func(up, ip []int32, nu, ni int) (*ALS, RowKeys) {
		ts := make([]features.Triple, len(all))
		for j, o := range all {
			ts[j] = features.Triple{Row: up[o.u], Col: ip[o.i], Val: o.v}
		}
		keys := RowKeys{Users: make([]uint64, nu), Items: make([]uint64, ni)}
		for u, to := range up {
			keys.Users[to] = UserKey(int64(u))
		}
		for i, to := range ip {
			keys.Items[to] = ItemKey(data.TargetContent, int64(i))
		}
		R := features.BuildCSR(nu, ts)
		Rt := R.Transpose(ni)
		p := DefaultALSParams()
		p.Factors, p.Iterations = 16, 4
		m, err := TrainALS(t.Context(), &R, &Rt, keys, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		return m, keys
	}
	ident := func(n int) []int32 {
		p := make([]int32, n)
		for i := range p {
			p[i] = int32(i)
		}
		return p
	}
	a, _ := train(ident(users), ident(items), users, items)
	// shuffled, with ten empty rows on each side in front
	up, ip := ident(users), ident(items)
	r.Shuffle(users, func(i, j int) { up[i], up[j] = up[j], up[i] })
	r.Shuffle(items, func(i, j int) { ip[i], ip[j] = ip[j], ip[i] })
	for i := range up {
		up[i] += 10
	}
	for i := range ip {
		ip[i] += 10
	}
	b, _ := train(up, ip, users+10, items+10)
	worst := 0.0
	for u := range users {
		worst = max(worst, floats.Distance(a.Users.RawRowView(u), b.Users.RawRowView(int(up[u])), 2)/floats.Norm(a.Users.RawRowView(u), 2))
	}
	for i := range items {
		worst = max(worst, floats.Distance(a.Items.RawRowView(i), b.Items.RawRowView(int(ip[i])), 2)/floats.Norm(a.Items.RawRowView(i), 2))
	}
	if worst > 1e-3 {
		t.Errorf("a row's factors moved by %.2g (relative) when the rows were reordered, want ≤ 1e-3", worst)
	}
	for _, row := range []int{0, 5, 9} {
		if floats.Norm(b.Users.RawRowView(row), 2) != 0 || floats.Norm(b.Items.RawRowView(row), 2) != 0 {
			t.Errorf("empty row %d has a non-zero factor", row)
		}
	}
}

// TestWarmStartIsRotated solves one row by two steps of CG from a warm
// start, through the public sweep kernel and by the reference CG in the
// original basis. CG is invariant under the rotation, so both must give
// the same iterate — which holds only if the warm start, given in the
// solved side's basis, is rotated into the sweep's new basis even when
// both sides were in one basis before the sweep.
func TestWarmStartIsRotated(t *testing.T) {
	t.Parallel()
	const k, items = 6, 40
	r := rand.New(rand.NewPCG(13, 14))
	Y := mat.NewDense(items, k, nil)
	x0 := make([]float64, k)
	for i := range items {
		for j := range k {
			Y.Set(i, j, r.NormFloat64())
		}
	}
	for j := range x0 {
		x0[j] = r.NormFloat64()
	}
	cols := []int32{2, 3, 7, 11, 19, 23, 29, 31}
	vals := []float32{1, 2, 1, 3, 1, 1, 2, 1}
	p := DefaultALSParams()
	p.Factors, p.CGSteps, p.Lambda, p.RegExponent = k, 2, 0.3, 0
	want := append([]float64(nil), x0...)
	newCGSolver(k).solve(want, gram(Y), Y.RawMatrix(), cols, vals, p.Alpha, p.Lambda, p.CGSteps)

	y := newSide(Y)
	var scratch *gramScratch
	G, err := gramOf(t.Context(), y, 1, &scratch)
	if err != nil {
		t.Fatal(err)
	}
	sw, err := PlanSweep(G, y.basis, y.basis, SweepShape{FixedRows: 1, SolvedRows: 100, CGRows: 100}, p)
	if err != nil {
		t.Fatal(err)
	}
	if !sw.RotatesFixed() {
		t.Fatal("the shape should choose the eigen mode")
	}
	if err := y.rotate(t.Context(), sw, 1); err != nil {
		t.Fatal(err)
	}
	x := make([]float32, k)
	for j, v := range x0 {
		x[j] = float32(v)
	}
	obs := y.observed()
	obs.cols = cols
	sw.NewSolver().Solve(x, vals, &obs)
	out := make([]float32, k)
	rotate(out, float32s(sw.Basis), x, k)
	for j := range k {
		if d := math.Abs(float64(out[j]) - want[j]); d > 1e-4*(1+math.Abs(want[j])) {
			t.Errorf("x[%d] = %v, want %v (reference CG from the same start)", j, out[j], want[j])
		}
	}
}

// TestLossSampleFollowsKeys checks the loss sample: every row up to
// lossSample observations; beyond, about one row in nnz/lossSample, the
// same rows whatever their order.
func TestLossSampleFollowsKeys(t *testing.T) {
	const rows = 200_000
	for _, c := range []struct {
		nnz  int
		want float64 // share of rows sampled
	}{{lossSample, 1}, {10 * lossSample, 0.1}, {64 * lossSample, 1.0 / 64}} {
		in := 0
		for id := range int64(rows) {
			if LossSampled(c.nnz, UserKey(id)) {
				in++
			}
		}
		if got := float64(in) / rows; math.Abs(got-c.want) > 0.1*c.want {
			t.Errorf("nnz %d: %.4f of rows sampled, want about %.4f", c.nnz, got, c.want)
		}
	}
}
