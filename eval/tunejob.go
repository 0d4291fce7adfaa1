package eval

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"circles/data"
	"circles/datasets"
	"circles/jobs"
	"circles/models"
	"circles/output"
	"circles/quality"
)

// The tuning job (circles tune): the search of eval's tuning, run on the
// production inputs with a time-based validation. Everything up to the
// end of day D−k trains; what appears in the last k days validates: the
// friendships made, the groups joined and the content first engaged with.
// The tuned settings are checked against the base settings on those days
// and written, with the validation, to a settings file (output.Settings)
// that circles run -settings and the scheduler load.

// TuneJobConfig configures the tuning job.
type TuneJobConfig struct {
	Input       string    // the production input root
	Date        time.Time // the last day of the inputs to use
	Out         string    // the settings file to write (replaced whole)
	Base        output.Params
	HoldoutDays int // days at the end that validate, 1..60
	Trials      int // bound on the settings tried, 0 = none
	Workers     int
	Work        string // scratch; default a temporary directory, removed after
	Seed        uint64
}

// DefaultHoldoutDays is the validation window of a tuning job.
const DefaultHoldoutDays = 7

// Concentration guard: tuned settings are refused for a task when they
// cut coverage@20 below guardCoverage of the base settings', or raise the
// share of suggestions going to the top 1% of candidates by more than
// guardTop1 (absolute).
const (
	guardCoverage = 0.8
	guardTop1     = 0.05
)

// minTaskUsers is the fewest validation users for a task to be tuned on.
const minTaskUsers = 20

// TuneJob tunes on cfg.Input and writes cfg.Out.
func TuneJob(ctx context.Context, cfg TuneJobConfig, log *slog.Logger) (*output.Settings, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log = log.With("job", "tune", "date", cfg.Date.Format(data.DateLayout))
	if cfg.Work == "" {
		dir, err := os.MkdirTemp("", "circles-tune-")
		if err != nil {
			return nil, err
		}
		defer removeScratch(log, dir)
		cfg.Work = dir
	}
	digest, err := jobs.InputDigest(data.Local{}, jobs.RunConfig{Input: cfg.Input, Date: cfg.Date, Params: cfg.Base})
	if err != nil {
		return nil, err
	}
	all, err := data.ReadTables(cfg.Input, cfg.Date)
	if err != nil {
		return nil, err
	}
	cut := cfg.Date.AddDate(0, 0, 1-cfg.HoldoutDays)
	train, val := splitByTime(all, cut.UnixMilli(), cfg.Date.AddDate(0, 0, 1).UnixMilli())
	trainDate := cut.AddDate(0, 0, -1)
	sum := &datasets.Summary{Date: trainDate.Format(data.DateLayout), WindowDays: cfg.Base.WindowDays, Days: jobs.InteractionDays(cfg.Base), Timed: true}
	for _, task := range []string{datasets.TaskInterests, datasets.TaskGroups, datasets.TaskFriends} {
		if n := len(val[task].Truth); n >= minTaskUsers {
			sum.Tasks = append(sum.Tasks, task)
		} else {
			delete(val, task)
			log.Info("task not tuned: too few users in the held-out days", "task", task, "users", n, "want", minTaskUsers)
		}
	}
	if len(sum.Tasks) == 0 {
		return nil, fmt.Errorf("-input %s: nothing to tune on: fewer than %d users made a friendship, joined a group or engaged with new content in the last %d days (%w)", cfg.Input, minTaskUsers, cfg.HoldoutDays, data.ErrBadInput)
	}
	e := &evaluator{cfg: Config{Work: cfg.Work, Seed: cfg.Seed, TuneTrials: cfg.Trials, Workers: cfg.Workers}, sum: sum, date: trainDate, log: log}
	wide := widened(cfg.Base)
	tuned, trials, notes, err := e.tune(ctx, train, val, wide)
	if err != nil {
		return nil, err
	}
	log.Info("tuning done", "trials", len(trials))
	tuned = narrowed(tuned, cfg.Base)

	// validate tuned against base on the held-out days, and guard
	input := e.tuneInput()
	base, err := e.run(ctx, input, filepath.Join(cfg.Work, "validate-base"), widened(cfg.Base))
	if err != nil {
		return nil, err
	}
	got, err := e.run(ctx, input, filepath.Join(cfg.Work, "validate-tuned"), widened(tuned))
	if err != nil {
		return nil, err
	}
	s := &output.Settings{CreatedAt: time.Now().UTC().Truncate(time.Second), CodeVersion: jobs.CodeVersion(), Date: cfg.Date.Format(data.DateLayout),
		HoldoutDays: cfg.HoldoutDays, InputDigest: digest, Notes: notes}
	for _, task := range sum.Tasks {
		v, err := validateTask(ctx, task, val[task].Truth, catalogue(all, task), base.Inputs, got.Inputs, cfg.Base, tuned, cfg.Workers)
		if err != nil {
			return nil, err
		}
		if !v.Accepted {
			log.Warn("tuned settings refused", "task", task, "reason", v.Reason)
			switch task {
			case datasets.TaskFriends:
				tuned.Friends = cfg.Base.Friends
			case datasets.TaskGroups:
				tuned.Groups = cfg.Base.Groups
			}
		}
		s.Validation = append(s.Validation, v)
	}
	s.Params = tuned
	if err := output.WriteSettings(cfg.Out, s); err != nil {
		return nil, err
	}
	log.Info("settings written", "path", cfg.Out, "digest", s.Digest)
	return s, nil
}

