package jobs

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"circles/data"
	"circles/features"
	"circles/models"
	"circles/output"
	"circles/pipeline"
	"circles/report"
)

// The stages of a run, each a function of the outputs of the ones before
// it. Load, BuildFeatures and TrainInterests are exported for the jobs
// that compute without publishing (offline evaluation, benchmarks); the
// stages that write into a staging directory return the row counts of
// the files they wrote.

// Options are the settings of a run that never change its results.
type Options struct {
	Workers  int                // parallelism, 0 = all cores
	Progress *pipeline.Progress // in-stage progress on a terminal; may be nil
	Log      *slog.Logger       // may be nil: no logs
}

// progress reports a count under the label what on the terminal, if any.
func (o Options) progress(what string) func(done, total int) {
	if o.Progress == nil {
		return nil
	}
	return func(done, total int) { o.Progress.Update(what, done, total) }
}

func (o Options) logger() *slog.Logger {
	if o.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Log
}

// written holds the row count of each file a stage wrote, by file name.
type written map[string]int64

// merged is the union of the files several stages wrote.
func merged(ws ...written) written {
	all := written{}
	for _, w := range ws {
		maps.Copy(all, w)
	}
	return all
}

// Loaded is what Load read: the snapshots and the events of the window,
// validated and interned, with what was quarantined.
type Loaded struct {
	Dims    *data.Dims
	Txns    [][]data.Txn   // one chunk per file
	Events  [][]data.Event // one chunk per file
	Stats   []data.TableStats
	Rejects []data.Reject
}

// Load reads the snapshots of date, then scans the event files of the
// window in parallel, one file per worker, and merges them in file order.
// Paths in the stats and rejects are relative to input.
func Load(ctx context.Context, input string, date time.Time, p output.Params, opt Options) (*Loaded, error) {
	d, err := data.LoadDims(ctx, input, date)
	if err != nil {
		return nil, err
	}
	out := &Loaded{Dims: d, Stats: slices.Clone(d.Stats), Rejects: slices.Clone(d.Rejects)}
	txnFiles, intFiles, err := WindowFiles(data.Local{}, input, d.Contract, date, p)
	if err != nil {
		return nil, err
	}
	intDays := InteractionDays(p)
	total := len(txnFiles) + len(intFiles)
	var done atomic.Int64
	tick := func() { opt.Progress.Update("ingest: files", int(done.Add(1)), total) }
	// each file's batch is merged as soon as every earlier file's is, so
	// that its IDs are released while the rest are scanned
	tm := data.NewMerger[data.Txn](data.TableTransactions, len(txnFiles), data.RowsIn(txnFiles))
	tw := data.NewWindow(date, p.WindowDays)
	if err := pipeline.ForEach(ctx, len(txnFiles), opt.Workers, func(ctx context.Context, i int) error {
		b, err := data.ScanTransactions(txnFiles[i], d, tw)
		if err != nil {
			return err
		}
		tm.Add(i, b)
		tick()
		return nil
	}); err != nil {
		return nil, err
	}
	im := data.NewMerger[data.Event](data.TableInteractions, len(intFiles), data.RowsIn(intFiles))
	iw := data.NewWindow(date, intDays)
	if err := pipeline.ForEach(ctx, len(intFiles), opt.Workers, func(ctx context.Context, i int) error {
		b, err := data.ScanInteractions(intFiles[i], d, iw)
		if err != nil {
			return err
		}
		im.Add(i, b)
		tick()
		return nil
	}); err != nil {
		return nil, err
	}
	var ts, is data.TableStats
	var tr, ir []data.Reject
	out.Txns, ts, tr = tm.Result()
	out.Events, is, ir = im.Result()
	ts.Absent, is.Absent = d.Contract.Absent(data.TableTransactions), d.Contract.Absent(data.TableInteractions)
	out.Stats = append(out.Stats, ts, is)
	out.Rejects = append(append(out.Rejects, tr...), ir...)
	RelativeToInput(input, out.Stats, out.Rejects)
	return out, nil
}

