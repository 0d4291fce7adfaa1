package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"time"

	"circles/data"
	"circles/features"
	"circles/models"
	"circles/output"
	"circles/pipeline"
)

// Result is what a run returns besides its files.
type Result struct {
	Dir      string // the published run directory
	Manifest output.Manifest
	// Inputs of the ranking, kept for callers that explain suggestions
	// (the demo); nil unless the run succeeded.
	Inputs *models.Inputs
}

// ErrAfterPublish marks an error that happened after the run was
// published (the rename of its directory into place, the one commit
// point): the run is complete and visible, but latest or retention may
// not be up to date. The next run under the same root repairs latest.
var ErrAfterPublish = errors.New("run published")

// Run executes every stage for one date and publishes the outputs
// atomically under cfg.Output. An error before the commit point leaves
// nothing published and returns a nil Result; an error after it wraps
// [ErrAfterPublish] and comes with the Result of the published run. An
// interrupt after the commit point is not an error: the run finishes
// pointing latest, which takes moments.
//
// log should carry the job and date keys; Run adds run_id.
func Run(ctx context.Context, cfg RunConfig, log *slog.Logger, progress *pipeline.Progress) (res *Result, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	date, _ := data.ParseDate(cfg.Date)
	if cfg.RunID == "" {
		cfg.RunID = time.Now().UTC().Format("20060102T150405Z")
	}
	p := cfg.Params
	log = log.With("run_id", cfg.RunID)
	r := &pipeline.Runner{Logger: log, Progress: progress}
	unlock, err := pipeline.Lock(cfg.Output)
	if err != nil {
		return nil, err
	}
	defer func() {
		if uerr := unlock(); uerr != nil && err == nil {
			// the run is done, as res says; only the lock file's release failed
			log.Warn("lock not released", "path", filepath.Join(cfg.Output, pipeline.LockName), "err", uerr)
		}
	}()
	// Holding the lock, every staging directory is an orphan of a run that
	// crashed or failed: clear them all.
	left, err := pipeline.ClearLeftovers(cfg.Output)
	for _, name := range left {
		log.Info("leftover removed", "path", filepath.Join(cfg.Output, name))
	}
	if err != nil {
		return nil, err
	}
	st, err := pipeline.NewStaging(cfg.Output, date, cfg.RunID)
	if errors.Is(err, pipeline.ErrPublished) {
		return nil, usageError("-run-id: %v; choose another -run-id", err)
	}
	if err != nil {
		return nil, err
	}
	published := false
	defer func() {
		if !published {
			st.Abort()
		}
	}()

	m := output.Manifest{Version: output.ManifestVersion, RunID: cfg.RunID, Stamp: pipeline.Stamp{Date: cfg.Date}, CodeVersion: codeVersion(), ConfigDigest: p.Digest(), Config: p,
		Base: cfg.Base, Stages: cfg.Stages, UsersRecomputed: len(cfg.Users)}
	var (
		base   *output.Manifest // the run this one builds on, when cfg.Base is set
		listed map[int64]bool   // the users a subset run recomputes (external IDs)
		only   []bool           // the same, by dense index
	)
	if cfg.Base != "" {
		bm, err := output.ReadManifest(cfg.Base)
		if err != nil {
			return nil, usageError("-base: %v", err)
		}
		if bm.Date != cfg.Date {
			return nil, usageError("-base %s is a run of %s, not of -date %s", cfg.Base, bm.Date, cfg.Date)
		}
		base = &bm
	}
	if cfg.Users != nil {
		listed = make(map[int64]bool, len(cfg.Users))
		for _, id := range cfg.Users {
			listed[id] = true
		}
	}
	want := func(stage string) bool { return len(cfg.Stages) == 0 || slices.Contains(cfg.Stages, stage) }
	var (
		in  ingested
		f   *features.Features
		als *models.ALS
	)
	rows := map[string]int64{}
	stages := []struct {
		name string
		fn   func(ctx context.Context) error
	}{
		{"ingest", func(ctx context.Context) error {
			var err error
			in, err = ingest(ctx, cfg, date, r.Progress)
			if err != nil {
				return err
			}
			m.Inputs = in.stats
			for _, s := range in.stats {
				if s.QuarantinedRows() > 0 {
					log.Warn("rows quarantined", "stage", "ingest", "table", s.Table, "rows", s.Read, "bad_rows", s.QuarantinedRows())
				}
			}
			rows[output.FileRejects] = int64(len(in.rejects))
			if err := data.WriteParquet(st.Path(output.FileRejects), in.rejects); err != nil {
				return err
			}
			return data.CheckBadRows(in.stats, p.MaxBadRowFraction)
		}},
		{"features", func(ctx context.Context) error {
			start := data.NewWindow(date, p.WindowDays).StartMillis
			f = features.Build(in.dims, in.txns, in.events, start, p.Features)
			m.Features = f.Summary
			in.txns, in.events = nil, nil // no later stage reads raw events
			if listed != nil {
				only = make([]bool, in.dims.Users.Len())
				for id := range listed {
					if u := in.dims.Users.Lookup(id); u >= 0 {
						only[u] = true
					}
				}
			}
			return nil
		}},
		{"interests", func(ctx context.Context) error {
			ap := p.ALS
			ap.Workers = cfg.Workers
			var err error
			switch {
			case base == nil || (want(StageInterests) && listed == nil):
				rt := f.Signals.Transpose(int(f.Items.N))
				als, err = models.TrainALS(ctx, &f.Signals, &rt, ap, func(it int, loss float64) {
					r.Progress.Update("interests: ALS sweep", it, ap.Iterations)
					log.Debug("als sweep", "stage", "interests", "iter", it, "loss", loss)
				})
				if err != nil {
					return err
				}
				m.Model = output.ModelMetrics{Users: f.Signals.Rows(), Items: int(f.Items.N), Observations: f.Signals.NNZ(), Factors: ap.Factors, Loss: als.Loss}
			case listed == nil: // interests reused as published
				if als, err = baseFactors(cfg.Base, in.dims, f, ap.Factors); err != nil {
					return err
				}
				m.Model = base.Model
				return copyFromBase(st, rows, base, cfg.Base, output.FileInterests, output.FileItemFactors)
			default: // re-solve the listed users in the base model's latent space
				if als, err = baseFactors(cfg.Base, in.dims, f, ap.Factors); err != nil {
					return err
				}
				if err := models.SolveUsers(ctx, &f.Signals, als, only, ap); err != nil {
					return err
				}
				m.Model = base.Model
			}
			ui := userInterests(in.dims, f, als, p.Features.TopTopics)
			if listed != nil {
				if ui, err = mergeWithBase(cfg.Base, output.FileInterests, ui, func(r data.UserInterest) int64 { return r.UserID }, listed); err != nil {
					return err
				}
			}
			items := itemFactors(in.dims, f, als)
			rows[output.FileInterests], rows[output.FileItemFactors] = int64(len(ui)), int64(len(items))
			return errors.Join(data.WriteParquet(st.Path(output.FileInterests), ui), data.WriteParquet(st.Path(output.FileItemFactors), items))
		}},
		{"groups", func(ctx context.Context) error {
			if !want(StageGroups) {
				s := base.Suggestions
				m.Suggestions.UsersWithGroups, m.Suggestions.GroupsPerUser = s.UsersWithGroups, s.GroupsPerUser
				m.Suggestions.UsersWithActivity, m.Suggestions.ActivitiesPerUser = s.UsersWithActivity, s.ActivitiesPerUser
				return copyFromBase(st, rows, base, cfg.Base, output.FileGroups, output.FileGroupsArrow, output.FileActivities, output.FileActivitiesArrow)
			}
			mi := models.Inputs{Dims: in.dims, Features: f, ALS: als, Only: only}
			groups, err := models.RankGroups(ctx, mi, p.Groups, cfg.Workers)
			if err == nil && listed != nil {
				groups, err = mergeWithBase(cfg.Base, output.FileGroups, groups, func(s data.GroupSuggestion) int64 { return s.UserID }, listed)
			}
			if err != nil {
				return err
			}
			m.Suggestions.UsersWithGroups, m.Suggestions.GroupsPerUser = coverage(groups, f.Summary.EligibleUsers, func(s data.GroupSuggestion) int64 { return s.UserID })
			// Each table is written as soon as it is ranked and is then
			// unreachable, so only one table of suggestions is live at a time.
			if err := writeSuggestions(ctx, st, rows, output.FileGroups, output.FileGroupsArrow, "group_id", f.Topics, groups, func(s data.GroupSuggestion) data.SuggestionRow {
				return data.SuggestionRow{UserID: s.UserID, TargetID: s.GroupID, Rank: s.Rank, Score: s.Score, Reasons: s.Reasons}
			}); err != nil {
				return err
			}
			acts, err := models.RankActivities(ctx, mi, p.Groups, cfg.Workers)
			if err == nil && listed != nil {
				acts, err = mergeWithBase(cfg.Base, output.FileActivities, acts, func(s data.ActivitySuggestion) int64 { return s.UserID }, listed)
			}
			if err != nil {
				return err
			}
			m.Suggestions.UsersWithActivity, m.Suggestions.ActivitiesPerUser = coverage(acts, f.Summary.EligibleUsers, func(s data.ActivitySuggestion) int64 { return s.UserID })
			return writeSuggestions(ctx, st, rows, output.FileActivities, output.FileActivitiesArrow, "activity_id", f.Topics, acts, func(s data.ActivitySuggestion) data.SuggestionRow {
				return data.SuggestionRow{UserID: s.UserID, TargetID: s.ActivityID, Rank: s.Rank, Score: s.Score, Reasons: s.Reasons}
			})
		}},
		{"friends", func(ctx context.Context) error {
			if !want(StageFriends) {
				m.Suggestions.UsersWithFriends, m.Suggestions.FriendsPerUser = base.Suggestions.UsersWithFriends, base.Suggestions.FriendsPerUser
				return copyFromBase(st, rows, base, cfg.Base, output.FileFriends, output.FileFriendsArrow)
			}
			friends, err := models.RankFriends(ctx, models.Inputs{Dims: in.dims, Features: f, ALS: als, Only: only}, p.Friends, cfg.Workers)
			if err == nil && listed != nil {
				friends, err = mergeWithBase(cfg.Base, output.FileFriends, friends, func(s data.FriendSuggestion) int64 { return s.UserID }, listed)
			}
			if err != nil {
				return err
			}
			m.Suggestions.UsersWithFriends, m.Suggestions.FriendsPerUser = coverage(friends, f.Summary.EligibleUsers, func(s data.FriendSuggestion) int64 { return s.UserID })
			return writeSuggestions(ctx, st, rows, output.FileFriends, output.FileFriendsArrow, "candidate_id", f.Topics, friends, func(s data.FriendSuggestion) data.SuggestionRow {
				return data.SuggestionRow{UserID: s.UserID, TargetID: s.CandidateID, Rank: s.Rank, Score: s.Score, Reasons: s.Reasons}
			})
		}},
	}
	for _, s := range stages {
		if err := r.Stage(ctx, s.name, s.fn); err != nil {
			var tooBad *data.TooManyBadRowsError
			if errors.As(err, &tooBad) {
				published = true // keep the staging directory: its rejects.parquet explains the failure
				return nil, fmt.Errorf("%w (staging directory kept at %s until the next run)", err, st.Dir)
			}
			return nil, err
		}
	}
	m.Suggestions.EligibleUsers = f.Summary.EligibleUsers
	var dir string
	err = r.Stage(ctx, "publish", func(ctx context.Context) error {
		outs, err := st.Describe(rows)
		if err != nil {
			return err
		}
		m.Outputs = outs
		m.Timings = slices.Clone(r.Timings)
		m.PublishedAt = time.Now().UTC()
		dir, err = st.Publish(m)
		published = dir != ""
		return err
	})
	if !published {
		return nil, err
	}
	res = &Result{Dir: dir, Manifest: m, Inputs: &models.Inputs{Dims: in.dims, Features: f, ALS: als}}
	log.Info("run published", "path", dir, "rows", rows[output.FileFriends]+rows[output.FileGroups]+rows[output.FileActivities])
	// Past the commit point an interrupt no longer aborts: the run is
	// visible, so finish what readers and retention need.
	after := context.WithoutCancel(ctx)
	err = errors.Join(err, r.Stage(after, "latest", func(context.Context) error { return pointLatest(cfg, dir, log) }))
	if err != nil {
		return res, fmt.Errorf("%w at %s, but %w", ErrAfterPublish, dir, err)
	}
	return res, nil
}

