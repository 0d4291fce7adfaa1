package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"circles/data"
	"circles/output"
	"circles/pipeline"
	"circles/synth"
)

// TestCronSkipsOverlappingTriggers runs the real cron on a per-second spec
// with a job that takes over two seconds: triggers during a run are
// skipped, never run alongside it.
func TestCronSkipsOverlappingTriggers(t *testing.T) {
	t.Parallel()
	var running, most, runs atomic.Int32
	c, _ := newCron(time.UTC, slog.New(slog.DiscardHandler), "* * * * * *", func() {
		n := running.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		runs.Add(1)
		time.Sleep(2200 * time.Millisecond)
		running.Add(-1)
	})
	c.Start()
	time.Sleep(5500 * time.Millisecond)
	<-c.Stop().Done()
	if most.Load() != 1 {
		t.Errorf("%d runs overlapped", most.Load())
	}
	if r := runs.Load(); r < 2 || r > 3 {
		t.Errorf("%d runs in 5.5 s of a 1 s spec with 2.2 s runs; want 2 or 3 (the rest skipped)", r)
	}
}

// scheduleWorld generates a small world whose snapshots are also dated the
// day before its end, so that two nights can run.
func scheduleWorld(t *testing.T) (string, ScheduleConfig) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "world")
	w := synth.DefaultConfig()
	w.Users, w.Days = 300, 10
	if _, err := synth.Generate(t.Context(), root, w, nil); err != nil {
		t.Fatal(err)
	}
	for _, table := range data.SnapshotTables {
		src := data.PartitionDir(root, table, w.End)
		if err := os.CopyFS(data.PartitionDir(root, table, w.End.AddDate(0, 0, -1)), os.DirFS(src)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := DefaultScheduleConfig()
	cfg.Input, cfg.Output = root, filepath.Join(t.TempDir(), "out")
	cfg.Params.WindowDays, cfg.Params.Features.DismissTTLDays = 7, 7
	cfg.Params.ALS.Iterations = 2
	cfg.MaxCatchUpDays = 2
	cfg.InputWaitSeconds, cfg.InputRetrySeconds = 0, 1
	return root, cfg
}

func TestCatchUpRunsMissedNightsOnce(t *testing.T) {
	t.Parallel()
	_, cfg := scheduleWorld(t)
	cfg.MetricsTextfile = filepath.Join(t.TempDir(), "circles.prom")
	var logs syncBuffer
	s, err := NewScheduler(cfg, slog.New(slog.NewJSONHandler(&logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	// 10:00 on the 21st in Beijing: yesterday is the 20th
	s.now = func() time.Time { return time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC) }
	if err := s.CatchUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	runs, err := ListRuns(cfg.Output)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].Manifest.Date != "2026-11-19" || runs[1].Manifest.Date != "2026-11-20" {
		t.Fatalf("runs after catch-up: %d (%v)", len(runs), runs)
	}
	if latest, _ := pipeline.Latest(cfg.Output); latest != runs[1].Dir {
		t.Errorf("latest = %s, want the 20th's run", latest)
	}
	if strings.Contains(logs.String(), "nothing to catch up") {
		t.Error("a catch-up that ran nights said it had nothing to do")
	}
	if err := s.CatchUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `"msg":"nothing to catch up: every night is published"`) {
		t.Errorf("a catch-up with nothing to do did not say so:\n%s", logs.String())
	}
	if again, _ := ListRuns(cfg.Output); len(again) != 2 {
		t.Errorf("a second catch-up ran published nights again: %d runs", len(again))
	}
	text, err := os.ReadFile(cfg.MetricsTextfile)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.metrics.handler(s.log).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, body := range []string{string(text), rec.Body.String()} {
		for _, want := range []string{`circles_runs_total{outcome="ok"} 2`, `circles_last_success_date_info{date="2026-11-20"`,
			`circles_stage_duration_seconds{stage="ingest"}`, `circles_rows_quarantined{reason="duplicate_id",table="interactions"}`,
			`circles_suggestions_per_user{kind="friend"}`, `circles_users_with_suggestions{kind="group"}`, "# TYPE circles_last_success_timestamp_seconds gauge",
			"circles_last_failure_timestamp_seconds 0", `circles_runs_total{outcome="failure"} 0`,
			"go_goroutines ", "process_resident_memory_bytes ", "go_build_info{"} {
			if !strings.Contains(body, want) {
				t.Errorf("metrics lack %q:\n%s", want, body)
			}
		}
	}
	// A restarted scheduler still knows the last success.
	restarted, err := NewScheduler(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := restarted.metrics.write(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `circles_last_success_date_info{date="2026-11-20"`) || strings.Contains(b.String(), "circles_last_success_timestamp_seconds 0\n") {
		t.Errorf("a restarted scheduler forgot the last success:\n%s", b.String())
	}
}

func TestNightGivesUpWhenInputNeverLands(t *testing.T) {
	t.Parallel()
	_, cfg := scheduleWorld(t)
	cfg.InputWaitSeconds, cfg.InputRetrySeconds = 2, 1
	s, err := NewScheduler(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.run(t.Context(), runDate.AddDate(0, 0, 2)) // two days past the world's end
	if !errors.Is(err, data.ErrNoPartition) || Outcome(err) != "not_ready" {
		t.Fatalf("err = %v, want input not ready", err)
	}
	if waited := time.Since(start); waited < time.Second || waited > 10*time.Second {
		t.Errorf("waited %v; want one retry (1 s) within the 2 s bound", waited)
	}
	var b bytes.Buffer
	if err := s.metrics.write(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `circles_runs_total{outcome="not_ready"} 1`) {
		t.Errorf("metrics do not count the not-ready night:\n%s", b.String())
	}
	if _, err := os.Stat(filepath.Join(cfg.Output, "date=2026-11-22")); err == nil {
		t.Errorf("a not-ready night published something")
	}
}

// TestServeStopsCleanly starts the scheduler and cancels it, as SIGTERM
// does, while a night is waiting for its input: Serve returns promptly and
// nothing is published.
func TestServeStopsCleanly(t *testing.T) {
	t.Parallel()
	_, cfg := scheduleWorld(t)
	cfg.InputWaitSeconds, cfg.InputRetrySeconds = 3600, 30
	cfg.MaxCatchUpDays = 1
	s, err := NewScheduler(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC) } // yesterday has no input
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Add(1)
	var serveErr error
	go func() { defer wg.Done(); serveErr = s.Serve(ctx) }()
	time.Sleep(300 * time.Millisecond)
	cancel()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not stop within 5 s of cancellation")
	}
	if serveErr != nil {
		t.Errorf("Serve = %v, want a clean stop", serveErr)
	}
	if entries, _ := os.ReadDir(cfg.Output); len(entries) > 1 {
		t.Errorf("output holds %d entries after a cancelled night, want at most the lock file", len(entries))
	}
}

// TestBackfillResumes backfills two nights, then resumes after losing one
// (as after a crash, with its staging directory left behind): only the
// missing night runs again, and latest stays on the newest date.
func TestBackfillResumes(t *testing.T) {
	t.Parallel()
	_, sc := scheduleWorld(t)
	cfg := BackfillConfig{Run: RunConfig{Input: sc.Input, Output: sc.Output, Params: sc.Params}, From: "2026-11-19", To: "2026-11-20"}
	log := slog.New(slog.DiscardHandler)
	if ran, skipped, err := Backfill(t.Context(), cfg, log, nil); err != nil || ran != 2 || skipped != 0 {
		t.Fatalf("first backfill: ran %d skipped %d, %v", ran, skipped, err)
	}
	id := BackfillRunID(sc.Params)
	day19, _ := data.ParseDate("2026-11-19")
	day20, _ := data.ParseDate("2026-11-20")
	newest := pipeline.RunDir(sc.Output, day20, id)
	if latest, _ := pipeline.Latest(sc.Output); latest != newest {
		t.Errorf("latest = %s, want %s", latest, newest)
	}
	want, err := os.ReadFile(filepath.Join(pipeline.RunDir(sc.Output, day19, id), output.FileFriends))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(pipeline.RunDir(sc.Output, day19, id)); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(sc.Output, ".staging-"+id), 0o755); err != nil {
		t.Fatal(err)
	}
	if ran, skipped, err := Backfill(t.Context(), cfg, log, nil); err != nil || ran != 1 || skipped != 1 {
		t.Fatalf("resumed backfill: ran %d skipped %d, %v; want 1 and 1", ran, skipped, err)
	}
	got, err := os.ReadFile(filepath.Join(pipeline.RunDir(sc.Output, day19, id), output.FileFriends))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("the rerun night's friend suggestions differ from the first time (%v)", err)
	}
	if latest, _ := pipeline.Latest(sc.Output); latest != newest {
		t.Errorf("backfilling an older date moved latest to %s", latest)
	}
}

