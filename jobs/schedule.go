package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/robfig/cron/v3"

	"circles/data"
	"circles/output"
	"circles/pipeline"
)

// ScheduleConfig configures the long-running scheduler. Every field is
// documented in docs/config.md.
type ScheduleConfig struct {
	Input             string        `json:"input"`               // input root (required)
	Output            string        `json:"output"`              // output root (required)
	Spec              string        `json:"spec"`                // cron spec; a leading seconds field is allowed
	TimeZone          string        `json:"time_zone"`           // IANA zone of the spec and of "yesterday"
	MaxCatchUpDays    int           `json:"max_catch_up_days"`   // missed nights run on start, 0..31
	InputWaitSeconds  int           `json:"input_wait_seconds"`  // how long a night waits for its partitions, 0..86400
	InputRetrySeconds int           `json:"input_retry_seconds"` // first retry delay, doubling up to 15 minutes, 1..3600
	KeepRuns          int           `json:"keep_runs"`           // published runs kept, 0 = all
	MetricsAddr       string        `json:"metrics_addr"`        // host:port for /metrics and /healthz; empty: no server
	MetricsTextfile   string        `json:"metrics_textfile"`    // file rewritten after every run for a textfile collector; empty: none
	Workers           int           `json:"workers"`             // 0 = all cores
	Params            output.Params `json:"params"`
	// Settings is a tuned settings file (circles tune) whose params each
	// night uses instead of Params, once it exists; empty: Params always.
	Settings string       `json:"settings"`
	Tune     TuneSchedule `json:"tune"`
}

// TuneSchedule is when the scheduler runs the tuning job, which rewrites
// the Settings file for the nights after it.
type TuneSchedule struct {
	Spec        string `json:"spec"`         // cron spec, in TimeZone; empty: never
	HoldoutDays int    `json:"holdout_days"` // the last days of inputs that validate, 1..60
	Trials      int    `json:"trials"`       // bound on the settings tried, 0 = none
}

// Tuner runs the tuning job on the inputs through date, starting from
// base, and writes the settings file at out. The scheduler is given one by
// its caller: tuning lives above this package.
type Tuner func(ctx context.Context, date time.Time, base output.Params, t TuneSchedule, out string) error

// DefaultScheduleConfig returns the defaults: every night at 02:00 Beijing
// time, for the day before.
func DefaultScheduleConfig() ScheduleConfig {
	return ScheduleConfig{Spec: "0 2 * * *", TimeZone: "Asia/Shanghai", MaxCatchUpDays: 3, InputWaitSeconds: 3 * 3600,
		InputRetrySeconds: 60, KeepRuns: 30, Params: output.DefaultParams(), Tune: TuneSchedule{HoldoutDays: 7}}
}

var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Validate checks the configuration, naming the first bad field.
func (c ScheduleConfig) Validate() error {
	switch {
	case c.Input == "" || c.Output == "":
		return UsageError("schedule config: input and output are required")
	case c.MaxCatchUpDays < 0 || c.MaxCatchUpDays > 31:
		return UsageError("max_catch_up_days = %d: want 0..31", c.MaxCatchUpDays)
	case c.InputWaitSeconds < 0 || c.InputWaitSeconds > 86400:
		return UsageError("input_wait_seconds = %d: want 0..86400", c.InputWaitSeconds)
	case c.InputRetrySeconds < 1 || c.InputRetrySeconds > 3600:
		return UsageError("input_retry_seconds = %d: want 1..3600", c.InputRetrySeconds)
	case c.KeepRuns < 0:
		return UsageError("keep_runs = %d: want ≥ 0", c.KeepRuns)
	case c.Workers < 0:
		return UsageError("workers = %d: want ≥ 0", c.Workers)
	}
	if _, err := cronParser.Parse(c.Spec); err != nil {
		return UsageError("spec %q: %v", c.Spec, err)
	}
	if c.Settings != "" {
		if err := output.CheckSettingsPath(c.Settings); err != nil {
			return UsageError("settings %v", err)
		}
	}
	if t := c.Tune; t.Spec != "" {
		switch {
		case c.Settings == "":
			return UsageError("tune.spec %q: settings is required, the file tuning writes and nights read", t.Spec)
		case t.HoldoutDays < 1 || t.HoldoutDays > 60:
			return UsageError("tune.holdout_days = %d: want 1..60", t.HoldoutDays)
		case t.Trials < 0:
			return UsageError("tune.trials = %d: want ≥ 0", t.Trials)
		}
		if _, err := cronParser.Parse(t.Spec); err != nil {
			return UsageError("tune.spec %q: %v", t.Spec, err)
		}
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil {
		return UsageError("time_zone %q: %v", c.TimeZone, err)
	}
	return validParams(c.Params)
}

// LoadScheduleConfig reads a schedule config file over the defaults.
func LoadScheduleConfig(path string) (ScheduleConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return ScheduleConfig{}, UsageError("-config: %v", err)
	}
	c, err := LoadScheduleConfigBytes(b)
	if err != nil {
		return ScheduleConfig{}, fmt.Errorf("-config %s: %w", path, err)
	}
	return c, nil
}