// ingested is the ingest stage's output: what Load read, and the rejects
// file written.
type ingested struct {
	*Loaded
	files written
}

// ingest loads the inputs, writes every quarantined row to rejects.parquet
// and then fails the run if a table has too many bad rows.
func ingest(ctx context.Context, st *pipeline.Staging, input string, date time.Time, p output.Params, opt Options) (ingested, error) {
	in, err := Load(ctx, input, date, p, opt)
	if err != nil {
		return ingested{}, err
	}
	for _, s := range in.Stats {
		if s.QuarantinedRows() > 0 {
			opt.logger().Warn("rows quarantined", "stage", "ingest", "table", s.Table, "rows", s.Read, "bad_rows", s.QuarantinedRows())
		}
	}
	if err := data.WriteParquet(st.Path(output.FileRejects), in.Rejects); err != nil {
		return ingested{}, err
	}
	return ingested{in, written{output.FileRejects: int64(len(in.Rejects))}}, data.CheckBadRows(in.Stats, p.MaxBadRowFraction)
}

// BuildFeatures turns what Load read into the features of the run date:
// signals from the events of the window, topics, ties and policy sets.
func BuildFeatures(ctx context.Context, in *Loaded, date time.Time, p output.Params) (*features.Features, error) {
	return features.Build(ctx, in.Dims, in.Txns, in.Events, data.NewWindow(date, p.WindowDays).StartMillis, p.Features)
}

// TrainInterests trains the interest model on the features' signals and
// gives its cold users the cold-start prior (models.ColdStart).
func TrainInterests(ctx context.Context, d *data.Dims, f *features.Features, p models.ALSParams, cp models.ColdStartParams, opt Options) (*models.ALS, output.ModelMetrics, error) {
	p.Workers = opt.Workers
	rt := f.Signals.Transpose(int(f.Items.N))
	log := opt.logger()
	als, err := models.TrainALS(ctx, &f.Signals, &rt, models.InterestKeys(d, f.Items), p, func(it int, loss float64) {
		opt.Progress.Update("interests: ALS sweep", it, p.Iterations)
		log.Debug("als sweep", "stage", "interests", "iter", it, "loss", loss)
	})
	if err != nil {
		return nil, output.ModelMetrics{}, err
	}
	cold, err := models.ColdStart(ctx, d, f, als, cp, p, nil)
	if err != nil {
		return nil, output.ModelMetrics{}, err
	}
	return als, output.ModelMetrics{Users: f.Signals.Rows(), Items: int(f.Items.N), Observations: f.Signals.NNZ(), Factors: p.Factors, Loss: als.Loss, ColdUsers: cold}, nil
}

// interests is the interests stage's output.
type interests struct {
	als   *models.ALS
	model output.ModelMetrics
	files written
}

// interestsStage trains the interest model, or takes a base run's (copied
// as published, or with the listed users re-solved in its latent space),
// and writes user_interests.parquet and item_factors.parquet.
func interestsStage(ctx context.Context, st *pipeline.Staging, b *baseRun, mi models.Inputs, p output.Params, opt Options) (interests, error) {
	d, f := mi.Dims, mi.Features
	if b.reuses(StageInterests) && !b.subset() {
		als, err := b.factors(d, f, p.ALS.Factors)
		if err != nil {
			return interests{}, err
		}
		files, err := b.copy(st, output.FileInterests, output.FileItemFactors)
		return interests{als, b.m.Model, files}, err
	}
	var out interests
	var err error
	if b.subset() {
		if out.als, err = b.factors(d, f, p.ALS.Factors); err != nil {
			return interests{}, err
		}
		ap := p.ALS
		ap.Workers = opt.Workers
		if err := models.SolveUsers(ctx, &f.Signals, out.als, mi.Only, ap); err != nil {
			return interests{}, err
		}
		if _, err := models.ColdStart(ctx, d, f, out.als, p.ColdStart, ap, mi.Only); err != nil {
			return interests{}, err
		}
		out.model = b.m.Model
	} else if out.als, out.model, err = TrainInterests(ctx, d, f, p.ALS, p.ColdStart, opt); err != nil {
		return interests{}, err
	}
	ui, err := mergeWithBase(b, output.FileInterests, userInterests(d, f, out.als, p.Features.TopTopics), func(r data.UserInterest) int64 { return r.UserID })
	if err != nil {
		return interests{}, err
	}
	items := itemFactors(d, f, out.als)
	out.files = written{output.FileInterests: int64(len(ui)), output.FileItemFactors: int64(len(items))}
	return out, errors.Join(data.WriteParquet(st.Path(output.FileInterests), ui), data.WriteParquet(st.Path(output.FileItemFactors), items))
}

