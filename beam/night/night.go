// Package night is the nightly run on Apache Beam: the same kernels as
// the local driver (jobs.Run), partitioned by external IDs, for worlds
// past one machine. It covers ingest (scan, validation, quarantine, the
// duplicate shuffle, rejects and counts), the interest signals and the
// implicit ALS model, each user's topics, group and activity suggestions
// (each user ranked from a neighbourhood record built by joins), and
// friend suggestions (each pair's evidence joined, each user ranked from
// its own and its candidates' profiles) but for their relation type;
// docs/scale-out.md says what it does not cover yet.
package night

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"circles/data"
	"circles/features"
	"circles/jobs"
	"circles/models"
	"circles/output"
	"circles/pipeline"
)

// Output names of the Beam driver's runs. Each is written in shards
// (ShardName); rejects.parquet is one file, as in a local run.
const (
	FileUserFactors = "user_factors"
	FileItemFactors = "item_factors"
	// the local driver's output.FileGroups and FileActivities, in shards
	FileGroups     = "group_suggestions"
	FileActivities = "activity_suggestions"
)

// Counters of the pipeline, reported in the manifest (Manifest.Counters)
// summed over steps: Beam's metrics are handles declared once per
// package, which every worker's DoFns add to.
var (
	rowsRead          = beam.NewCounter("circles", "ingest_rows_read")
	rowsKept          = beam.NewCounter("circles", "ingest_rows_validated")
	duplicates        = beam.NewCounter("circles", "ingest_duplicates")
	observations      = beam.NewCounter("circles", "signals_observations")
	graphObservations = beam.NewCounter("circles", "friend_graph_observations")
	messages          = beam.NewCounter("circles", "als_block_messages")
	vectorBytes       = beam.NewCounter("circles", "als_vector_bytes_sent")
	rowsSolved        = beam.NewCounter("circles", "als_rows_solved")
	coldUsers         = beam.NewCounter("circles", "cold_start_users")
	friendPaths       = beam.NewCounter("circles", "friends_paths")
	friendPairs       = beam.NewCounter("circles", "friends_pairs")
	friendPairsRanked = beam.NewCounter("circles", "friends_pairs_ranked")
)

// Plan is the part of a run the driver settles before the pipeline runs:
// where to read and write, and what.
type Plan struct {
	Input  string
	Date   time.Time
	Params output.Params
	// Staging is the staging directory, or the attempt's prefix on an
	// object store, that every file of the run is written into, the
	// driver's summary (not published) among them.
	Staging string
	Shards  int
	Blocks  int // ALS blocks per side
	// Txns and Ints are the event files of the window in read order.
	Txns, Ints []string
}

// NewPlan lists the files a run of cfg reads from the input tree t, as the
// local driver does. Its Staging is left for the caller to set.
func NewPlan(t data.Tree, cfg jobs.RunConfig, shards, blocks int) (Plan, error) {
	c, err := data.ReadInputContract(t, cfg.Input)
	if err != nil {
		return Plan{}, err
	}
	txns, ints, err := jobs.WindowFiles(t, cfg.Input, c, cfg.Date, cfg.Params)
	if err != nil {
		return Plan{}, err
	}
	return Plan{Input: cfg.Input, Date: cfg.Date, Params: cfg.Params, Shards: shards, Blocks: blocks, Txns: txns, Ints: ints}, nil
}