// ingested is the output of the ingest stage.
type ingested struct {
	dims    *data.Dims
	txns    [][]data.Txn   // one chunk per file
	events  [][]data.Event // one chunk per file
	stats   []data.TableStats
	rejects []data.Reject
}

// ingest loads the snapshots, then scans the event files of the window in
// parallel, one file per worker, and merges them in file order.
func ingest(ctx context.Context, cfg RunConfig, date time.Time, progress *pipeline.Progress) (ingested, error) {
	p := cfg.Params
	d, err := data.LoadDims(cfg.Input, date)
	if err != nil {
		return ingested{}, err
	}
	out := ingested{dims: d, stats: slices.Clone(d.Stats), rejects: slices.Clone(d.Rejects)}
	// Interactions are read back as far as dismissals last, so an old
	// dismissal still holds; events older than the window only count as
	// negatives.
	intDays := max(p.WindowDays, p.Features.DismissTTLDays)
	txnFiles, err := eventFiles(cfg.Input, d.Contract, data.TableTransactions, date, p.WindowDays)
	if err != nil {
		return ingested{}, err
	}
	intFiles, err := eventFiles(cfg.Input, d.Contract, data.TableInteractions, date, intDays)
	if err != nil {
		return ingested{}, err
	}
	total := len(txnFiles) + len(intFiles)
	var done atomic.Int64
	tick := func() { progress.Update("ingest: files", int(done.Add(1)), total) }
	tb := make([]*data.Batch[data.Txn], len(txnFiles))
	tw := data.NewWindow(date, p.WindowDays)
	if err := pipeline.ForEach(ctx, len(txnFiles), cfg.Workers, func(ctx context.Context, i int) error {
		b, err := data.ScanTransactions(txnFiles[i], d, tw)
		tb[i] = b
		tick()
		return err
	}); err != nil {
		return ingested{}, err
	}
	ib := make([]*data.Batch[data.Event], len(intFiles))
	iw := data.NewWindow(date, intDays)
	if err := pipeline.ForEach(ctx, len(intFiles), cfg.Workers, func(ctx context.Context, i int) error {
		b, err := data.ScanInteractions(intFiles[i], d, iw)
		ib[i] = b
		tick()
		return err
	}); err != nil {
		return ingested{}, err
	}
	var ts, is data.TableStats
	var tr, ir []data.Reject
	out.txns, ts, tr = data.Merge(data.TableTransactions, tb)
	out.events, is, ir = data.Merge(data.TableInteractions, ib)
	ts.Absent, is.Absent = d.Contract.Absent(data.TableTransactions), d.Contract.Absent(data.TableInteractions)
	out.stats = append(out.stats, ts, is)
	out.rejects = append(append(out.rejects, tr...), ir...)
	relativeToInput(cfg.Input, out.stats, out.rejects)
	return out, nil
}