// TestScheduleLogsEachKeyOnce: under the scheduler every log line names
// job and date once (not once from the scheduler and again from the run),
// and durations are numbers of seconds.
func TestScheduleLogsEachKeyOnce(t *testing.T) {
	t.Parallel()
	_, cfg := scheduleWorld(t)
	cfg.MaxCatchUpDays = 1
	var logs bytes.Buffer
	s, err := NewScheduler(cfg, slog.New(slog.NewJSONHandler(&logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC) }
	if err := s.CatchUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	for _, line := range lines {
		dec := json.NewDecoder(strings.NewReader(line))
		seen := map[string]int{}
		if _, err := dec.Token(); err != nil { // {
			t.Fatalf("line %q: %v", line, err)
		}
		for dec.More() {
			k, _ := dec.Token()
			var v any
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			key := k.(string)
			seen[key]++
			if key == "dur" {
				if _, ok := v.(float64); !ok {
					t.Errorf("dur is %T (%v), want a number of seconds: %s", v, v, line)
				}
			}
		}
		for k, n := range seen {
			if n > 1 {
				t.Errorf("key %q appears %d times: %s", k, n, line)
			}
		}
		if seen["job"] != 1 || seen["date"] != 1 {
			t.Errorf("line lacks job or date: %s", line)
		}
	}
	if len(lines) < 5 {
		t.Errorf("only %d log lines", len(lines))
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A night loads the tuned settings file when it exists, records it in the
// manifest, uses the config's params until the first tuning writes one,
// and fails as bad input, publishing nothing, when the file was changed
// after tuning wrote it.
func TestNightLoadsTunedSettings(t *testing.T) {
	t.Parallel()
	_, cfg := scheduleWorld(t)
	cfg.Settings = filepath.Join(t.TempDir(), "settings.json")
	s, err := NewScheduler(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.run(t.Context(), runDate.AddDate(0, 0, -1))
	if err != nil {
		t.Fatal(err)
	}
	if m := res.Manifest; m.Settings != nil || m.ConfigDigest != cfg.Params.Digest() {
		t.Errorf("before tuning: settings %v, config digest %s; want the config's params", m.Settings, m.ConfigDigest)
	}
	tuned := output.Settings{Date: runDate.Format(data.DateLayout), HoldoutDays: 7, Params: cfg.Params}
	tuned.Params.Friends.MaxPerUser = 7
	if err := output.WriteSettings(cfg.Settings, &tuned); err != nil {
		t.Fatal(err)
	}
	if res, err = s.run(t.Context(), runDate); err != nil {
		t.Fatal(err)
	}
	if m := res.Manifest; m.Settings == nil || m.Settings.Digest != tuned.Digest || m.Config.Friends.MaxPerUser != 7 || m.ConfigDigest != tuned.ParamsDigest {
		t.Errorf("after tuning: settings %+v, friends per user %d; want the settings file's", m.Settings, m.Config.Friends.MaxPerUser)
	}
	b, err := os.ReadFile(cfg.Settings)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.Settings, bytes.Replace(b, []byte(`"max_per_user": 7`), []byte(`"max_per_user": 8`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Output = filepath.Join(t.TempDir(), "out")
	s, err = NewScheduler(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.run(t.Context(), runDate); Outcome(err) != OutcomeBadInput || (err == nil || !strings.Contains(err.Error(), cfg.Settings)) {
		t.Errorf("tampered settings: err = %v, want bad input naming the file", err)
	}
	if runs, _ := pipeline.PublishedRuns(cfg.Output); len(runs) != 0 {
		t.Errorf("a night with tampered settings published %d runs", len(runs))
	}
}

func TestTuneScheduleNeedsSettingsAndATuner(t *testing.T) {
	t.Parallel()
	_, cfg := scheduleWorld(t)
	cfg.Tune.Spec = "0 3 * * 0"
	if _, err := NewScheduler(cfg, slog.New(slog.DiscardHandler), func(context.Context, time.Time, output.Params, TuneSchedule, string) error { return nil }); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "settings") {
		t.Errorf("tune.spec without settings: err = %v, want a usage error naming settings", err)
	}
	cfg.Settings = filepath.Join(t.TempDir(), "settings.json")
	if _, err := NewScheduler(cfg, slog.New(slog.DiscardHandler), nil); !errors.Is(err, ErrUsage) {
		t.Errorf("tune.spec without a tuner: err = %v, want a usage error", err)
	}
	cfg.Tune.HoldoutDays = 0
	if err := cfg.Validate(); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "holdout_days") {
		t.Errorf("tune.holdout_days 0: err = %v", err)
	}
}
