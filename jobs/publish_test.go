package jobs

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"circles/data"
	"circles/output"
	"circles/pipeline"
)

// cancelOn is a log handler that cancels a context when a given message
// is logged: a signal delivered at exactly that point of a run.
type cancelOn struct {
	slog.Handler
	msg    string
	cancel context.CancelFunc
}

func (h cancelOn) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.cancel()
	}
	return nil
}

func (h cancelOn) Enabled(context.Context, slog.Level) bool { return true }
func (h cancelOn) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h cancelOn) WithGroup(string) slog.Handler            { return h }

// TestInterruptAfterCommitFinishesTheRun: a SIGTERM after the run
// directory is renamed into place does not turn a published run into an
// "interrupted, nothing published" one: latest is pointed and Run says ok.
func TestInterruptAfterCommitFinishesTheRun(t *testing.T) {
	root := t.TempDir()
	handWorld().Write(t, filepath.Join(root, "in"))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	log := slog.New(cancelOn{Handler: slog.DiscardHandler, msg: "run published", cancel: cancel})
	out := filepath.Join(root, "out")
	res, err := Run(ctx, RunConfig{Input: filepath.Join(root, "in"), Output: out, Date: runDate, RunID: "t", Params: testParams()}, log, nil)
	if err != nil || res == nil {
		t.Fatalf("Run = %v, %v; want the published run and no error", res, err)
	}
	if ctx.Err() == nil {
		t.Fatalf("the context was never cancelled: the test did not interrupt the run")
	}
	if latest, _ := pipeline.Latest(out); latest != res.Dir {
		t.Errorf("latest = %q, want %q", latest, res.Dir)
	}
}