// coverage is how many users got at least one suggestion of a kind, and
// the suggestions per eligible user.
type coverage struct {
	users   int
	perUser float64
}

// groupsRanked is the groups stage's output.
type groupsRanked struct {
	groups, activities coverage
	report             []report.Kind // groups, activities
	files              written
}

// The three suggestions tables.
var (
	groupTable = table[data.GroupSuggestion]{
		parquet: output.FileGroups, arrow: output.FileGroupsArrow, target: "group_id",
		key: func(s data.GroupSuggestion) (int64, float32) { return s.UserID, s.Score },
		row: func(s data.GroupSuggestion) data.SuggestionRow {
			return data.SuggestionRow{UserID: s.UserID, TargetID: s.GroupID, Rank: s.Rank, Score: s.Score, Reasons: s.Reasons}
		},
	}
	activityTable = table[data.ActivitySuggestion]{
		parquet: output.FileActivities, arrow: output.FileActivitiesArrow, target: "activity_id",
		key: func(s data.ActivitySuggestion) (int64, float32) { return s.UserID, s.Score },
		row: func(s data.ActivitySuggestion) data.SuggestionRow {
			return data.SuggestionRow{UserID: s.UserID, TargetID: s.ActivityID, Rank: s.Rank, Score: s.Score, Reasons: s.Reasons}
		},
	}
	friendTable = table[data.FriendSuggestion]{
		parquet: output.FileFriends, arrow: output.FileFriendsArrow, target: data.FriendTarget,
		key: func(s data.FriendSuggestion) (int64, float32) { return s.UserID, s.Score },
		row: func(s data.FriendSuggestion) data.SuggestionRow {
			return data.SuggestionRow{UserID: s.UserID, TargetID: s.CandidateID, Rank: s.Rank, Score: s.Score, Reasons: s.Reasons,
				Relation: s.Relation, RelationProbs: [4]float32{s.PFamily, s.PColleague, s.PClassmate, s.PInterest}}
		},
	}
)

