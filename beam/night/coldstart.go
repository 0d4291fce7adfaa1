package night

import (
	"cmp"
	"context"
	"slices"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"circles/data"
	"circles/models"
)

// The cold-start prior on Beam: the local driver's models.ColdStart,
// keyed by external IDs.
//
//  1. per user: eligibility, groups, hidden groups and signals joined; a
//     user with fewer than min_events positive signals is cold;
//  2. each cold user's friends' groups, counted: the cold user handed to
//     each friend by a join on the friendships, the friend's groups back
//     by a join on the memberships;
//  3. models.ColdPrior's pseudo-observations from those counts and the
//     city's largest groups (a side input: min(city_groups, the city's
//     groups) IDs per city), added to the cold user's own signals;
//  4. one half-sweep that solves the cold users against the trained items,
//     planned as models.PlanSubset plans it, warm-started from their
//     trained vectors; the new vectors replace the old.

// coldRec is what the prior reads of a cold user.
type coldRec struct {
	Events    int32 // items of positive signal
	Own       ownFacts
	SigGroups []int64 // groups the user has any signal on
	Sigs      []itemSig
}

// usable reports whether the prior may give the user group g: active,
// not joined, hidden or signalled.
func (r *coldRec) usable(d *data.Dims, g int64) bool {
	i := d.Groups.Lookup(g)
	return i >= 0 && d.GroupStatus[i] == data.StatusActive && !has(r.Own.Groups, g) && !has(r.Own.HidGroups, g) && !has(r.SigGroups, g)
}

// coldParams is what the cold-start DoFns read of a run.
type coldParams struct {
	Input    string
	Date     int64
	TTLStart int64 // dismissals and hides since then hide a group (millis)
	Cold     models.ColdStartParams
}

// coldStart re-solves the cold users' vectors with the prior; it returns
// the users' factors with the cold users' replaced.
func coldStart(s beam.Scope, cp coldParams, p models.ALSParams, blocks int, impulse, signals, members, friendships, kept, users, items, nnz beam.PCollection) beam.PCollection {
	m := func(c beam.PCollection) beam.PCollection { return metered(s, shuffleColdStart, c) }
	gp := groupsParams{Input: cp.Input, Date: cp.Date}
	facts := beam.Flatten(s, beam.ParDo(s, &eligibleUsersFn{gp}, impulse), beam.ParDo(s, memberFact, members), beam.ParDo(s, &hiddenFn{TTLStart: cp.TTLStart}, kept))
	colds := beam.ParDo(s, &coldUsersFn{P: cp}, beam.CoGroupByKey(s, m(facts), m(beam.ParDo(s, signalOfUser, signals))))

	// friends' groups, of cold users only
	askers := beam.ParDo(s, askFriends, beam.CoGroupByKey(s, m(beam.ParDo(s, coldMarker, colds)), m(beam.ParDo(s, byFirstUser, friendships))))
	counted := beam.CombinePerKey(s, addCount, m(beam.ParDo(s, friendsGroups, beam.CoGroupByKey(s, m(askers), m(members)))))

	// the cities' largest groups
	sizes := beam.CombinePerKey(s, addCount, m(beam.ParDo(s, memberOfGroup, members)))
	cityTop := beam.ParDo(s, groupIDs, beam.CombinePerKey(s, &largestFn{N: cp.Cold.CityGroups}, m(beam.ParDo(s, &citySizeFn{P: cp}, sizes))))

	byUser, byItem := beam.ParDo2(s, &priorFn{P: cp}, beam.CoGroupByKey(s, m(colds), m(beam.ParDo(s, splitGroupCount, counted))), beam.SideInput{Input: cityTop})

	// the re-solve: the cold users against every item
	in := inBlocks(s, shuffleColdStart, blocks, byUser)
	solved := side{in: in, rows: beam.ParDo(s, &warmFn{K: p.Factors}, beam.CoGroupByKey(s, m(in), m(beam.ParDo(s, &toRowFn{Blocks: blocks}, users)))),
		shape: beam.Create(s, shapeCount{})}
	fixed := side{rows: rowBlocks(s, shuffleColdStart, blocks, p.Factors, items), out: outBlocks(s, shuffleColdStart, blocks, byItem), shape: beam.Create(s, shapeCount{})}
	basis := beam.Create(s, basisRec{B: identityBasis(p.Factors)})
	_, solved, basis, _ = sweepPlanned(s, p, fixed, solved, basis, nnz, 0, true)
	cold := beam.ParDo(s, &backFn{K: p.Factors}, solved.rows, beam.SideInput{Input: basis})
	return beam.ParDo(s, preferCold, beam.CoGroupByKey(s, m(users), m(cold)))
}

// signalOfUser keys a signal by its user.
func signalOfUser(pair string, v float64) (int64, itemSig) {
	u, i := splitPair(pair)
	_, id := keyID(u)
	return id, itemSig{Item: i, Val: float32(v)}
}