// Build adds the night to the pipeline of s.
func Build(s beam.Scope, pl Plan) {
	date := pl.Date.UnixMilli()
	p := pl.Params
	var tasks []fileTask
	rel := map[uint8][]string{}
	for _, t := range []struct {
		table uint8
		files []string
	}{{tableTxns, pl.Txns}, {tableInts, pl.Ints}} {
		for i, path := range t.files {
			r := relative(pl.Input, path)
			tasks = append(tasks, fileTask{Table: t.table, Path: path, Rel: r, Order: int32(i)})
			rel[t.table] = append(rel[t.table], r)
		}
	}
	end := pl.Date.AddDate(0, 0, 1).UnixMilli()
	scan := &scanFn{Input: pl.Input, Date: date, WindowEnd: end,
		TxnStart: data.NewWindow(pl.Date, p.WindowDays).StartMillis,
		IntStart: data.NewWindow(pl.Date, jobs.InteractionDays(p)).StartMillis}

	// ingest
	in := s.Scope("ingest")
	files := beam.Reshuffle(in, beam.CreateList(in, tasks))
	rows, scanRejects, stats := beam.ParDo3(in, scan, files)
	kept, dupRejects, dups := beam.ParDo3(in, &dedupFn{Files: rel}, beam.GroupByKey(in, metered(in, shuffleIngest, rows)))
	impulse := beam.Impulse(in)
	snapRejects := beam.ParDo(in, &snapshotRejectsFn{Input: pl.Input, Date: date}, impulse)
	rejects := beam.Flatten(in, snapRejects, scanRejects, dupRejects)
	rejectsWritten := beam.ParDo(in, &writeRejectsFn{Dir: pl.Staging}, beam.GroupByKey(in, metered(in, shuffleIngest, beam.ParDo(in, keyRejects, rejects))))

	// features: the interest signals
	fs := s.Scope("signals")
	sig, facts := beam.ParDo2(fs, &signalFn{Input: pl.Input, Date: date, Now: end,
		FeatureStart: data.NewWindow(pl.Date, p.WindowDays).StartMillis, Params: p.Features}, kept)
	snapMembers := beam.ParDo(fs, &snapshotMembersFn{Input: pl.Input, Date: date}, impulse)
	memberSig, members := beam.ParDo2(fs, &membershipFn{Weight: p.Features.Weights.Member}, beam.CoGroupByKey(fs, metered(fs, shuffleSignals, facts), metered(fs, shuffleSignals, snapMembers)))
	signals := beam.CombinePerKey(fs, sumSignals, metered(fs, shuffleSignals, beam.Flatten(fs, sig, memberSig)))

	nnz := beam.Combine(fs, addCount, beam.ParDo(fs, countOne, signals))

	// the friendships between eligible users, both directions
	friendships := beam.CombinePerKey(fs, addCount, metered(fs, shuffleFriends, beam.ParDo(fs, &friendshipsFn{Input: pl.Input, Date: date}, impulse)))

	// the interest model with the cold-start prior, and each user's topics
	m := trainALS(s.Scope("interests"), p.ALS, pl.Blocks, signals, nnz, false)
	users := m.users
	ttlStart := end - int64(p.Features.DismissTTLDays)*86_400_000 // dismissals from here on stand
	if p.ColdStart.On() {
		cp := coldParams{Input: pl.Input, Date: date, TTLStart: ttlStart, Cold: p.ColdStart}
		users = coldStart(s.Scope("cold_start"), cp, p.ALS, pl.Blocks, impulse, signals, members, friendships, kept, m.users, m.items, nnz)
	}
	ts := s.Scope("topics")
	raw, has := beam.ParDo2(ts, &userTopicsFn{Input: pl.Input, Date: date, Params: p.Features},
		beam.GroupByKey(ts, metered(ts, shuffleTopics, beam.ParDo(ts, userSignal, signals))))
	usersWith := beam.CombinePerKey(ts, addCount, metered(ts, shuffleTopics, has))
	tops, topicRows := beam.ParDo2(ts, &topTopicsFn{Input: pl.Input, Date: date, Params: p.Features, Shards: pl.Shards}, raw, beam.SideInput{Input: usersWith})

	// group and activity suggestions
	gs := s.Scope("groups")
	featureStart := data.NewWindow(pl.Date, p.WindowDays).StartMillis
	gp := groupsParams{Input: pl.Input, Date: date, Now: end, FeatureStart: featureStart,
		Groups: p.Groups, Feat: p.Features, Buckets: pl.Shards, Shards: pl.Shards}
	signups := beam.CombinePerKey(gs, addCount, metered(gs, shuffleGroups, beam.ParDo(gs, &signupFn{gp}, kept)))
	groups, acts := rankGroups(gs, gp, impulse, members, signups, friendships, users, m.items, topicRows, kept)

	// friend suggestions: friends of friends, the friend-graph embedding,
	// and each user's candidates ranked
	fr := s.Scope("friends")
	paths := friendsOfFriends(fr, friendships, p.Friends.MaxFanout)
	var graph model
	if p.Friends.GraphWeight != 0 {
		graphSig := beam.ParDo(fr, graphSignal, friendships)
		graph = trainALS(fr.Scope("graph"), models.FriendGraphParams(p.Friends, 0), pl.Blocks, graphSig, beam.Combine(fr, addCount, beam.ParDo(fr, countOne, graphSig)), true)
	} else { // no embedding, as the local driver trains none
		graph = model{users: beam.ParDo(fr, noFactors, m.users), items: beam.ParDo(fr, noFactors, m.items)}
	}
	fp := friendParams{Input: pl.Input, Date: date, Now: end, FeatureStart: featureStart, TTLStart: ttlStart,
		Friends: p.Friends, Relations: p.Relations, Feat: p.Features, Shards: pl.Shards}
	friends, relParts := rankFriends(fr, fp, impulse, kept, friendships, paths, members, signups, signals, topicRows, users, graph)

	// outputs
	ws := s.Scope("write")
	friendsWritten := beam.ParDo(ws, &writeFriendsFn{Dir: pl.Staging, Shards: pl.Shards}, beam.GroupByKey(ws, metered(ws, shuffleWrite, friends)))
	groupsWritten := beam.ParDo(ws, &writeGroupsFn{Dir: pl.Staging, Shards: pl.Shards}, beam.GroupByKey(ws, metered(ws, shuffleWrite, groups)))
	actsWritten := beam.ParDo(ws, &writeActivitiesFn{Dir: pl.Staging, Shards: pl.Shards}, beam.GroupByKey(ws, metered(ws, shuffleWrite, acts)))
	usersWritten := beam.ParDo(ws, &writeUsersFn{Dir: pl.Staging, Shards: pl.Shards}, beam.GroupByKey(ws, metered(ws, shuffleWrite, beam.Flatten(ws, beam.ParDo(ws, &shardFn{Shards: pl.Shards}, users), tops))))
	itemsWritten := beam.ParDo(ws, &writeItemsFn{Dir: pl.Staging, Shards: pl.Shards}, beam.GroupByKey(ws, metered(ws, shuffleWrite, beam.ParDo(ws, &shardFn{Shards: pl.Shards}, m.items))))
	parts := beam.Flatten(ws,
		beam.ParDo(ws, fileStatsPart, stats), beam.ParDo(ws, dupPart, dups),
		beam.ParDo(ws, writtenPart, beam.Flatten(ws, rejectsWritten, usersWritten, itemsWritten, friendsWritten, groupsWritten, actsWritten)),
		beam.ParDo(ws, usersPart, m.shapes[0]), beam.ParDo(ws, itemsPart, m.shapes[1]), beam.ParDo(ws, nnzPart, nnz), relParts)
	if m.loss.IsValid() {
		parts = beam.Flatten(ws, parts, beam.ParDo(ws, lossPart, m.loss))
	}
	beam.ParDo0(ws, &summaryFn{Dir: pl.Staging, Input: pl.Input, Date: date}, beam.GroupByKey(ws, beam.ParDo(ws, keyZero, parts)))
}