// eventFiles lists the files of an event table's window, none when the
// input contract declares the table absent.
func eventFiles(root string, c data.InputContract, table string, date time.Time, days int) ([]string, error) {
	if c.Absent(table) {
		return nil, nil
	}
	return data.WindowFiles(root, table, date, days)
}

// relativeToInput rewrites the input file paths that the manifest and
// rejects.parquet record as paths relative to the input root, so that the
// outputs do not depend on how -input was spelled (w, ./w, /abs/w).
func relativeToInput(root string, stats []data.TableStats, rejects []data.Reject) {
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
	idx := make([]int, len(f.Topics))
	for _, u := range models.UsersByID(d) {
		if !f.Eligible[u] {
			continue
		}
		vec := make([]float32, k)
		for j, v := range als.Users.RawRowView(int(u)) {
			vec[j] = float32(v)
		}
		row := f.UserTopicRow(u)
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int {
			switch {
			case row[a] > row[b]:
				return -1
			case row[a] < row[b]:
				return 1
			}
			return 0
		})
		var top []data.TopicWeight
		for _, t := range idx[:min(topN, len(idx))] {
			if row[t] > 0 {
				top = append(top, data.TopicWeight{Topic: f.Topics[t], Weight: row[t]})
			}
		}
		out = append(out, data.UserInterest{UserID: d.Users.ID(u), Vector: vec, TopTopics: top})
	}
	return out
}