// LoadScheduleConfigBytes decodes a schedule config over the defaults,
// refusing unknown fields.
func LoadScheduleConfigBytes(b []byte) (ScheduleConfig, error) {
	c := DefaultScheduleConfig()
	if err := decodeStrict(bytes.NewReader(b), &c); err != nil {
		return ScheduleConfig{}, UsageError("%v (see 'circles config schedule-defaults')", err)
	}
	return c, nil
}

// Scheduler runs the nightly job. now and run are replaceable in tests.
type Scheduler struct {
	cfg     ScheduleConfig
	loc     *time.Location
	log     *slog.Logger
	now     func() time.Time
	run     func(ctx context.Context, date time.Time) (*Result, error)
	tune    Tuner
	metrics *metrics
}

// NewScheduler validates cfg and returns a scheduler. tune runs the
// tuning job on cfg.Tune.Spec; it may be nil when the spec is empty.
func NewScheduler(cfg ScheduleConfig, log *slog.Logger, tune Tuner) (*Scheduler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Tune.Spec != "" && tune == nil {
		return nil, UsageError("tune.spec %q: this scheduler cannot tune", cfg.Tune.Spec)
	}
	loc, _ := time.LoadLocation(cfg.TimeZone)
	s := &Scheduler{cfg: cfg, loc: loc, log: log.With("job", "schedule"), now: time.Now, tune: tune, metrics: newMetrics()}
	s.run = s.runDate
	s.restoreLastSuccess()
	return s, nil
}

// restoreLastSuccess describes the newest published run in the metrics, so
// that a restarted scheduler does not report that nothing ever succeeded.
func (s *Scheduler) restoreLastSuccess() {
	runs, err := pipeline.PublishedRuns(s.cfg.Output)
	if err != nil || len(runs) == 0 {
		return // nothing published yet, or no output root: nothing to restore
	}
	newest := runs[len(runs)-1]
	m, err := output.ReadManifest(newest.Dir)
	if err != nil {
		s.log.Warn("newest run not described in the metrics", "path", newest.Dir, "err", err)
		return
	}
	s.metrics.describe(m, m.PublishedAt)
}

// yesterday is the date a night's run computes: the day before now, in
// the schedule's time zone, as a UTC midnight.
func (s *Scheduler) yesterday() time.Time {
	y, m, d := s.now().In(s.loc).AddDate(0, 0, -1).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// CatchUp runs every night of the last MaxCatchUpDays through yesterday
// that has no published run, oldest first. One night's failure does not
// stop the others (a night that failed on the lock is retried by the next
// catch-up, even after later nights published); it returns the first
// error. A night already published is not run again, so CatchUp is safe
// to repeat.
func (s *Scheduler) CatchUp(ctx context.Context) error {
	if s.cfg.MaxCatchUpDays == 0 {
		return nil
	}
	published := map[string]bool{}
	runs, err := pipeline.PublishedRuns(s.cfg.Output)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, r := range runs {
		published[r.Date] = true
	}
	end := s.yesterday()
	var first error
	ran := 0
	for d := end.AddDate(0, 0, 1-s.cfg.MaxCatchUpDays); !d.After(end); d = d.AddDate(0, 0, 1) {
		if published[d.Format(data.DateLayout)] {
			continue
		}
		ran++
		if _, err := s.run(ctx, d); err != nil && first == nil {
			first = err
		}
		if ctx.Err() != nil {
			return first
		}
	}
	if ran == 0 {
		s.log.Info("nothing to catch up: every night is published", "from", end.AddDate(0, 0, 1-s.cfg.MaxCatchUpDays).Format(data.DateLayout), "to", end.Format(data.DateLayout))
	}
	return first
}

// runDate waits for the date's inputs, runs the pipeline and records
// metrics.
func (s *Scheduler) runDate(ctx context.Context, date time.Time) (*Result, error) {
	cfg := RunConfig{Input: s.cfg.Input, Output: s.cfg.Output, Date: date, Workers: s.cfg.Workers, KeepRuns: s.cfg.KeepRuns, Params: s.cfg.Params}
	day := date.Format(data.DateLayout)
	log := s.log.With("date", day)
	err := s.settings(&cfg, log)
	if err == nil {
		err = s.waitForInputs(ctx, cfg, log)
	}
	var res *Result
	if err == nil {
		res, err = Run(ctx, cfg, log, nil)
	}
	s.metrics.record(res, err, s.now())
	if s.cfg.MetricsTextfile != "" {
		if werr := s.metrics.writeTextfile(s.cfg.MetricsTextfile); werr != nil {
			log.Warn("metrics textfile not written", "path", s.cfg.MetricsTextfile, "err", werr)
		}
	}
	if err != nil {
		log.Warn("night failed", "result", Outcome(err), "err", err)
	}
	return res, err
}

// settings sets cfg's params from the tuned settings file, when the
// config names one and it exists. A file that exists but fails its checks
// fails the night: it was changed or cut short since tuning wrote it.
func (s *Scheduler) settings(cfg *RunConfig, log *slog.Logger) error {
	if s.cfg.Settings == "" {
		return nil
	}
	st, err := output.ReadSettings(s.cfg.Settings)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		log.Info("no tuned settings yet: the night uses the config's params", "path", s.cfg.Settings)
		return nil
	case err != nil:
		return err
	}
	cfg.Params, cfg.Settings = st.Params, st.Ref(s.cfg.Settings)
	return nil
}