// trainALS trains a model on the summed signals, nnz of them: the
// interest model, or the friend-graph embedding (graph set), whose
// observations are counted apart.
func trainALS(s beam.Scope, p models.ALSParams, blocks int, signals, nnz beam.PCollection, graph bool) model {
	byUser, byItem := beam.ParDo2(s, &splitFn{Graph: graph}, signals)
	u := newSide(s.Scope("users"), p, blocks, models.UserSide, byUser)
	i := newSide(s.Scope("items"), p, blocks, models.ItemSide, byItem)
	basis := beam.Create(s, basisRec{B: identityBasis(p.Factors)})
	var losses []beam.PCollection
	for it := range p.Iterations {
		sw := s.Scope(fmt.Sprintf("sweep%d", it+1))
		var loss beam.PCollection
		i, u, basis, _ = sweep(sw.Scope("users"), p, i, u, basis, nnz, 0)
		u, i, basis, loss = sweep(sw.Scope("items"), p, u, i, basis, nnz, it+1)
		losses = append(losses, loss)
	}
	back := &backFn{K: p.Factors}
	m := model{
		users:  beam.ParDo(s, back, u.rows, beam.SideInput{Input: basis}),
		items:  beam.ParDo(s, back, i.rows, beam.SideInput{Input: basis}),
		shapes: [2]beam.PCollection{u.shape, i.shape},
	}
	if len(losses) > 0 {
		m.loss = beam.CombinePerKey(s, addLoss, beam.Flatten(s, losses...))
	}
	return m
}

