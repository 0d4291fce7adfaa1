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

func TestRunClearsLeftoversAndRefusesAPublishedID(t *testing.T) {
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
	_, err := Run(t.Context(), cfg, slog.New(slog.DiscardHandler), nil)
	if !errors.Is(err, ErrUsage) {
		t.Errorf("rerunning a published run ID: %v, want a usage error", err)
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
	s, err := NewScheduler(cfg, slog.New(slog.DiscardHandler))
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