// groupsStage ranks same-city groups and upcoming activities and writes
// each table, as Parquet and as the Arrow feed export, as it is ranked, a
// chunk of users at a time: no table is ever held whole.
func groupsStage(ctx context.Context, st *pipeline.Staging, b *baseRun, mi models.Inputs, p models.GroupParams, opt Options) (groupsRanked, error) {
	eligible := mi.Features.Summary.EligibleUsers
	if b.reuses(StageGroups) {
		s := b.m.Suggestions
		files, err := b.copy(st, output.FileGroups, output.FileGroupsArrow, output.FileActivities, output.FileActivitiesArrow)
		if err != nil {
			return groupsRanked{}, err
		}
		groups, gerr := data.ReadParquet[data.GroupSuggestion](st.Path(output.FileGroups))
		acts, aerr := data.ReadParquet[data.ActivitySuggestion](st.Path(output.FileActivities))
		kinds := []report.Kind{
			kindReport("Groups", tallyOf(mi.Dims, groups, groupTable.key), mi.Features, p.MaxPerUser),
			kindReport("Activities", tallyOf(mi.Dims, acts, activityTable.key), mi.Features, p.MaxPerUser),
		}
		return groupsRanked{coverage{s.UsersWithGroups, s.GroupsPerUser}, coverage{s.UsersWithActivity, s.ActivitiesPerUser}, kinds, files}, errors.Join(gerr, aerr)
	}
	mi.Progress = opt.progress("groups: users")
	gw, groups, err := groupTable.write(ctx, st, mi.Dims, mi.Features.Topics, withBase(b, output.FileGroups, func(emit func([]data.GroupSuggestion) error) error {
		return models.RankGroupsTo(ctx, mi, p, opt.Workers, emit)
	}, groupUser))
	if err != nil {
		return groupsRanked{}, err
	}
	opt.Progress.Done()
	mi.Progress = opt.progress("activities: users")
	aw, acts, err := activityTable.write(ctx, st, mi.Dims, mi.Features.Topics, withBase(b, output.FileActivities, func(emit func([]data.ActivitySuggestion) error) error {
		return models.RankActivitiesTo(ctx, mi, p, opt.Workers, emit)
	}, activityUser))
	if err != nil {
		return groupsRanked{}, err
	}
	return groupsRanked{
		groups:     groups.coverage(eligible),
		activities: acts.coverage(eligible),
		report:     []report.Kind{kindReport("Groups", groups, mi.Features, p.MaxPerUser), kindReport("Activities", acts, mi.Features, p.MaxPerUser)},
		files:      merged(gw, aw),
	}, nil
}

// The user of a row of each table.
func groupUser(s data.GroupSuggestion) int64       { return s.UserID }
func activityUser(s data.ActivitySuggestion) int64 { return s.UserID }
func friendUser(s data.FriendSuggestion) int64     { return s.UserID }

// friendsRanked is the friends stage's output.
type friendsRanked struct {
	friends   coverage
	report    report.Kind
	files     written
	relations output.RelationMetrics
}

// friendsStage trains the relation-type model, ranks people you may know
// and writes them as they are ranked, as Parquet and as the Arrow feed
// export.
func friendsStage(ctx context.Context, st *pipeline.Staging, b *baseRun, mi models.Inputs, p models.FriendParams, rp models.RelationParams, opt Options) (friendsRanked, error) {
	if b.reuses(StageFriends) {
		s := b.m.Suggestions
		files, err := b.copy(st, output.FileFriends, output.FileFriendsArrow)
		if err != nil {
			return friendsRanked{}, err
		}
		friends, err := data.ReadParquet[data.FriendSuggestion](st.Path(output.FileFriends))
		return friendsRanked{coverage{s.UsersWithFriends, s.FriendsPerUser}, kindReport("People you may know", tallyOf(mi.Dims, friends, friendTable.key), mi.Features, p.MaxPerUser), files, b.m.Relations}, err
	}
	rel, rm, err := relationModel(ctx, mi, p, rp)
	if err != nil {
		return friendsRanked{}, err
	}
	mi.Relations = rel
	mi.Progress = opt.progress("friends: users")
	files, friends, err := friendTable.write(ctx, st, mi.Dims, mi.Features.Topics, withBase(b, output.FileFriends, func(emit func([]data.FriendSuggestion) error) error {
		return models.RankFriendsTo(ctx, mi, p, opt.Workers, emit)
	}, friendUser))
	if err != nil {
		return friendsRanked{}, err
	}
	return friendsRanked{friends.coverage(mi.Features.Summary.EligibleUsers), kindReport("People you may know", friends, mi.Features, p.MaxPerUser), files, rm}, nil
}