// model is what training leaves: the factors of both sides in the
// original basis, the sides' shapes and each sweep's loss parts.
type model struct {
	users, items beam.PCollection
	shapes       [2]beam.PCollection
	loss         beam.PCollection // sweep → lossRec
}

// splitFn gives an observation to both of its rows.
type splitFn struct {
	Graph bool
}

func (f *splitFn) ProcessElement(ctx context.Context, pair string, v float64, byUser, byItem func(string, obsRef)) {
	if f.Graph {
		graphObservations.Inc(ctx, 1)
	} else {
		observations.Inc(ctx, 1)
	}
	u, i := splitPair(pair)
	byUser(u, obsRef{Other: i, Val: float32(v)})
	byItem(i, obsRef{Other: u, Val: float32(v)})
}

func sumSignals(a, b float64) float64 { return a + b }

func countOne(string, float64) int64 { return 1 }

func addCount(a, b int64) int64 { return a + b }

func keyRejects(r rejectRec) (int, rejectRec) { return 0, r }

func targetKind(b byte) data.TargetKind { return data.TargetKind(b) }

// relative is path relative to the input root, as outputs name files.
func relative(root, path string) string {
	st := []data.TableStats{{Files: []string{path}}}
	jobs.RelativeToInput(root, st, nil)
	return st[0].Files[0]
}