// coldUsersFn keeps the eligible users with fewer than min_events items
// of positive signal, with what the prior reads of them.
type coldUsersFn struct{ P coldParams }

func (f *coldUsersFn) ProcessElement(ctx context.Context, u int64, facts func(*userFact) bool, sigs func(*itemSig) bool, emit func(int64, coldRec)) {
	own, eligible := readFacts(facts)
	if !eligible {
		return
	}
	r := coldRec{Own: own}
	var s itemSig
	for sigs(&s) {
		if s.Val > 0 {
			r.Events++
		}
		if kind, id := keyID(s.Item); data.TargetKind(kind) == data.TargetGroup {
			r.SigGroups = append(r.SigGroups, id)
		}
		r.Sigs = append(r.Sigs, s)
	}
	if int(r.Events) >= f.P.Cold.MinEvents {
		return
	}
	slices.Sort(r.SigGroups)
	r.SigGroups = slices.Compact(r.SigGroups)
	slices.SortFunc(r.Sigs, func(a, b itemSig) int { return cmp.Compare(a.Item, b.Item) })
	coldUsers.Inc(ctx, 1)
	emit(u, r)
}

func coldMarker(u int64, _ coldRec) (int64, int64) { return u, 0 }

// byFirstUser keys a directed friendship (u, v) by u.
func byFirstUser(pair string, _ int64) (int64, int64) { return splitDirected(pair) }

// askFriends hands a cold user to each of its friends.
func askFriends(u int64, cold func(*int64) bool, friends func(*int64) bool, emit func(int64, int64)) {
	var zero int64
	if !cold(&zero) {
		return
	}
	var v int64
	for friends(&v) {
		emit(v, u)
	}
}

// friendsGroups counts, for each cold user that asked one of its friends,
// each of the friend's groups once.
func friendsGroups(_ int64, askers func(*int64) bool, groups func(*int64) bool, emit func(string, int64)) {
	var gs []int64
	var g int64
	for groups(&g) {
		gs = append(gs, g)
	}
	if len(gs) == 0 {
		return
	}
	var u int64
	for askers(&u) {
		for _, g := range gs {
			emit(directedKey(u, g), 1)
		}
	}
}

func splitGroupCount(pair string, n int64) (int64, models.GroupCount) {
	u, g := splitDirected(pair)
	return u, models.GroupCount{Group: g, N: int(n)}
}

// citySizeFn keys an active group with eligible members by its city.
type citySizeFn struct{ P coldParams }

func (f *citySizeFn) ProcessElement(ctx context.Context, g, n int64, emit func(string, models.GroupCount)) error {
	d, err := loadDims(ctx, f.P.Input, f.P.Date)
	if err != nil {
		return err
	}
	if i := d.Groups.Lookup(g); i >= 0 && d.GroupStatus[i] == data.StatusActive && n > 0 {
		emit(d.Cities.Name(d.GroupCity[i]), models.GroupCount{Group: g, N: int(n)})
	}
	return nil
}

// largestFn keeps the N largest groups (then by ID), in at most 2N per
// accumulator.
type largestFn struct {
	N int
}

func (f *largestFn) CreateAccumulator() []models.GroupCount { return nil }

func (f *largestFn) AddInput(acc []models.GroupCount, g models.GroupCount) []models.GroupCount {
	return f.trim(append(acc, g), 2*f.N)
}

func (f *largestFn) MergeAccumulators(a, b []models.GroupCount) []models.GroupCount {
	return f.trim(append(a, b...), 2*f.N)
}

func (f *largestFn) ExtractOutput(acc []models.GroupCount) []models.GroupCount { return f.trim(acc, 0) }

func (f *largestFn) trim(gs []models.GroupCount, at int) []models.GroupCount {
	return keepBest(gs, f.N, at, func(a, b models.GroupCount) int { return cmp.Or(cmp.Compare(b.N, a.N), cmp.Compare(a.Group, b.Group)) })
}

func groupIDs(city string, gs []models.GroupCount) (string, []int64) {
	ids := make([]int64, len(gs))
	for i, g := range gs {
		ids[i] = g.Group
	}
	return city, ids
}

// priorFn emits a cold user's observations for the re-solve: its own
// signals and models.ColdPrior's pseudo-observations, by user and by
// item.
type priorFn struct {
	P    coldParams
	city map[string][]int64
}