// tuneNow runs the tuning job on the inputs through yesterday.
func (s *Scheduler) tuneNow(ctx context.Context) {
	date := s.yesterday()
	log := s.log.With("date", date.Format(data.DateLayout))
	start := time.Now()
	if err := s.tune(ctx, date, s.cfg.Params, s.cfg.Tune, s.cfg.Settings); err != nil {
		log.Warn("tuning failed: nights keep the settings they had", "result", Outcome(err), "err", err, "dur", pipeline.Seconds(time.Since(start)))
		return
	}
	log.Info("tuning done: the next night loads the new settings", "path", s.cfg.Settings, "dur", pipeline.Seconds(time.Since(start)))
}

// waitForInputs polls until every partition the run needs is complete,
// backing off from InputRetrySeconds up to 15 minutes, for at most
// InputWaitSeconds; then it returns the not-ready error.
func (s *Scheduler) waitForInputs(ctx context.Context, cfg RunConfig, log *slog.Logger) error {
	deadline := s.now().Add(time.Duration(s.cfg.InputWaitSeconds) * time.Second)
	delay := time.Duration(s.cfg.InputRetrySeconds) * time.Second
	for {
		err := inputsReady(cfg)
		if err == nil || !errors.Is(err, data.ErrNoPartition) {
			return err
		}
		if !s.now().Add(delay).Before(deadline) {
			return fmt.Errorf("gave up after %ds: %w", s.cfg.InputWaitSeconds, err)
		}
		log.Info("input not ready, waiting", "err", err, "dur", pipeline.Seconds(delay))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 15*time.Minute)
	}
}

// inputsReady checks, without reading any data, that every partition a
// run of cfg reads is complete.
func inputsReady(cfg RunConfig) error {
	_, err := inputFiles(data.Local{}, cfg)
	return err
}

// Serve catches up, then runs the nightly job on the cron spec until ctx
// ends. Overlapping triggers are skipped, not queued. On cancellation
// (SIGTERM) it stops the cron, lets a running night abort (nothing is
// published from an aborted run), stops the metrics server and returns nil.
func (s *Scheduler) Serve(ctx context.Context) error {
	if s.cfg.MetricsAddr != "" {
		ln, err := net.Listen("tcp", s.cfg.MetricsAddr)
		if err != nil {
			return UsageError("metrics_addr %q: %v", s.cfg.MetricsAddr, err)
		}
		srv := &http.Server{Handler: s.metrics.handler(s.log), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				s.log.Warn("metrics server stopped", "err", err)
			}
		}()
		defer func() {
			if err := srv.Close(); err != nil {
				s.log.Warn("metrics server not closed", "err", err)
			}
		}()
		s.log.Info("metrics listening", "path", ln.Addr().String())
	}
	if err := s.CatchUp(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("catch-up stopped", "err", err)
	}
	var (
		c     *cron.Cron
		night cron.EntryID
	)
	next := func() time.Time { return c.Entry(night).Next }
	c, night = newCron(s.loc, s.log, s.cfg.Spec, func() {
		_, _ = s.run(ctx, s.yesterday()) // runDate logs a failed night and counts it in the metrics
		s.log.Info("next night", "at", next().Format(time.RFC3339))
	})
	if s.cfg.Tune.Spec != "" {
		addFunc(c, s.cfg.Tune.Spec, func() { s.tuneNow(ctx) })
		s.log.Info("tuning scheduled", "spec", s.cfg.Tune.Spec, "settings", s.cfg.Settings)
	}
	c.Start()
	s.log.Info("scheduler started", "spec", s.cfg.Spec, "time_zone", s.cfg.TimeZone, "next_night", next().Format(time.RFC3339))
	<-ctx.Done()
	<-c.Stop().Done()
	s.log.Info("scheduler stopped")
	return nil
}