func (c TuneJobConfig) validate() error {
	if st, err := os.Stat(c.Input); c.Input == "" || err != nil || !st.IsDir() {
		return jobs.UsageError("-input %q: not a directory", c.Input)
	}
	if c.Date.IsZero() {
		return jobs.UsageError("-date is required")
	}
	if c.HoldoutDays < 1 || c.HoldoutDays > 60 {
		return jobs.UsageError("-holdout-days = %d: want 1..60", c.HoldoutDays)
	}
	if c.Trials < 0 {
		return jobs.UsageError("-tune-trials = %d: want ≥ 0 (0 = no bound)", c.Trials)
	}
	if err := output.CheckSettingsPath(c.Out); err != nil {
		return jobs.UsageError("-out %v", err)
	}
	if err := c.Base.Validate(); err != nil {
		return jobs.UsageError("%v", err)
	}
	return nil
}

// widened is p with what an offline evaluation needs (see evalParams):
// lists of quality.MaxK, no score floor, no fan-out cap.
func widened(p output.Params) output.Params {
	p.Friends.MaxPerUser, p.Groups.MaxPerUser = quality.MaxK, quality.MaxK
	p.Friends.MaxFanout = 100000
	p.Groups.MinScore = 0
	p.Groups.PopularCandidates, p.Groups.PerTopicCandidates = 100000, 100000
	return p
}

// narrowed is tuned with base's production limits that widened replaced.
func narrowed(tuned, base output.Params) output.Params {
	tuned.Friends.MaxPerUser, tuned.Groups.MaxPerUser = base.Friends.MaxPerUser, base.Groups.MaxPerUser
	tuned.Friends.MaxFanout = base.Friends.MaxFanout
	tuned.Groups.MinScore = base.Groups.MinScore
	tuned.Groups.PopularCandidates, tuned.Groups.PerTopicCandidates = base.Groups.PopularCandidates, base.Groups.PerTopicCandidates
	tuned.WindowDays = base.WindowDays
	return tuned
}

// splitByTime splits t at cut (millis): rows before it train; the
// friendships made, memberships and joins started, and content first
// engaged with from cut until end validate.
func splitByTime(t *data.Tables, cut, end int64) (*data.Tables, evalTasks) {
	train := *t
	in := func(at int64) bool { return at >= cut && at < end }
	// friendships: a pair whose every friend row is new is a new friendship
	oldFriends := map[quality.Pair]bool{}
	for _, r := range t.Relations {
		if r.Kind == "friend" && r.CreatedAtMillis < cut {
			oldFriends[quality.Edge(r.UserID, r.OtherID)] = true
		}
	}
	newFriends := map[quality.Pair]bool{}
	for _, r := range t.Relations {
		if e := quality.Edge(r.UserID, r.OtherID); r.Kind == "friend" && e.A != e.B && in(r.CreatedAtMillis) && !oldFriends[e] {
			newFriends[e] = true
		}
	}
	train.Relations = slices.DeleteFunc(slices.Clone(t.Relations), func(r data.RelationRow) bool {
		return r.Kind == "friend" && newFriends[quality.Edge(r.UserID, r.OtherID)]
	})
	train.Transactions = slices.DeleteFunc(slices.Clone(t.Transactions), func(x data.Transaction) bool { return x.TimeMillis >= cut })
	train.Interactions = slices.DeleteFunc(slices.Clone(t.Interactions), func(x data.Interaction) bool { return x.TimeMillis >= cut })
	// groups: memberships that began in the held-out days, and joins then
	oldMember := map[quality.Pair]bool{}
	for _, m := range t.Memberships {
		if m.JoinedAtMillis < cut {
			oldMember[quality.Pair{A: m.UserID, B: m.GroupID}] = true
		}
	}
	joined := map[quality.Pair]bool{}
	for _, m := range t.Memberships {
		if p := (quality.Pair{A: m.UserID, B: m.GroupID}); in(m.JoinedAtMillis) && !oldMember[p] {
			joined[p] = true
		}
	}
	seen := map[quality.Pair]bool{} // content engaged with before the cut
	for _, x := range train.Interactions {
		if x.TargetKind == "content" {
			seen[quality.Pair{A: x.UserID, B: x.TargetID}] = true
		}
	}
	engaged := map[quality.Pair]bool{}
	for _, x := range t.Interactions {
		p := quality.Pair{A: x.UserID, B: x.TargetID}
		switch {
		case !in(x.TimeMillis) || negativeAction(x.Action):
		case x.TargetKind == "group" && x.Action == "join" && !oldMember[p]:
			joined[p] = true
		case x.TargetKind == "content" && !seen[p]:
			engaged[p] = true
		}
	}
	train.Memberships = slices.DeleteFunc(slices.Clone(t.Memberships), func(m data.MembershipRow) bool {
		return joined[quality.Pair{A: m.UserID, B: m.GroupID}]
	})
	friendTruth := map[quality.Pair]bool{}
	for e := range newFriends {
		friendTruth[e] = true
		friendTruth[quality.Pair{A: e.B, B: e.A}] = true
	}
	return &train, evalTasks{
		datasets.TaskFriends:   splitOf(friendTruth),
		datasets.TaskGroups:    splitOf(joined),
		datasets.TaskInterests: splitOf(engaged),
	}
}