func (f *priorFn) ProcessElement(ctx context.Context, u int64, colds func(*coldRec) bool, counts func(*models.GroupCount) bool, cityTop func(*string, *[]int64) bool,
	byUser, byItem func(string, obsRef)) error {
	d, err := loadDims(ctx, f.P.Input, f.P.Date)
	if err != nil {
		return err
	}
	if f.city == nil {
		f.city = map[string][]int64{}
		var c string
		var ids []int64
		for cityTop(&c, &ids) {
			f.city[c] = ids
		}
	}
	var r coldRec
	if !colds(&r) {
		return nil
	}
	var friendGroups []models.GroupCount
	var g models.GroupCount
	for counts(&g) {
		if r.usable(d, g.Group) {
			friendGroups = append(friendGroups, g)
		}
	}
	row := userKey(u)
	obs := func(item string, v float32) {
		byUser(row, obsRef{Other: item, Val: v})
		byItem(item, obsRef{Other: row, Val: v})
	}
	for _, s := range r.Sigs {
		obs(s.Item, s.Val)
	}
	city := f.city[d.Cities.Name(d.UserCity[d.Users.Lookup(u)])]
	for _, o := range models.ColdPrior(f.P.Cold, int(r.Events), friendGroups, city, func(g int64) bool { return r.usable(d, g) }) {
		obs(itemKey(data.TargetGroup, o.Group), o.Val)
	}
	return nil
}

// keyVec is a row's key and vector.
type keyVec struct {
	Key string
	Vec []float32
}

// toRowFn deals rows into their blocks.
type toRowFn struct {
	Blocks int
}

func (f *toRowFn) ProcessElement(key string, x []float32, emit func(int, keyVec)) {
	emit(blockOf(key, f.Blocks), keyVec{Key: key, Vec: x})
}

// rowBlockFn packs one block's rows, sorted by key.
type rowBlockFn struct {
	K int
}

func (f *rowBlockFn) ProcessElement(b int, rows func(*keyVec) bool) (int, rowBlock) {
	var all []keyVec
	var r keyVec
	for rows(&r) {
		all = append(all, r)
		r = keyVec{}
	}
	slices.SortFunc(all, func(a, b keyVec) int { return cmp.Compare(a.Key, b.Key) })
	out := rowBlock{Keys: make([]string, len(all)), Vecs: make([]float32, 0, len(all)*f.K)}
	for i, r := range all {
		out.Keys[i] = r.Key
		out.Vecs = append(out.Vecs, r.Vec...)
	}
	return b, out
}

// warmFn starts one block of solved rows from their trained vectors (zero
// for a row the model has none of).
type warmFn struct {
	K int
}

func (f *warmFn) ProcessElement(b int, ins func(*inBlock) bool, rows func(*keyVec) bool, emit func(int, rowBlock)) {
	var in inBlock
	if !ins(&in) {
		return
	}
	vecs := map[string][]float32{}
	var r keyVec
	for rows(&r) {
		vecs[r.Key] = r.Vec
		r = keyVec{}
	}
	out := rowBlock{Keys: in.Rows, Vecs: make([]float32, len(in.Rows)*f.K)}
	for i, key := range in.Rows {
		copy(out.Vecs[i*f.K:(i+1)*f.K], vecs[key])
	}
	emit(b, out)
}

// preferCold is a user's re-solved vector where there is one, else its
// trained one.
func preferCold(key string, trained func(*[]float32) bool, cold func(*[]float32) bool, emit func(string, []float32)) {
	var x []float32
	if cold(&x) || trained(&x) {
		emit(key, x)
	}
}

func init() {
	register.DoFn5x0[context.Context, int64, func(*userFact) bool, func(*itemSig) bool, func(int64, coldRec)](&coldUsersFn{})
	register.Function2x2(signalOfUser)
	register.Function2x2(coldMarker)
	register.Function2x2(byFirstUser)
	register.Function4x0(askFriends)
	register.Function4x0(friendsGroups)
	register.Function2x2(splitGroupCount)
	register.DoFn4x1[context.Context, int64, int64, func(string, models.GroupCount), error](&citySizeFn{})
	register.Combiner3[[]models.GroupCount, models.GroupCount, []models.GroupCount](&largestFn{})
	register.Function2x2(groupIDs)
	register.DoFn7x1[context.Context, int64, func(*coldRec) bool, func(*models.GroupCount) bool, func(*string, *[]int64) bool, func(string, obsRef), func(string, obsRef), error](&priorFn{})
	register.DoFn3x0[string, []float32, func(int, keyVec)](&toRowFn{})
	register.DoFn2x2[int, func(*keyVec) bool, int, rowBlock](&rowBlockFn{})
	register.DoFn4x0[int, func(*inBlock) bool, func(*keyVec) bool, func(int, rowBlock)](&warmFn{})
	register.Function4x0(preferCold)
	register.Emitter2[int64, itemSig]()
	register.Emitter2[int64, coldRec]()
	register.Emitter2[string, models.GroupCount]()
	register.Emitter2[int64, models.GroupCount]()
	register.Emitter2[int, keyVec]()
	register.Iter1[coldRec]()
	register.Iter1[models.GroupCount]()
	register.Iter1[keyVec]()
	register.Iter2[string, []int64]()
}