// TestErrorAfterCommitSaysPublished: when latest cannot be switched, the
// run is still published and the error says so (a distinct outcome), and
// the next run repairs latest.
func TestErrorAfterCommitSaysPublished(t *testing.T) {
	root := t.TempDir()
	handWorld().Write(t, filepath.Join(root, "in"))
	out := filepath.Join(root, "out")
	// A directory where the latest link should be: the switch must fail.
	if err := os.MkdirAll(filepath.Join(out, pipeline.LatestName, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := RunConfig{Input: filepath.Join(root, "in"), Output: out, Date: runDate, RunID: "t", Params: testParams()}
	res, err := Run(t.Context(), cfg, slog.New(slog.DiscardHandler), nil)
	if !errors.Is(err, ErrAfterPublish) || Outcome(err) != "published_with_errors" || res == nil {
		t.Fatalf("Run = %v, %v (outcome %s); want the published run and an ErrAfterPublish", res, err, Outcome(err))
	}
	if _, err := os.Stat(filepath.Join(res.Dir, pipeline.ManifestName)); err != nil {
		t.Errorf("the run is not published: %v", err)
	}
	if err := os.RemoveAll(filepath.Join(out, pipeline.LatestName)); err != nil {
		t.Fatal(err)
	}
	// The next run is of an older date (a backfill): it must still repair
	// latest, to the newest run, not to itself.
	in := filepath.Join(root, "in")
	for _, table := range data.SnapshotTables {
		day := runDate
		if err := os.CopyFS(data.PartitionDir(in, table, day.AddDate(0, 0, -1)), os.DirFS(data.PartitionDir(in, table, day))); err != nil {
			t.Fatal(err)
		}
	}
	cfg.RunID, cfg.Date = "u", runDate.AddDate(0, 0, -1)
	cfg.Params.WindowDays, cfg.Params.Features.DismissTTLDays = 6, 6
	older, err := Run(t.Context(), cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	if latest, _ := pipeline.Latest(out); latest != res.Dir {
		t.Errorf("latest = %q after the next run (of %s, older), want it repaired to the newest run %q", latest, older.Manifest.Date, res.Dir)
	}
}

func TestRunClearsLeftovers(t *testing.T) {
	root := t.TempDir()
	handWorld().Write(t, filepath.Join(root, "in"))
	out := filepath.Join(root, "out")
	for _, d := range []string{".staging-crashed-1/part", ".staging-crashed-2"} {
		if err := os.MkdirAll(filepath.Join(out, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := RunConfig{Input: filepath.Join(root, "in"), Output: out, Date: runDate, RunID: "t", Params: testParams()}
	var logs bytes.Buffer
	if _, err := Run(t.Context(), cfg, slog.New(slog.NewJSONHandler(&logs, nil)), nil); err != nil {
		t.Fatal(err)
	}
	if left, _ := pipeline.Leftovers(out); len(left) != 0 {
		t.Errorf("leftovers after a run: %v", left)
	}
	if n := bytes.Count(logs.Bytes(), []byte(`"msg":"leftover removed"`)); n != 2 {
		t.Errorf("%d leftovers logged as removed, want 2:\n%s", n, logs.String())
	}
}

// TestDateRunsAreIdempotent: a date run behaves like an orchestrator's
// logical date. The same inputs, settings and code publish nothing new;
// -force redoes the run in place; a changed input or setting publishes a
// new run, and a run ID that is taken is replaced whole.
func TestDateRunsAreIdempotent(t *testing.T) {
	root := t.TempDir()
	in := filepath.Join(root, "in")
	handWorld().Write(t, in)
	out := filepath.Join(root, "out")
	quiet := slog.New(slog.DiscardHandler)
	run := func(cfg RunConfig) *Result {
		t.Helper()
		cfg.Input, cfg.Output, cfg.Date = in, out, runDate
		if cfg.Params.WindowDays == 0 {
			cfg.Params = testParams()
		}
		res, err := Run(t.Context(), cfg, quiet, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	dirs := func() []string {
		t.Helper()
		runs, err := pipeline.PublishedRuns(out)
		if err != nil {
			t.Fatal(err)
		}
		var ds []string
		for _, r := range runs {
			ds = append(ds, filepath.Base(r.Dir))
		}
		return ds
	}
	first := run(RunConfig{RunID: "t"})
	manifest := func(dir string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, pipeline.ManifestName))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	before := manifest(first.Dir)
	for _, id := range []string{"t", "", "other"} {
		again := run(RunConfig{RunID: id})
		if !again.AlreadyPublished || again.Dir != first.Dir {
			t.Errorf("rerun with -run-id %q: published %s (already published: %v), want nothing new", id, again.Dir, again.AlreadyPublished)
		}
	}
	if got := dirs(); !slices.Equal(got, []string{"run=t"}) {
		t.Errorf("runs after idempotent reruns: %v", got)
	}
	if !bytes.Equal(manifest(first.Dir), before) {
		t.Error("an idempotent rerun rewrote the manifest")
	}

	forced := run(RunConfig{RunID: "t", Force: true})
	if forced.AlreadyPublished || forced.Dir != first.Dir || !forced.Manifest.PublishedAt.After(first.Manifest.PublishedAt) {
		t.Errorf("-force: %s published at %v, want run=t republished after %v", forced.Dir, forced.Manifest.PublishedAt, first.Manifest.PublishedAt)
	}
	if !slices.Equal(forced.Manifest.DataFiles(), first.Manifest.DataFiles()) {
		t.Error("-force on the same inputs changed the outputs")
	}
	if got := dirs(); !slices.Equal(got, []string{"run=t"}) {
		t.Errorf("runs after -force: %v, want run=t replaced in place", got)
	}

	// A fixed input: a newer file, so a new run.
	files, err := data.WindowFiles(data.Local{}, in, data.TableInteractions, runDate, 7)
	if err != nil || len(files) == 0 {
		t.Fatalf("interaction files: %v %v", files, err)
	}
	f := files[len(files)-1]
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(f, later, later); err != nil {
		t.Fatal(err)
	}
	fixed := run(RunConfig{RunID: "fixed"})
	if fixed.AlreadyPublished || fixed.Manifest.InputDigest == first.Manifest.InputDigest {
		t.Errorf("a changed input was not rerun (input digest %s)", fixed.Manifest.InputDigest)
	}
	// The same ID over a changed setting: replaced whole.
	p := testParams()
	p.Groups.MaxPerUser = 2
	replaced := run(RunConfig{RunID: "t", Params: p})
	if replaced.AlreadyPublished || replaced.Manifest.ConfigDigest == first.Manifest.ConfigDigest {
		t.Error("a changed setting was not rerun")
	}
	if got := dirs(); !slices.Equal(got, []string{"run=fixed", "run=t"}) {
		t.Errorf("runs = %v, want fixed and the replaced t", got)
	}
	if left, _ := pipeline.Leftovers(out); len(left) != 0 {
		t.Errorf("a replacement left %v behind", left)
	}
	if latest, err := filepath.EvalSymlinks(filepath.Join(out, "latest")); err != nil || latest != replaced.Dir {
		t.Errorf("latest = %s (%v), want the newest run %s", latest, err, replaced.Dir)
	}
}

func TestRunIDIsValidatedBeforeAnyRemoval(t *testing.T) {
	root := t.TempDir()
	handWorld().Write(t, filepath.Join(root, "in"))
	out := filepath.Join(root, "x", "out")
	victim := filepath.Join(root, "victim")
	if err := os.MkdirAll(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"x/../../../victim", "../victim", "a\nb", "..", string(make([]byte, 129))} {
		_, err := Run(t.Context(), RunConfig{Input: filepath.Join(root, "in"), Output: out, Date: runDate, RunID: id, Params: testParams()}, slog.New(slog.DiscardHandler), nil)
		if !errors.Is(err, ErrUsage) {
			t.Errorf("run id %q: %v, want a usage error", id, err)
		}
	}
	if _, err := os.Stat(victim); err != nil {
		t.Errorf("victim removed: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a refused run created its output root")
	}
}

// TestRejectsDoNotDependOnHowInputIsSpelled: rejects.parquet and the
// manifest's input files name paths relative to the input root.
func TestRejectsDoNotDependOnHowInputIsSpelled(t *testing.T) {
	root := t.TempDir()
	w := handWorld()
	w.Event(999, "content", 300, "view", w.At(1, 1)) // an unknown user: quarantined
	w.Write(t, filepath.Join(root, "in"))
	t.Chdir(root)
	p := testParams()
	p.MaxBadRowFraction = 0.5
	var sums []string
	for i, input := range []string{"in", filepath.Join(root, "in"), "./in/"} {
		res, err := Run(t.Context(), RunConfig{Input: input, Output: filepath.Join(root, "out"), Date: runDate, RunID: "r" + string(rune('0'+i)), Params: p}, slog.New(slog.DiscardHandler), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range res.Manifest.Outputs {
			if o.Name == output.FileRejects {
				sums = append(sums, o.SHA256)
				if o.Rows == 0 {
					t.Errorf("no rejects: the test needs one")
				}
			}
		}
		for _, s := range res.Manifest.Inputs {
			for _, f := range s.Files {
				if filepath.IsAbs(f) || f != filepath.ToSlash(filepath.Clean(f)) {
					t.Errorf("input %q: %s, want a clean path relative to the input root", input, f)
				}
			}
		}
	}
	if sums[0] != sums[1] || sums[1] != sums[2] {
		t.Errorf("rejects.parquet differs with how -input is spelled: %v", sums)
	}
}

// TestCatchUpCoversEveryMissingNight: a night missing before the newest
// published one is run, and a failing night does not stop the others.
func TestCatchUpCoversEveryMissingNight(t *testing.T) {
	t.Parallel()
	_, cfg := scheduleWorld(t)
	cfg.MaxCatchUpDays = 4
	s, err := NewScheduler(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC) } // yesterday: the 20th
	// The 20th is published; the 17th, 18th and 19th are not.
	var ran []string
	s.run = func(ctx context.Context, date time.Time) (*Result, error) {
		ran = append(ran, date.Format(data.DateLayout))
		if ran[len(ran)-1] == "2026-11-18" {
			return nil, pipeline.ErrLocked
		}
		return nil, nil
	}
	st, err := pipeline.NewStaging(cfg.Output, time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), "n")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Publish(pipeline.Run{Stamp: pipeline.Stamp{Date: "2026-11-20", PublishedAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	err = s.CatchUp(t.Context())
	if !errors.Is(err, pipeline.ErrLocked) {
		t.Errorf("CatchUp = %v, want the 18th's failure", err)
	}
	if want := []string{"2026-11-17", "2026-11-18", "2026-11-19"}; !slices.Equal(ran, want) {
		t.Errorf("ran %v, want %v (every night without a published run, past a failure)", ran, want)
	}
}

func TestDefaultRunIDsNeverReplaceEachOther(t *testing.T) {
	taken := map[string]bool{"20261121T020000Z": true, "20261121T020000Z-2": true}
	if got := unusedRunID("20261121T020000Z", taken); got != "20261121T020000Z-3" {
		t.Errorf("unusedRunID = %s, want the first free suffix", got)
	}
	if got := unusedRunID("b", taken); got != "b" {
		t.Errorf("unusedRunID(b) = %s", got)
	}
}