// relationModel trains the relation-type model, or says why there is none:
// a run whose users labelled too few friendships suggests friends without
// a type, which is not an error.
func relationModel(ctx context.Context, mi models.Inputs, p models.FriendParams, rp models.RelationParams) (*models.RelationModel, output.RelationMetrics, error) {
	m, err := models.TrainRelations(ctx, mi.Dims, mi.Features, p, rp)
	rm, err := RelationMetrics(m, len(mi.Features.FriendLabels), err)
	return m, rm, err
}

// RelationMetrics is what the manifest says of the relation-type model m
// trained on labels labelled friendships, given the error training
// returned: one wrapping models.ErrTooFewLabels is the reason there is no
// model (m is nil), and any other is returned.
func RelationMetrics(m *models.RelationModel, labels int, err error) (output.RelationMetrics, error) {
	rm := output.RelationMetrics{Labels: labels}
	switch {
	case errors.Is(err, models.ErrTooFewLabels):
		rm.Note = err.Error()
		return rm, nil
	case err != nil:
		return rm, err
	}
	rm.Trained, rm.TrainAccuracy, rm.Examples = true, m.TrainAccuracy, map[string]int{}
	for k, n := range m.Examples {
		rm.Examples[models.RelationTypes[k].String()] = n
	}
	return rm, nil
}

// InteractionDays is how far back interactions are read: as far as
// dismissals last, so an old dismissal still holds. Events older than the
// window only count as negatives.
func InteractionDays(p output.Params) int { return max(p.WindowDays, p.Features.DismissTTLDays) }

// WindowFiles lists the event files a run of date reads: transactions of
// the window, interactions of interactionDays. The input tree lies on t.
func WindowFiles(t data.Tree, input string, c data.InputContract, date time.Time, p output.Params) (txns, events []string, err error) {
	if txns, err = eventFiles(t, input, c, data.TableTransactions, date, p.WindowDays); err != nil {
		return nil, nil, err
	}
	events, err = eventFiles(t, input, c, data.TableInteractions, date, InteractionDays(p))
	return txns, events, err
}

// eventFiles lists the files of an event table's window, none when the
// input contract declares the table absent.
func eventFiles(t data.Tree, root string, c data.InputContract, table string, date time.Time, days int) ([]string, error) {
	if c.Absent(table) {
		return nil, nil
	}
	return data.WindowFiles(t, root, table, date, days)
}

// RelativeToInput rewrites the input file paths that the manifest and
// rejects.parquet record as paths relative to the input root, so that the
// outputs do not depend on how -input was spelled (w, ./w, /abs/w).
func RelativeToInput(root string, stats []data.TableStats, rejects []data.Reject) {
	rel := map[string]string{}
	relative := func(path string) string {
		r, ok := rel[path]
		if !ok {
			var err error
			if r, err = filepath.Rel(root, path); err != nil {
				r = path // not under root: cannot happen for files found under it
			}
			r = filepath.ToSlash(r)
			rel[path] = r
		}
		return r
	}
	for i := range stats {
		files := make([]string, len(stats[i].Files))
		for j, f := range stats[i].Files {
			files[j] = relative(f)
		}
		stats[i].Files = files
	}
	for i := range rejects {
		rejects[i].File = relative(rejects[i].File)
	}
}

// userInterests builds one row per eligible user, in user ID order: the
// interest vector and the top topics with positive weight.
func userInterests(d *data.Dims, f *features.Features, als *models.ALS, topN int) []data.UserInterest {
	var out []data.UserInterest
	k := als.Users.RawMatrix().Cols
	for _, u := range models.UsersByID(d) {
		if !f.Eligible[u] {
			continue
		}
		vec := make([]float32, k)
		for j, v := range als.Users.RawRowView(int(u)) {
			vec[j] = float32(v)
		}
		top := features.TopTopics(f.UserTopicRow(u), f.Topics, topN)
		out = append(out, data.UserInterest{UserID: d.Users.ID(u), Vector: vec, TopTopics: top})
	}
	return out
}