// newCron builds a cron that runs fn on spec in loc, skipping a trigger
// while the previous run of the same job is still going, and returns the
// job's entry.
func newCron(loc *time.Location, log *slog.Logger, spec string, fn func()) (*cron.Cron, cron.EntryID) {
	cl := cronLogger{log}
	c := cron.New(cron.WithLocation(loc), cron.WithParser(cronParser), cron.WithLogger(cl), cron.WithChain(cron.SkipIfStillRunning(cl)))
	return c, addFunc(c, spec, fn)
}

// addFunc adds a job to c on a spec that passed validation.
func addFunc(c *cron.Cron, spec string, fn func()) cron.EntryID {
	id, err := c.AddFunc(spec, fn)
	if err != nil {
		panic(fmt.Sprintf("spec %q passed validation but not AddFunc: %v", spec, err)) // a programmer error
	}
	return id
}

// cronLogger adapts slog to cron's logger.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Warn("cron "+msg, append(kv, "err", err)...)
}

// Outcomes: the class of a run's error, as the metrics, the logs and the
// CLI's exit codes report it.
const (
	OutcomeOK             = "ok"
	OutcomePublishedStale = "published_with_errors" // published, but latest or retention not updated
	OutcomeInterrupted    = "interrupted"
	OutcomeUsage          = "usage"
	OutcomeNotReady       = "not_ready"
	OutcomeBadInput       = "bad_input"
	OutcomeLocked         = "locked"
	OutcomeOverBudget     = "over_budget" // the live heap outgrew the memory budget; nothing published
	OutcomeFailure        = "failure"
)

// Outcomes lists every outcome, in the order metrics report them.
var Outcomes = []string{OutcomeOK, OutcomePublishedStale, OutcomeNotReady, OutcomeBadInput, OutcomeLocked, OutcomeOverBudget, OutcomeInterrupted, OutcomeUsage, OutcomeFailure}

// Exit codes of the binaries (circles, circles-beam), one per outcome;
// README.md lists them.
const (
	ExitOK          = 0
	ExitFailure     = 1   // internal failure: a bug or an I/O error on the output side
	ExitUsage       = 2   // bad flag, bad config value, unknown command
	ExitNotReady    = 3   // an input partition has not landed (no _SUCCESS): retry later
	ExitBadInput    = 4   // an input file is unreadable or breaks the contract, or too many bad rows
	ExitLocked      = 5   // another run holds the output root's lock
	ExitAfterCommit = 6   // the run is published, but latest or retention was not updated
	ExitOverBudget  = 7   // the live heap outgrew -memory-limit; nothing was published
	ExitInterrupted = 130 // SIGINT or SIGTERM
)

// ExitCode is the exit code of a run that ended with err.
func ExitCode(err error) int {
	switch Outcome(err) {
	case OutcomeOK:
		return ExitOK
	case OutcomePublishedStale:
		return ExitAfterCommit
	case OutcomeInterrupted:
		return ExitInterrupted
	case OutcomeUsage:
		return ExitUsage
	case OutcomeNotReady:
		return ExitNotReady
	case OutcomeBadInput:
		return ExitBadInput
	case OutcomeLocked:
		return ExitLocked
	case OutcomeOverBudget:
		return ExitOverBudget
	}
	return ExitFailure
}

// Outcome names the class of a run's error: the one place an error is
// classified.
func Outcome(err error) string {
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, ErrAfterPublish): // first: what follows may wrap anything
		return OutcomePublishedStale
	case errors.Is(err, pipeline.ErrOverBudget): // before Canceled: the budget stops a run by cancelling it
		return OutcomeOverBudget
	case errors.Is(err, context.Canceled):
		return OutcomeInterrupted
	case errors.Is(err, ErrUsage):
		return OutcomeUsage
	case errors.Is(err, data.ErrNoPartition):
		return OutcomeNotReady
	case errors.Is(err, data.ErrBadInput):
		return OutcomeBadInput
	case errors.Is(err, pipeline.ErrLocked):
		return OutcomeLocked
	}
	return OutcomeFailure
}
