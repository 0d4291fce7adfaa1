// Command circles runs the circles pipeline and its tools: the nightly run,
// backfills and the scheduler; inspection of published runs; the world
// generator and the demo; import and offline evaluation of public
// datasets. 'circles list' prints every command; README.md gives the exit
// codes.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"circles/data"
	"circles/datasets"
	"circles/eval"
	"circles/jobs"
	"circles/output"
	"circles/pipeline"
	"circles/synth"

	"golang.org/x/term"
)

// Exit codes (jobs.ExitCode); README.md lists them.
const (
	exitOK          = jobs.ExitOK
	exitFailure     = jobs.ExitFailure
	exitUsage       = jobs.ExitUsage
	exitNotReady    = jobs.ExitNotReady
	exitBadInput    = jobs.ExitBadInput
	exitLocked      = jobs.ExitLocked
	exitAfterCommit = jobs.ExitAfterCommit
	exitOverBudget  = jobs.ExitOverBudget
	exitInterrupted = jobs.ExitInterrupted
)

func main() {
	setMemoryLimit()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: circles <command> [flags]

commands:
  demo       generate a small world, run the pipeline on it, print a summary
  run        run every stage for one date and publish the outputs
  generate   write a synthetic world (inputs plus planted ground truth)
  import     convert a public dataset into input tables: import FORMAT SRC DST
  eval       split an imported dataset, run the pipeline on the training part, score against baselines
  quality    regenerate docs/quality.md: import, evaluate and chart every public dataset
  eval-planted  score a run of a generated world against its planted truth, next to baselines
  bench-als  time the interest model's solve against the reference CG on an imported dataset
  tune       choose settings on the production inputs (the last days validate) and write a settings file
  config     'config defaults' prints every setting with its default, as a config file
  backfill   run every date of a range (-from, -to); resumable
  schedule   run the nightly job on a cron spec (long-running), or catch up once with -once
  runs       list the published runs under an output root
  show       print one user's interests and suggestions, with reasons in words
  version    print the build's version (as manifests record it)
  list       list the commands

Run 'circles <command> -h' for a command's flags.
`

// run is the whole program but for process exit; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		tell(stderr, "%s", usage)
		return exitUsage
	}
	cmd, args := args[0], args[1:]
	var err error
	switch cmd {
	case "demo":
		err = runDemo(ctx, args, stdout, stderr)
	case "run":
		err = runRun(ctx, args, stdout, stderr)
	case "generate":
		err = runGenerate(ctx, args, stdout, stderr)
	case "import":
		err = runImport(ctx, args, stdout, stderr)
	case "eval":
		err = runEval(ctx, args, stdout, stderr)
	case "quality":
		err = runQuality(ctx, args, stderr)
	case "eval-planted":
		err = runEvalPlanted(ctx, args, stdout, stderr)
	case "tune":
		err = runTune(ctx, args, stdout, stderr)
	case "bench-als":
		err = runBenchALS(ctx, args, stdout, stderr)
	case "schedule":
		err = runSchedule(ctx, args, stderr)
	case "backfill":
		err = runBackfill(ctx, args, stdout, stderr)
	case "runs":
		err = runRuns(args, stdout, stderr)
	case "show":
		err = runShow(args, stdout, stderr)
	case "config":
		switch {
		case len(args) == 1 && args[0] == "defaults":
			err = jobs.WriteDefaults(stdout)
		case len(args) == 1 && args[0] == "schedule-defaults":
			err = jobs.WriteScheduleDefaults(stdout)
		case len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help"):
			_, err = fmt.Fprint(stdout, configUsage)
		default:
			tell(stderr, "%s", configUsage)
			return exitUsage
		}
	case "version", "-version", "--version":
		_, err = fmt.Fprintf(stdout, "circles %s (%s %s/%s)\n", jobs.CodeVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	case "list", "help", "-h", "--help":
		_, err = fmt.Fprint(stdout, usage) // the listing is the command's output
	default:
		if near := nearest(cmd, commands); near != "" {
			tell(stderr, "circles: unknown command %q; did you mean %q?\nRun 'circles list' for the commands.\n", cmd, near)
		} else {
			tell(stderr, "circles: unknown command %q\n\n%s", cmd, usage)
		}
		return exitUsage
	}
	return exitCode(err, stderr)
}

const configUsage = "usage: circles config defaults | circles config schedule-defaults\n"

// commands are the names run accepts, for "did you mean".
var commands = []string{"demo", "run", "generate", "import", "eval", "quality", "eval-planted", "tune", "bench-als", "schedule", "backfill", "runs", "show", "config", "version", "list", "help"}

// nearest returns the name in names closest to s by edit distance, when
// it is close enough to be a likely typo (at most a third of s's length,
// and at most 2 edits); otherwise "".
func nearest(s string, names []string) string {
	best, bestD := "", min(2, max(1, len(s)/3))+1
	for _, n := range names {
		if d := editDistance(s, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, counting an
// adjacent transposition as one edit (so "inptu" is one edit from "input").
func editDistance(a, b string) int {
	prev2, prev, cur := make([]int, len(b)+1), make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// tell writes a message for the person at the terminal. A failed write to
// stderr has no channel left to be reported on; the exit code still says
// what happened.
func tell(stderr io.Writer, format string, args ...any) {
	_, _ = fmt.Fprintf(stderr, format, args...)
}

// summarize writes a command's closing summary to stdout. The summary
// never changes the exit code, which says what is on disk; a failed write
// is logged instead.
func summarize(log *slog.Logger, stdout io.Writer, format string, args ...any) {
	if _, err := fmt.Fprintf(stdout, format, args...); err != nil {
		log.Warn("summary not written to stdout", "err", err)
	}
}

// exitCode logs the final error, the only place one is logged, and maps it
// to an exit code.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	var logged *loggedError
	if !errors.As(err, &logged) {
		tell(stderr, "circles: %v\n", err)
	}
	return jobs.ExitCode(err) // errors are classified in one place
}

// common flags for logging.
type logFlags struct {
	level string
}

func (l *logFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.level, "log-level", "info", "log level: debug, info, warn or error")
}

// setup builds the logger (JSON when stderr is not a terminal, as under
// cron; text otherwise) and, on a terminal, a progress line.
func (l *logFlags) setup(stderr io.Writer) (*slog.Logger, *pipeline.Progress, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.level)); err != nil {
		return nil, nil, fmt.Errorf("%w: -log-level %q: want debug, info, warn or error", jobs.ErrUsage, l.level)
	}
	opts := &slog.HandlerOptions{Level: level}
	if isTerminal(stderr) {
		progress := pipeline.NewProgress(stderr)
		return slog.New(slog.NewTextHandler(progress.Writer(), opts)), progress, nil
	}
	return slog.New(slog.NewJSONHandler(stderr, opts)), nil, nil
}

// loggedError is a final error already logged as a structured event, so
// that exitCode does not print it again as a plain line.
type loggedError struct{ err error }

func (e *loggedError) Error() string { return e.err.Error() }
func (e *loggedError) Unwrap() error { return e.err }

// failed logs a job's final error as one structured event, with the stage
// it failed in, its outcome and how long the job ran (seconds), and marks
// it logged. A nil err stays nil.
func failed(log *slog.Logger, what string, start time.Time, err error) error {
	if err == nil {
		return nil
	}
	stage := ""
	var se *pipeline.StageError
	if errors.As(err, &se) {
		stage = se.Stage
	}
	log.Error(what+" failed", "stage", stage, "outcome", jobs.Outcome(err), "dur", pipeline.Seconds(time.Since(start)), "err", err.Error())
	return &loggedError{err}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) // a tty, not merely a character device such as /dev/null
}

// parse parses flags, turning a parse error into a usage error and
// rejecting stray arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q; flags go before it", jobs.ErrUsage, fs.Arg(0))
	}
	return nil
}

// parseFlags parses the flags of args, leaving positional arguments. The
// flag package prints the usage on any error; here -h prints it and a bad
// flag gets one line, naming the flag it was likely meant to be, so the
// error is not buried under the usage and then printed again.
func parseFlags(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	fs.SetOutput(out)
	if errors.Is(err, flag.ErrHelp) {
		if _, werr := out.Write(buf.Bytes()); werr != nil {
			return werr
		}
		return err
	}
	if err == nil {
		return nil
	}
	hint := ""
	if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok {
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		if near := nearest(name, names); near != "" {
			hint = fmt.Sprintf("; did you mean -%s?", near)
		}
	}
	return fmt.Errorf("%w: %v%s ('%s -h' lists the flags)", jobs.ErrUsage, err, hint, fs.Name())
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("circles "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// runFlags are the flags of run and backfill: the run configuration and
// the settings.
type runFlags struct {
	cfg        jobs.RunConfig
	p          output.Params
	withDate   bool
	date       string // -date, parsed into cfg.Date
	lf         logFlags
	configFile string
	settings   string
	cpuProfile string
	usersFile  string
	memory     string // -memory-limit, parsed into budget
	budget     int64
}

// register adds the flags to fs; withDate adds -date and -run-id, which a
// backfill sets per date.
func (r *runFlags) register(fs *flag.FlagSet, withDate bool) {
	r.p = output.DefaultParams()
	p := &r.p
	r.lf.register(fs)
	fs.StringVar(&r.cfg.Input, "input", "", "input root holding <table>/dt=YYYY-MM-DD partitions (required)")
	fs.StringVar(&r.cfg.Output, "output", "", "output root; runs are published under date=YYYY-MM-DD/run=ID (required)")
	r.withDate = withDate
	if withDate {
		fs.StringVar(&r.date, "date", "", "run date, YYYY-MM-DD (required)")
		fs.StringVar(&r.cfg.RunID, "run-id", "", "run directory name: 1..128 letters, digits, '-', '_' or '+' (default: the UTC start time, like 20261121T020000Z)")
		fs.StringVar(&r.cfg.Base, "base", "", "a published run of the same date to build on, for -stages and -users")
		fs.Func("stages", "recompute only these stages (comma-separated: interests, groups, friends), copying the rest from -base", func(v string) error {
			r.cfg.Stages = strings.Split(v, ",")
			return nil
		})
		fs.StringVar(&r.usersFile, "users", "", "file of user IDs, one per line: recompute only them, in -base's interest model, and merge over -base")
	}
	fs.StringVar(&r.configFile, "config", "", "JSON file of settings (see 'circles config defaults'); flags given on the command line override it")
	fs.StringVar(&r.settings, "settings", "", "a tuned settings file written by 'circles tune' (not with -config); flags given on the command line override it")
	fs.BoolVar(&r.cfg.Force, "force", false, "redo a date even when a run with the same inputs, settings and code is published (without it, such a run publishes nothing and exits 0)")
	fs.IntVar(&r.cfg.Workers, "workers", 0, "parallel workers, 0 = all cores; never changes results")
	fs.IntVar(&r.cfg.KeepRuns, "keep-runs", 0, "keep this many newest published runs and remove older ones (never the one 'latest' points to); 0 keeps all")
	fs.IntVar(&p.WindowDays, "window-days", p.WindowDays, "days of events that shape interests and ties (1..36500)")
	fs.Float64Var(&p.MaxBadRowFraction, "max-bad-row-fraction", p.MaxBadRowFraction, "fail when a table has a larger share of bad rows (0..1)")
	fs.IntVar(&p.Features.DismissTTLDays, "dismiss-ttl-days", p.Features.DismissTTLDays, "days a dismissal holds; interactions are read this far back (1..3650)")
	fs.IntVar(&p.ALS.Factors, "factors", p.ALS.Factors, "interest model dimension (2..512)")
	fs.IntVar(&p.ALS.Iterations, "iterations", p.ALS.Iterations, "interest model sweeps (1..100)")
	fs.IntVar(&p.Groups.MaxPerUser, "groups-per-user", p.Groups.MaxPerUser, "group and activity suggestions kept per user (1..200)")
	fs.IntVar(&p.Friends.MaxPerUser, "friends-per-user", p.Friends.MaxPerUser, "friend suggestions kept per user (1..200)")
	fs.StringVar(&r.cpuProfile, "cpuprofile", "", "write a CPU profile to this file")
	fs.StringVar(&r.memory, "memory-limit", "", "memory budget, e.g. 6GiB: the garbage collector aims below it, and a run whose live heap outgrows it stops with exit 7, publishing nothing (default: collect toward 75% of the machine's or container's memory)")
}

// guard holds the command to -memory-limit, when given: it returns the
// context to run under and a function that turns the error of a run the
// budget stopped into the budget's error, logging the largest live heap
// the run reached.
func (r *runFlags) guard(ctx context.Context, log *slog.Logger) (context.Context, func(error) error) {
	if r.budget == 0 {
		return ctx, func(err error) error { return err }
	}
	gctx, stop := pipeline.GuardMemory(ctx, r.budget, 100*time.Millisecond)
	return gctx, func(err error) error {
		cause := context.Cause(gctx)
		peak := stop()
		log.Info("memory", "budget", pipeline.FormatBytes(r.budget), "heap_share", pipeline.FormatBytes(pipeline.HeapShare(r.budget)), "peak_live_heap", pipeline.FormatBytes(peak), "peak_live_heap_bytes", peak)
		var ob *pipeline.OverBudgetError
		if err != nil && !errors.Is(err, jobs.ErrAfterPublish) && errors.As(cause, &ob) {
			return fmt.Errorf("%w; nothing was published", ob)
		}
		return err
	}
}

// parse parses args, applies the config file under the flags given on the
// command line, and starts the CPU profile if asked; call the returned
// function when done.
func (r *runFlags) parse(fs *flag.FlagSet, args []string) (stop func(), err error) {
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if r.configFile != "" && r.settings != "" {
		return nil, jobs.UsageError("-config and -settings: give one; a settings file holds every setting")
	}
	if r.configFile != "" || r.settings != "" {
		// Precedence: defaults < config or settings file < flags given on
		// the command line. The flags point into r.p, so parsing them again
		// over the file's values re-applies exactly the ones that were
		// given.
		var fromFile output.Params
		if r.configFile != "" {
			fromFile, err = jobs.LoadParams(r.configFile, output.DefaultParams())
		} else {
			fromFile, r.cfg.Settings, err = jobs.LoadSettings(r.settings)
		}
		if err != nil {
			return nil, err
		}
		r.p = fromFile
		if err := parse(fs, args); err != nil {
			return nil, err
		}
	}
	r.cfg.Params = r.p
	if r.memory != "" {
		if r.budget, err = pipeline.ParseBytes(r.memory); err != nil {
			return nil, fmt.Errorf("%w: -memory-limit %v", jobs.ErrUsage, err)
		}
	}
	if r.withDate {
		if r.cfg.Date, err = data.ParseDate(r.date); err != nil {
			return nil, fmt.Errorf("%w: -date: %v", jobs.ErrUsage, err)
		}
	}
	if r.usersFile != "" {
		ids, err := jobs.ReadUserList(r.usersFile)
		if err != nil {
			return nil, err
		}
		r.cfg.Users = ids
	}
	if r.cpuProfile == "" {
		return func() {}, nil
	}
	f, err := os.Create(r.cpuProfile)
	if err != nil {
		return nil, fmt.Errorf("%w: -cpuprofile: %v", jobs.ErrUsage, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			tell(fs.Output(), "circles: -cpuprofile %s: %v\n", r.cpuProfile, err)
		}
	}, nil
}

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", stderr)
	var r runFlags
	r.register(fs, true)
	stop, err := r.parse(fs, args)
	if err != nil {
		return err
	}
	defer stop()
	log, progress, err := r.lf.setup(stderr)
	if err != nil {
		return err
	}
	start := time.Now()
	gctx, settle := r.guard(ctx, log)
	res, err := jobs.Run(gctx, r.cfg, log.With("job", "run", "date", r.date), progress)
	err = settle(err)
	if res != nil { // published, even when latest or retention then failed
		summarize(log, stdout, "%s\n", res.Dir)
	}
	return failed(log, "run", start, err)
}

func runBackfill(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("backfill", stderr)
	var r runFlags
	r.register(fs, false)
	var cfg jobs.BackfillConfig
	fs.StringVar(&cfg.From, "from", "", "first date, YYYY-MM-DD (required)")
	fs.StringVar(&cfg.To, "to", "", "last date, YYYY-MM-DD, inclusive (required)")
	stop, err := r.parse(fs, args)
	if err != nil {
		return err
	}
	defer stop()
	log, progress, err := r.lf.setup(stderr)
	if err != nil {
		return err
	}
	cfg.Run = r.cfg
	start := time.Now()
	gctx, settle := r.guard(ctx, log)
	ran, skipped, err := jobs.Backfill(gctx, cfg, log.With("job", "backfill"), progress)
	err = settle(err)
	summarize(log, stdout, "backfill %s..%s: %d dates run, %d already published\n", cfg.From, cfg.To, ran, skipped)
	return failed(log, "backfill", start, err)
}

// worldFlags registers the generator's flags on fs.
func worldFlags(fs *flag.FlagSet, c *synth.Config, end *string) {
	fs.IntVar(&c.Users, "users", c.Users, "number of users (50..50000000)")
	fs.IntVar(&c.Days, "days", c.Days, "days of event partitions (1..3660)")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "random seed; the same seed and flags give the same files")
	fs.IntVar(&c.FutureDays, "future-days", c.FutureDays, "days after the last day covered by the planted ground truth")
	*end = c.End.Format(data.DateLayout)
	fs.StringVar(end, "end", *end, "last event day, YYYY-MM-DD; snapshots carry this date")
}

func parseEnd(c *synth.Config, end string) error {
	t, err := data.ParseDate(end)
	if err != nil {
		return fmt.Errorf("%w: -end: %v", jobs.ErrUsage, err)
	}
	c.End = t
	return nil
}

func runGenerate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("generate", stderr)
	cfg := jobs.GenerateConfig{World: synth.DefaultConfig()}
	var lf logFlags
	var end string
	lf.register(fs)
	fs.StringVar(&cfg.Out, "out", "", "directory to write the world into; must be empty or new (required)")
	worldFlags(fs, &cfg.World, &end)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := parseEnd(&cfg.World, end); err != nil {
		return err
	}
	log, progress, err := lf.setup(stderr)
	if err != nil {
		return err
	}
	s, err := jobs.Generate(ctx, cfg, log, progress)
	if err != nil {
		return err
	}
	summarize(log, stdout, "wrote %s: %d users, %d groups, %d activities, %d transactions, %d interactions, %d planted friendships, %d planted joins\n",
		cfg.Out, s.Users, s.Groups, s.Activities, s.Transactions, s.Interactions, s.FutureFriendships, s.FutureJoins)
	return nil
}

func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("import", stderr)
	fs.Usage = func() {
		tell(stderr, "usage: circles import [flags] FORMAT SRC DST\n\nFORMAT is one of %s. DST must not exist.\n\nflags:\n", strings.Join(datasets.Formats(), ", "))
		fs.PrintDefaults()
	}
	var lf logFlags
	lf.register(fs)
	date := fs.String("date", "2011-12-31", "stated date (YYYY-MM-DD) of rows the dataset does not date")
	cfg := jobs.ImportConfig{}
	fs.Float64Var(&cfg.MaxBadLineFraction, "max-bad-lines", 0.05, "share of a file's lines that may be skipped before the import fails")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 3 {
		return fmt.Errorf("%w: import wants FORMAT SRC DST after its flags, got %d arguments", jobs.ErrUsage, fs.NArg())
	}
	cfg.Format, cfg.Src, cfg.Dst = fs.Arg(0), fs.Arg(1), fs.Arg(2)
	d, err := data.ParseDate(*date)
	if err != nil {
		return fmt.Errorf("%w: -date: %v", jobs.ErrUsage, err)
	}
	cfg.Date = d
	log, _, err := lf.setup(stderr)
	if err != nil {
		return err
	}
	sum, err := jobs.Import(ctx, cfg, log)
	if err != nil {
		return err
	}
	var notes strings.Builder
	for _, n := range sum.Notes {
		fmt.Fprintf(&notes, "  - %s\n", n)
	}
	summarize(log, stdout, "imported %s into %s: run date %s, events over %d days; rows %v; tasks %v\n%s", cfg.Format, cfg.Dst, sum.Date, sum.WindowDays, sum.Rows, sum.Tasks, notes.String())
	return nil
}

func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("eval", stderr)
	var lf logFlags
	lf.register(fs)
	var cfg eval.Config
	var report string
	fs.StringVar(&cfg.Dataset, "dataset", "", "an input tree written to the contract, by circles import or any other tool; import.json is optional (required)")
	fs.StringVar(&report, "report", "", "directory to write results.json, report.md and the charts into (required)")
	fs.StringVar(&cfg.Name, "name", "", "the dataset's name in the report (default: the -dataset directory's name)")
	fs.StringVar(&cfg.Split, "split", eval.SplitAuto, "auto (by time when the interactions are timed), random or time")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the random hold-outs")
	fs.BoolVar(&cfg.Tune, "tune", true, "tune settings on a validation split carved from the training part")
	fs.IntVar(&cfg.TuneTrials, "tune-trials", 0, "try at most this many settings when tuning, in step order (0 = no bound); the report says where it stopped")
	fs.StringVar(&cfg.Work, "work", "", "scratch directory (default: a temporary directory, removed after)")
	fs.IntVar(&cfg.Workers, "workers", 0, "parallel workers, 0 = all cores")
	if err := parse(fs, args); err != nil {
		return err
	}
	if report == "" {
		return fmt.Errorf("%w: -report is required: the directory the report is written into", jobs.ErrUsage)
	}
	log, _, err := lf.setup(stderr)
	if err != nil {
		return err
	}
	rep, err := eval.Run(ctx, cfg, log)
	if err != nil {
		return err
	}
	if err := eval.WriteReport(report, rep); err != nil {
		return err
	}
	return eval.WriteMarkdown(stdout, rep, report, filepath.Join(report, eval.FileJSON))
}

func runTune(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tune", stderr)
	var lf logFlags
	lf.register(fs)
	var cfg eval.TuneJobConfig
	var date, configFile string
	fs.StringVar(&cfg.Input, "input", "", "input root holding <table>/dt=YYYY-MM-DD partitions (required)")
	fs.StringVar(&date, "date", "", "the last day of inputs to use, YYYY-MM-DD (required)")
	fs.StringVar(&cfg.Out, "out", "", "the settings file to write; replaced whole, so a nightly run never reads half of one (required)")
	fs.StringVar(&configFile, "config", "", "JSON file of the base settings tuning starts from and compares with (default: the defaults)")
	fs.IntVar(&cfg.HoldoutDays, "holdout-days", eval.DefaultHoldoutDays, "the last days of inputs that validate: friendships made, groups joined, content first engaged with (1..60)")
	fs.IntVar(&cfg.Trials, "tune-trials", 0, "try at most this many settings, in step order (0 = no bound)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of tuning's sampling")
	fs.StringVar(&cfg.Work, "work", "", "scratch directory (default: a temporary directory, removed after)")
	fs.IntVar(&cfg.Workers, "workers", 0, "parallel workers, 0 = all cores")
	if err := parse(fs, args); err != nil {
		return err
	}
	var err error
	if cfg.Date, err = data.ParseDate(date); err != nil {
		return fmt.Errorf("%w: -date: %v", jobs.ErrUsage, err)
	}
	cfg.Base = output.DefaultParams()
	if configFile != "" {
		if cfg.Base, err = jobs.LoadParams(configFile, cfg.Base); err != nil {
			return err
		}
	}
	log, _, err := lf.setup(stderr)
	if err != nil {
		return err
	}
	start := time.Now()
	s, err := eval.TuneJob(ctx, cfg, log)
	if err == nil {
		for _, v := range s.Validation {
			summarize(log, stdout, "%s: %s %.4f tuned, %.4f base; coverage@20 %.3f vs %.3f; top 1%% share %.3f vs %.3f; %s: %s\n",
				v.Task, v.Metric, v.Tuned, v.Base, v.CoverageTuned, v.CoverageBase, v.Top1Tuned, v.Top1Base, map[bool]string{true: "accepted", false: "refused"}[v.Accepted], v.Reason)
		}
		summarize(log, stdout, "%s (digest %s)\n", cfg.Out, s.Digest)
	}
	return failed(log, "tune", start, err)
}

func runQuality(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlagSet("quality", stderr)
	var lf logFlags
	lf.register(fs)
	var cfg eval.QualityConfig
	fs.StringVar(&cfg.Data, "data", "", "directory holding the public datasets, one folder each (required)")
	fs.StringVar(&cfg.Out, "out", "docs/quality.md", "the Markdown file to write; charts and JSON go into the folder of the same name beside it")
	fs.StringVar(&cfg.Work, "work", "", "scratch directory (default: a temporary directory, removed after)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the random hold-outs")
	fs.IntVar(&cfg.PlantedUsers, "planted-users", 20000, "users of the generated world scored against its planted truth")
	fs.IntVar(&cfg.Workers, "workers", 0, "parallel workers, 0 = all cores")
	if err := parse(fs, args); err != nil {
		return err
	}
	log, _, err := lf.setup(stderr)
	if err != nil {
		return err
	}
	return eval.QualityDoc(ctx, cfg, log)
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stderr)
	cfg := jobs.DemoConfig{World: synth.DefaultConfig()}
	var lf logFlags
	var end string
	fs.StringVar(&lf.level, "log-level", "error", "log level: debug, info, warn or error (the summary already counts quarantined rows)")
	fs.StringVar(&cfg.Dir, "dir", "", "working directory for the world and the outputs (default: a new temporary directory)")
	fs.IntVar(&cfg.Workers, "workers", 0, "parallel workers, 0 = all cores")
	worldFlags(fs, &cfg.World, &end)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := parseEnd(&cfg.World, end); err != nil {
		return err
	}
	temporary := cfg.Dir == ""
	if temporary {
		dir, err := os.MkdirTemp("", "circles-demo-")
		if err != nil {
			return err
		}
		cfg.Dir = dir
	}
	log, progress, err := lf.setup(stderr)
	if err != nil {
		return err
	}
	if err := jobs.Demo(ctx, cfg, stdout, log, progress); err != nil {
		if temporary {
			log.Info("demo files kept", "path", cfg.Dir)
		}
		return err
	}
	if temporary {
		summarize(log, stdout, "\nThe world and the run are kept in %s, a temporary directory: look around, then remove it (rm -r %s). -dir chooses the directory.\n", cfg.Dir, cfg.Dir)
	}
	return nil
}

func runEvalPlanted(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("eval-planted", stderr)
	cfg := eval.PlantedConfig{K: 20}
	var lf logFlags
	lf.register(fs)
	fs.StringVar(&cfg.World, "world", "", "the generated world the run read (required)")
	fs.StringVar(&cfg.Run, "run", "", "the published run directory to score (required)")
	fs.IntVar(&cfg.K, "k", cfg.K, "cut-off K of recall@K (1..200)")
	if err := parse(fs, args); err != nil {
		return err
	}
	log, _, err := lf.setup(stderr)
	if err != nil {
		return err
	}
	rep, err := eval.Planted(ctx, cfg, log)
	if err != nil {
		return err
	}
	return eval.PrintPlanted(stdout, rep)
}

func runBenchALS(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench-als", stderr)
	cfg := eval.BenchALSConfig{Iterations: 16, Rounds: 2}
	var lf logFlags
	lf.register(fs)
	fs.StringVar(&cfg.Dataset, "dataset", "", "an imported dataset (circles import) whose interest matrix is timed (required)")
	factors := fs.String("factors", "64,128", "comma-separated latent dimensions")
	fs.IntVar(&cfg.Iterations, "iterations", cfg.Iterations, "sweeps per round; the first is dropped as warm-up")
	fs.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "rounds, each from a fresh start")
	fs.IntVar(&cfg.Workers, "workers", 0, "parallelism (0 = all cores)")
	fs.StringVar(&cfg.Dump, "dump", "", "also write the matrix as 'row col confidence' lines to this file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if cfg.Dataset == "" {
		return fmt.Errorf("%w: -dataset is required", jobs.ErrUsage)
	}
	for _, f := range strings.Split(*factors, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || k < 2 || k > 512 {
			return fmt.Errorf("%w: -factors %q: want comma-separated integers in 2..512", jobs.ErrUsage, *factors)
		}
		cfg.Factors = append(cfg.Factors, k)
	}
	log, _, err := lf.setup(stderr)
	if err != nil {
		return err
	}
	_, err = eval.BenchALS(ctx, cfg, stdout, log)
	return err
}

func runRuns(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("runs", stderr)
	out := fs.String("output", "", "output root the runs were published under (required)")
	asJSON := fs.Bool("json", false, "print one JSON object (every run with its manifest, and the incomplete directories) instead of a table")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("%w: -output is required", jobs.ErrUsage)
	}
	runs, err := jobs.ListRuns(*out)
	if err != nil {
		return err
	}
	leftovers, err := pipeline.Leftovers(*out)
	if err != nil {
		return err
	}
	if *asJSON {
		return jobs.PrintRunsJSON(stdout, runs, leftovers)
	}
	return jobs.PrintRuns(stdout, runs, leftovers)
}

func runShow(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("show", stderr)
	dir := fs.String("run", "", "a published run directory (required; see 'circles runs')")
	user := fs.Int64("user", 0, "the user ID (required)")
	n := fs.Int("n", 10, "suggestions of each kind to show")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dir == "" || *user == 0 {
		return fmt.Errorf("%w: -run and -user are required", jobs.ErrUsage)
	}
	return jobs.ShowUser(stdout, *dir, *user, *n)
}

func runSchedule(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlagSet("schedule", stderr)
	var lf logFlags
	lf.register(fs)
	path := fs.String("config", "", "schedule config file (required; see 'circles config schedule-defaults')")
	once := fs.Bool("once", false, "catch up the missed nights through yesterday, then exit with the first failure's code")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return fmt.Errorf("%w: -config is required", jobs.ErrUsage)
	}
	cfg, err := jobs.LoadScheduleConfig(*path)
	if err != nil {
		return err
	}
	log, _, err := lf.setup(stderr)
	if err != nil {
		return err
	}
	s, err := jobs.NewScheduler(cfg, log, func(ctx context.Context, date time.Time, base output.Params, t jobs.TuneSchedule, out string) error {
		_, err := eval.TuneJob(ctx, eval.TuneJobConfig{Input: cfg.Input, Date: date, Out: out, Base: base, HoldoutDays: t.HoldoutDays, Trials: t.Trials, Workers: cfg.Workers, Seed: 1}, log)
		return err
	})
	if err != nil {
		return err
	}
	if *once {
		start := time.Now()
		return failed(log, "schedule", start, s.CatchUp(ctx))
	}
	return s.Serve(ctx) // returns nil on SIGTERM: a clean stop exits 0
}