// splitOf is the split whose held-out pairs are held: truth lists each
// user's items, ascending.
func splitOf(held map[quality.Pair]bool) quality.Split {
	s := quality.Split{Held: held, Truth: map[int64][]int64{}}
	for p := range held {
		s.Truth[p.A] = append(s.Truth[p.A], p.B)
	}
	for u := range s.Truth {
		slices.Sort(s.Truth[u])
	}
	return s
}

// validateTask scores one task's lists of the base and tuned runs on the
// held-out truth, with the concentration of each, and applies the guard.
func validateTask(ctx context.Context, task string, truth map[int64][]int64, catalogue int, base, tuned *models.Inputs, bp, tp output.Params, workers int) (output.TaskValidation, error) {
	lists := func(in *models.Inputs, p output.Params) (quality.Lists, error) {
		switch task {
		case datasets.TaskFriends:
			return rankedFriends(ctx, in, widened(p).Friends, truth, workers)
		case datasets.TaskGroups:
			return rankedGroups(ctx, in, widened(p).Groups, truth, workers)
		}
		return interestLists(in, task, slices.Sorted(maps.Keys(truth))), nil
	}
	lb, err := lists(base, bp)
	if err != nil {
		return output.TaskValidation{}, err
	}
	lt, err := lists(tuned, tp)
	if err != nil {
		return output.TaskValidation{}, err
	}
	k, metric, value := 20, "recall@20", func(a quality.AtK) float64 { return a.Recall }
	switch task {
	case datasets.TaskGroups:
		k, metric = 5, "recall@5"
	case datasets.TaskInterests:
		metric, value = "NDCG@20", func(a quality.AtK) float64 { return a.NDCG }
	}
	sb, st := quality.Score("base", truth, lb, catalogue), quality.Score("tuned", truth, lt, catalogue)
	v := output.TaskValidation{Task: task, Metric: metric, Users: len(truth), Tuned: value(st.At(k)), Base: value(sb.At(k)),
		CoverageTuned: st.At(20).Coverage, CoverageBase: sb.At(20).Coverage, Top1Tuned: top1Share(lt, catalogue), Top1Base: top1Share(lb, catalogue)}
	v.Accepted, v.Reason = guard(v)
	return v, nil
}

// guard accepts tuned settings for a task unless they concentrate
// suggestions on few candidates, and says why.
func guard(v output.TaskValidation) (bool, string) {
	switch {
	case v.Task == datasets.TaskInterests:
		return true, "interests are not guarded: the interest model has no candidates to concentrate on"
	case v.CoverageTuned < guardCoverage*v.CoverageBase:
		return false, fmt.Sprintf("coverage@20 falls from %.3f to %.3f (below %.0f%% of the base settings')", v.CoverageBase, v.CoverageTuned, 100*guardCoverage)
	case v.Top1Tuned > v.Top1Base+guardTop1:
		return false, fmt.Sprintf("the top 1%% of candidates get %.1f%% of suggestions, up from %.1f%% (more than %.0f points)", 100*v.Top1Tuned, 100*v.Top1Base, 100*guardTop1)
	case !(v.Tuned > v.Base):
		return true, fmt.Sprintf("no better than the base settings (%s %.4f vs %.4f): kept, tuning chose them on a validation of its own", v.Metric, v.Tuned, v.Base)
	}
	return true, fmt.Sprintf("%s %.4f vs %.4f, without concentrating suggestions", v.Metric, v.Tuned, v.Base)
}

// top1Share is the share of all top-20 suggestions that go to the 1% of
// the catalogue (at least one candidate) suggested most often.
func top1Share(l quality.Lists, catalogue int) float64 {
	counts := map[int64]int{}
	total := 0
	for _, list := range l {
		for _, id := range list[:min(20, len(list))] {
			counts[id]++
			total++
		}
	}
	if total == 0 {
		return 0
	}
	n := slices.SortedFunc(maps.Values(counts), func(a, b int) int { return cmp.Compare(b, a) })
	top := max(1, int(math.Ceil(0.01*float64(catalogue))))
	sum := 0
	for _, c := range n[:min(top, len(n))] {
		sum += c
	}
	return float64(sum) / float64(total)
}