func init() {
	register.DoFn5x1[context.Context, fileTask, func(string, rowRec), func(rejectRec), func(fileStats), error](&scanFn{})
	register.DoFn6x0[context.Context, string, func(*rowRec) bool, func(rowRec), func(rejectRec), func(dupCount)](&dedupFn{})
	register.DoFn3x1[context.Context, []byte, func(rejectRec), error](&snapshotRejectsFn{})
	register.DoFn4x1[context.Context, rowRec, func(string, float64), func(string, features.MemberFact), error](&signalFn{})
	register.DoFn3x1[context.Context, []byte, func(string, int64), error](&snapshotMembersFn{})
	register.DoFn5x0[string, func(*features.MemberFact) bool, func(*int64) bool, func(string, float64), func(int64, int64)](&membershipFn{})
	register.DoFn2x2[int, inBlock, int, rowBlock](&startFn{})
	register.DoFn2x1[int, inBlock, shapeCount](&countFn{})
	register.Combiner2[[]float64, rowBlock](&gramFn{})
	register.DoFn1x2[planRec, basisRec, error](&basisFn{})
	register.DoFn3x3[int, rowBlock, planRec, int, rowBlock, error](&rotateFn{})
	register.DoFn5x0[context.Context, int, func(*rowBlock) bool, func(*outBlock) bool, func(int, rowBlock)](&sendFn{})
	register.DoFn9x1[context.Context, int, func(*rowBlock) bool, func(*inBlock) bool, func(*rowBlock) bool, planRec, int64, func(int, rowBlock), func(int, lossRec), error](&solveBlockFn{})
	register.DoFn3x0[string, obsRef, func(int, blockObs)](&toBlockFn{})
	register.DoFn3x0[string, obsRef, func(int, need)](&needFn{})
	register.DoFn4x0[int, rowBlock, basisRec, func(string, []float32)](&backFn{})
	register.Function2x2(inBlockFn)
	register.Function2x2(outBlockFn)
	register.DoFn3x0[string, []float32, func(int, factorRow)](&shardFn{})
	register.Function3x0(userSignal)
	register.DoFn3x1[context.Context, []byte, func(string, int64), error](&friendshipsFn{})
	register.Function2x2(friendOf)
	register.Function2x2(degreeOne)
	register.Combiner3[[]int64, int64, []int64](&fanoutFn{})
	register.Function6x0(pathsFn)
	register.Function2x1(addPaths)
	register.DoFn5x1[context.Context, string, func(*itemSig) bool, func(string, topicRow), func(int32, int64), error](&userTopicsFn{})
	register.DoFn6x1[context.Context, string, topicRow, func(*int32, *int64) bool, func(int, factorRow), func(int64, topicRow), error](&topTopicsFn{})
	register.DoFn4x1[context.Context, int, func(*factorRow) bool, func(pipeline.FileEntry), error](&writeUsersFn{})
	register.DoFn4x1[context.Context, int, func(*factorRow) bool, func(pipeline.FileEntry), error](&writeItemsFn{})
	register.DoFn4x1[context.Context, int, func(*rejectRec) bool, func(pipeline.FileEntry), error](&writeRejectsFn{})
	register.DoFn3x1[context.Context, int, func(*part) bool, error](&summaryFn{})
	register.DoFn4x1[[]float64, basisRec, shapeCount, shapeCount, planRec](&planFn{})
	register.DoFn5x0[context.Context, string, float64, func(string, obsRef), func(string, obsRef)](&splitFn{})
	register.Function2x1(sumSignals)
	register.Function2x1(countOne)
	register.Function2x1(addCount)
	register.Function2x1(addLoss)
	register.Function2x1(lossPart)
	register.Function2x1(addShapes)
	register.Function1x2(keyRejects)
	register.DoFn4x0[context.Context, beam.X, beam.Y, func(beam.X, beam.Y)](&meterFn{})
	register.Emitter2[beam.X, beam.Y]()
	register.Function1x2(keyZero)
	register.Function1x1(fileStatsPart)
	register.Function1x1(dupPart)
	register.Function1x1(writtenPart)
	register.Function1x1(usersPart)
	register.Function1x1(itemsPart)
	register.Function1x1(nnzPart)
	register.Emitter2[string, rowRec]()
	register.Emitter1[rejectRec]()
	register.Emitter1[fileStats]()
	register.Emitter1[dupCount]()
	register.Emitter1[rowRec]()
	register.Emitter2[string, float64]()
	register.Emitter2[string, features.MemberFact]()
	register.Emitter2[string, int64]()
	register.Emitter2[string, []float32]()
	register.Emitter2[string, obsRef]()
	register.Emitter2[int, blockObs]()
	register.Emitter2[int, need]()
	register.Emitter2[int, rowBlock]()
	register.Emitter2[int, lossRec]()
	register.Emitter2[int, factorRow]()
	register.Emitter2[string, itemSig]()
	register.Emitter2[string, topicRow]()
	register.Emitter2[int32, int64]()
	register.Emitter2[string, pathRec]()
	register.Emitter1[pipeline.FileEntry]()
	register.Iter1[rowRec]()
	register.Iter1[features.MemberFact]()
	register.Iter1[int64]()
	register.Iter1[obsRef]()
	register.Iter1[blockObs]()
	register.Iter1[need]()
	register.Iter1[rowBlock]()
	register.Iter1[inBlock]()
	register.Iter1[outBlock]()
	register.Iter1[[]float32]()
	register.Iter1[factorRow]()
	register.Iter1[itemSig]()
	register.Iter2[int32, int64]()
	register.Iter1[[]int64]()
	register.Iter1[pathRec]()
	register.Iter1[rejectRec]()
	register.Iter1[part]()
}