// writeSuggestions writes one suggestions table as Parquet and as the
// Arrow feed export, both at once (each writer is single-threaded), and
// records both row counts.
func writeSuggestions[T any](ctx context.Context, st *pipeline.Staging, rows map[string]int64, parquetName, arrowName, target string, topics []string, ss []T, row func(T) data.SuggestionRow) error {
	rows[parquetName], rows[arrowName] = int64(len(ss)), int64(len(ss))
	return pipeline.ForEach(ctx, 2, 2, func(ctx context.Context, i int) error {
		if i == 0 {
			return data.WriteParquet(st.Path(parquetName), ss)
		}
		return data.WriteSuggestionsArrow(st.Path(arrowName), target, topics, len(ss), func(i int) data.SuggestionRow { return row(ss[i]) })
	})
}

// coverage counts the users with at least one row (rows are grouped by
// user) and the rows per eligible user, rounded to 3 decimals.
func coverage[T any](rows []T, eligible int, user func(T) int64) (int, float64) {
	users := 0
	for i := range rows {
		if i == 0 || user(rows[i]) != user(rows[i-1]) {
			users++
		}
	}
	if eligible == 0 {
		return users, 0
	}
	return users, math.Round(1000*float64(len(rows))/float64(eligible)) / 1000
}

// codeVersion names the build: the module version and VCS revision when the
// binary carries them.
func codeVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			v += "+" + s.Value
		}
	}
	return v
}

// pointLatest points <output>/latest at the newest published run (by
// date, then publication time: a backfill of an older date never moves it
// back, a rerun of the newest date always moves it), logging when the run
// just published is not the newest, and prunes old runs, never dir.
func pointLatest(cfg RunConfig, dir string, log *slog.Logger) error {
	newest, moved, err := pipeline.UpdateLatest(cfg.Output)
	if err != nil {
		return err
	}
	switch {
	case moved:
		log.Info("latest switched", "path", newest)
	case newest != dir:
		log.Info("latest kept on a newer date", "path", newest)
	}
	removed, err := pipeline.Prune(cfg.Output, cfg.KeepRuns, dir)
	for _, r := range removed {
		log.Info("old run removed", "path", r)
	}
	return err
}
