package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"circles/data"
	"circles/features"
	"circles/models"
	"circles/output"
	"circles/pipeline"
	"circles/report"
)

// Result is what a run returns besides its files.
type Result struct {
	Dir string // the published run directory
	// AlreadyPublished says the run found the same run (same date,
	// inputs, settings and code) published and published nothing new;
	// Dir and Manifest are that run's.
	AlreadyPublished bool
	Manifest         output.Manifest
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
// The stages are typed functions, each of the outputs of the ones before:
// ingest → features → interests → groups → friends → publish → latest.
// A rerun (cfg.Base) differs only in the base value the stages consult.
//
// log should carry the job and date keys; Run adds run_id.
func Run(ctx context.Context, cfg RunConfig, log *slog.Logger, progress *pipeline.Progress) (res *Result, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	started := time.Now().UTC()
	defaultID := cfg.RunID == ""
	if defaultID {
		cfg.RunID = started.Format("20060102T150405Z")
	}
	p := cfg.Params
	b, err := openBase(cfg)
	if err != nil {
		return nil, err
	}
	inputs, err := InputDigest(data.Local{}, cfg)
	if err != nil {
		return nil, err
	}
	id := identity{config: p.Digest(), inputs: inputs, code: CodeVersion()}
	day := cfg.Date.Format(data.DateLayout)
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
	same, sm, ids, err := publishedRuns(cfg.Output, day, id)
	if err != nil {
		return nil, err
	}
	if defaultID {
		cfg.RunID = unusedRunID(cfg.RunID, ids)
	}
	log = log.With("run_id", cfg.RunID)
	opt := Options{Workers: cfg.Workers, Progress: progress, Log: log}
	if same != nil && b == nil && !cfg.Force {
		log.Info("run already published with the same inputs, settings and code; nothing to do (-force redoes it)", "path", same.Dir)
		res := &Result{Dir: same.Dir, Manifest: sm, AlreadyPublished: true}
		if err := pointLatest(cfg, same.Dir, log); err != nil {
			return res, fmt.Errorf("%w at %s, but %w", ErrAfterPublish, same.Dir, err)
		}
		return res, nil
	}
	newStaging := pipeline.NewStaging
	if ids[cfg.RunID] { // insert-overwrite: the new run replaces the one of this ID
		newStaging = pipeline.NewReplacement
		log.Info("run replaces the published run of the same ID", "path", pipeline.RunDir(cfg.Output, cfg.Date, cfg.RunID))
	}
	st, err := newStaging(cfg.Output, cfg.Date, cfg.RunID)
	if errors.Is(err, pipeline.ErrPublished) {
		return nil, UsageError("-run-id: %v; choose another -run-id", err)
	}
	if err != nil {
		return nil, err
	}
	published := false
	defer func() {
		if !published {
			if aerr := st.Abort(); aerr != nil {
				log.Warn("staging directory not removed; the next run removes it", "path", st.Dir, "err", aerr)
			}
		}
	}()

	r := &pipeline.Runner{Logger: log, Progress: progress}
	in, err := pipeline.Produce(ctx, r, "ingest", func(ctx context.Context) (ingested, error) {
		return ingest(ctx, st, cfg.Input, cfg.Date, p, opt)
	})
	var tooBad *data.TooManyBadRowsError
	if errors.As(err, &tooBad) {
		published = true // keep the staging directory: its rejects.parquet explains the failure
		return nil, fmt.Errorf("%w (staging directory kept at %s until the next run)", err, st.Dir)
	}
	if err != nil {
		return nil, err
	}
	f, err := pipeline.Produce(ctx, r, "features", func(ctx context.Context) (*features.Features, error) {
		return BuildFeatures(ctx, in.Loaded, cfg.Date, p)
	})
	if err != nil {
		return nil, err
	}
	in.Txns, in.Events = nil, nil // no later stage reads raw events
	mi := models.Inputs{Dims: in.Dims, Features: f, Only: b.only(in.Dims)}
	it, err := pipeline.Produce(ctx, r, "interests", func(ctx context.Context) (interests, error) {
		return interestsStage(ctx, st, b, mi, p, opt)
	})
	if err != nil {
		return nil, err
	}
	mi.ALS = it.als
	gs, err := pipeline.Produce(ctx, r, "groups", func(ctx context.Context) (groupsRanked, error) {
		return groupsStage(ctx, st, b, mi, p.Groups, opt)
	})
	if err != nil {
		return nil, err
	}
	fs, err := pipeline.Produce(ctx, r, "friends", func(ctx context.Context) (friendsRanked, error) {
		return friendsStage(ctx, st, b, mi, p.Friends, p.Relations, opt)
	})
	if err != nil {
		return nil, err
	}

	m := output.Manifest{
		Version: output.ManifestVersion, RunID: cfg.RunID, Stamp: pipeline.Stamp{Date: day}, StartedAt: started,
		CodeVersion: id.code, ConfigDigest: id.config, InputDigest: id.inputs, Config: p, Settings: cfg.Settings,
		Inputs: in.Stats, Features: f.Summary, Model: it.model, Relations: fs.relations,
		Suggestions: output.SuggestionStats{
			EligibleUsers:   f.Summary.EligibleUsers,
			UsersWithGroups: gs.groups.users, GroupsPerUser: gs.groups.perUser,
			UsersWithActivity: gs.activities.users, ActivitiesPerUser: gs.activities.perUser,
			UsersWithFriends: fs.friends.users, FriendsPerUser: fs.friends.perUser,
		},
		Base: cfg.Base, Stages: cfg.Stages, UsersRecomputed: len(cfg.Users),
	}
	rows := merged(in.files, it.files, gs.files, fs.files)
	var dir string
	err = r.Stage(ctx, "publish", func(ctx context.Context) error {
		start := time.Now()
		outs, err := st.Describe(rows)
		if err != nil {
			return err
		}
		m.Outputs = outs
		m.PublishedAt = time.Now().UTC()
		// publish so far: checksums; the report, the manifest and the rename take moments
		m.Timings = append(slices.Clone(r.Timings), pipeline.Timing("publish", m.PublishedAt.Sub(start)))
		m.Report = output.FileReport
		page := report.Run{Manifest: m, Kinds: append(slices.Clone(gs.report), fs.report)}
		if err := data.CreateSynced(st.Path(output.FileReport), func(w io.Writer) error { return report.Write(w, page) }); err != nil {
			return err
		}
		entry, err := st.Describe(map[string]int64{output.FileReport: 0})
		if err != nil {
			return err
		}
		m.Outputs = append(m.Outputs, entry...)
		slices.SortFunc(m.Outputs, func(a, b pipeline.FileEntry) int { return strings.Compare(a.Name, b.Name) })
		dir, err = st.Publish(m)
		published = dir != ""
		return err
	})
	if !published {
		return nil, err
	}
	res = &Result{Dir: dir, Manifest: m, Inputs: &models.Inputs{Dims: in.Dims, Features: f, ALS: it.als}}
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
