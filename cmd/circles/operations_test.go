package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"circles/data"
	"circles/jobs"
	"circles/output"
	"circles/pipeline"
)

// Operating the binary: config files, listing runs, the lock, the
// scheduler and signals.

// TestConfigFile checks that 'config defaults' is a complete config file,
// that a file's values apply, that flags given on the command line win over
// the file, and that a misspelt field is refused by name.
func TestConfigFile(t *testing.T) {
	world := generated(t)
	dir := t.TempDir()
	code, defaults, stderr := circles(t, "config", "defaults")
	if code != 0 {
		t.Fatalf("config defaults exited %d: %s", code, stderr)
	}
	var p output.Params
	if err := json.Unmarshal([]byte(defaults), &p); err != nil {
		t.Fatal(err)
	}
	if p.Digest() != output.DefaultParams().Digest() {
		t.Fatalf("config defaults does not round-trip to the defaults")
	}
	p.ALS.Factors, p.Friends.MaxPerUser = 8, 3
	b, _ := json.Marshal(p)
	conf := filepath.Join(dir, "circles.json")
	if err := os.WriteFile(conf, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	args := append(runArgs(world, out), "-config", conf, "-factors", "6")
	if code, _, stderr := circles(t, args...); code != 0 {
		t.Fatalf("run with -config exited %d: %s", code, stderr)
	}
	m := readManifest(t, filepath.Join(out, "date="+e2eDate, "run=e2e"))
	if m.Config.ALS.Factors != 6 || m.Config.Friends.MaxPerUser != 3 || m.Config.WindowDays != e2eDays {
		t.Errorf("resolved config: factors %d (want 6, the flag), friends per user %d (want 3, the file), window %d (want %d, the flag)",
			m.Config.ALS.Factors, m.Config.Friends.MaxPerUser, m.Config.WindowDays, e2eDays)
	}
	typo := filepath.Join(dir, "typo.json")
	if err := os.WriteFile(typo, []byte(`{"als": {"factorz": 8}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = circles(t, append(runArgs(world, filepath.Join(dir, "out2")), "-config", typo)...)
	if code != exitUsage || !strings.Contains(stderr, `"factorz"`) {
		t.Errorf("misspelt field: exit %d, stderr %q; want %d naming the field", code, stderr, exitUsage)
	}
}

// TestRunsAndShow lists published runs, skipping an incomplete directory,
// and shows one user's suggestions in words.
func TestRunsAndShow(t *testing.T) {
	world := generated(t)
	out := filepath.Join(t.TempDir(), "out")
	if code, _, stderr := circles(t, runArgs(world, out)...); code != 0 {
		t.Fatalf("run exited %d: %s", code, stderr)
	}
	if err := os.MkdirAll(filepath.Join(out, "date=2026-11-21", "run=crashed"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(out, ".staging-died"), 0o755); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := circles(t, "runs", "-output", out)
	if code != 0 || !strings.Contains(stdout, "2026-11-20  e2e") || strings.Contains(stdout, "run=crashed") ||
		!strings.Contains(stdout, "incomplete: .staging-died") {
		t.Errorf("runs: exit %d, stdout:\n%s\nstderr: %s", code, stdout, stderr)
	}
	dir := filepath.Join(out, "date="+e2eDate, "run=e2e")
	friends, err := data.ReadParquet[data.FriendSuggestion](filepath.Join(dir, output.FileFriends))
	if err != nil || len(friends) == 0 {
		t.Fatalf("no friend suggestions to show: %v", err)
	}
	u := friends[0]
	code, stdout, stderr = circles(t, "show", "-run", dir, "-user", fmt.Sprint(u.UserID), "-n", "3")
	want := fmt.Sprintf("person %d (score %.2f): %s", u.CandidateID, u.Score, output.ReasonWords(u.Reasons))
	if code != 0 || !strings.Contains(stdout, want) || !strings.Contains(stdout, "interests:") {
		t.Errorf("show: exit %d, stdout lacks %q:\n%s\nstderr: %s", code, want, stdout, stderr)
	}
	if code, _, _ := circles(t, "show", "-run", out, "-user", "1"); code != exitUsage {
		t.Errorf("show on a directory that is not a run: exit %d, want %d", code, exitUsage)
	}
	if code, _, stderr := circles(t, "show", "-run", dir, "-user", "424242424242"); code != exitUsage || !strings.Contains(stderr, "-user 424242424242") {
		t.Errorf("show on a user the run does not have: exit %d, %s; want %d naming the user", code, stderr, exitUsage)
	}
	code, stdout, stderr = circles(t, "runs", "-output", out)
	if code != 0 || !strings.Contains(stdout, "e2e  latest") {
		t.Errorf("runs does not mark the run latest points to:\n%s%s", stdout, stderr)
	}
	code, stdout, stderr = circles(t, "runs", "-output", out, "-json")
	var listed struct {
		Runs []struct {
			Dir      string          `json:"dir"`
			Latest   bool            `json:"latest"`
			Manifest output.Manifest `json:"manifest"`
		} `json:"runs"`
		Incomplete []string `json:"incomplete"`
	}
	if err := json.Unmarshal([]byte(stdout), &listed); code != 0 || err != nil || len(listed.Runs) != 1 || !listed.Runs[0].Latest ||
		listed.Runs[0].Manifest.RunID != "e2e" || !slices.Equal(listed.Incomplete, []string{".staging-died"}) {
		t.Errorf("runs -json: exit %d (%v):\n%s%s", code, err, stdout, stderr)
	}
}

// TestHelpAndTypos: -h prints a command's flags once and exits 0 (config
// too); a mistyped command or flag exits 2 with one line that names the
// likely intended one, not the usage.
func TestHelpAndTypos(t *testing.T) {
	for _, c := range []struct {
		args  []string
		code  int
		want  string
		never string
	}{
		{[]string{"run", "-h"}, 0, "-input string", ""},
		{[]string{"config", "-h"}, 0, "circles config defaults", ""},
		{[]string{"rn"}, exitUsage, `did you mean "run"?`, "commands:"},
		{[]string{"run", "-inptu", "x"}, exitUsage, "did you mean -input?", "Usage of"},
		{[]string{"runs", "-outptu", "x"}, exitUsage, "did you mean -output?", "Usage of"},
	} {
		code, stdout, stderr := circles(t, c.args...)
		both := stdout + stderr
		if code != c.code || !strings.Contains(both, c.want) || (c.never != "" && strings.Contains(both, c.never)) {
			t.Errorf("circles %v: exit %d, want %d with %q:\n%s", c.args, code, c.code, c.want, both)
		}
		if strings.Count(both, "flag provided but not defined") > 1 {
			t.Errorf("circles %v prints its error twice:\n%s", c.args, both)
		}
	}
}

// TestLockRefusesASecondWriter holds the output root's lock, as a running
// nightly job would, and checks that a manual run is refused with its own
// exit code and writes nothing.
func TestLockRefusesASecondWriter(t *testing.T) {
	world := generated(t)
	out := filepath.Join(t.TempDir(), "out")
	unlock, err := pipeline.Lock(out)
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := circles(t, runArgs(world, out)...)
	if code != exitLocked || !strings.Contains(stderr, "another run holds the lock") {
		t.Errorf("run while locked: exit %d, stderr %q; want %d", code, stderr, exitLocked)
	}
	if _, err := os.Stat(filepath.Join(out, "date="+e2eDate)); err == nil {
		t.Errorf("a refused run published something")
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := circles(t, runArgs(world, out)...); code != 0 {
		t.Errorf("run after unlock: exit %d: %s", code, stderr)
	}
}

// TestScheduleOnce runs the scheduler's catch-up through the binary: a
// night whose input never lands exits with the not-ready code; with the
// world's own last day as yesterday, it publishes.
func TestScheduleOnce(t *testing.T) {
	world := generated(t)
	dir := t.TempDir()
	code, defaults, _ := circles(t, "config", "schedule-defaults")
	if code != 0 {
		t.Fatalf("config schedule-defaults exited %d", code)
	}
	cfg, err := jobs.LoadScheduleConfigBytes([]byte(defaults))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Input, cfg.Output = world, filepath.Join(dir, "out")
	cfg.Params.WindowDays, cfg.Params.Features.DismissTTLDays = e2eDays, e2eDays
	cfg.MaxCatchUpDays, cfg.InputWaitSeconds = 1, 0
	b, _ := json.Marshal(cfg)
	path := filepath.Join(dir, "schedule.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// The world ends on 2026-11-20. The scheduler's yesterday is the real
	// date minus one day in Beijing, which has been 2026-11-21 or later ever
	// since this test was written, so that night has no input: not ready.
	code, _, stderr := circles(t, "schedule", "-config", path, "-once")
	if code != exitNotReady || !strings.Contains(stderr, "not ready") {
		t.Errorf("schedule -once without input: exit %d, stderr %q; want %d", code, stderr, exitNotReady)
	}
}

// TestSIGTERMMidRunKeepsLatest publishes one run, starts a second on the
// same output root, sends SIGTERM once it is past ingest, and checks that
// the process exits as interrupted, latest still points at the first run,
// and no staging directory is left.
func TestSIGTERMMidRunKeepsLatest(t *testing.T) {
	dir := t.TempDir()
	world := filepath.Join(dir, "world")
	if code, _, stderr := circles(t, "generate", "-out", world, "-users", "20000", "-days", "30", "-end", e2eDate); code != 0 {
		t.Fatalf("generate exited %d: %s", code, stderr)
	}
	out := filepath.Join(dir, "out")
	args := []string{"run", "-input", world, "-output", out, "-date", e2eDate, "-window-days", "30", "-dismiss-ttl-days", "30", "-iterations", "30"}
	if code, _, stderr := circles(t, append(args, "-run-id", "first")...); code != 0 {
		t.Fatalf("first run exited %d: %s", code, stderr)
	}
	first, _ := pipeline.Latest(out)

	cmd := exec.CommandContext(t.Context(), binary, append(args, "-run-id", "second", "-force", "-log-level", "info")...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<16)
	var log strings.Builder
	for !strings.Contains(log.String(), `"stage":"interests"`) { // 30 ALS sweeps: seconds to go
		n, err := stderr.Read(buf)
		log.Write(buf[:n])
		if err != nil {
			t.Fatalf("run ended before the interests stage: %v\n%s", err, log.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, stderr); err != nil {
		t.Error(err)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitInterrupted {
		t.Errorf("SIGTERM mid-run: %v, want exit %d", err, exitInterrupted)
	}
	if latest, _ := pipeline.Latest(out); latest != first || first == "" {
		t.Errorf("latest = %q after an interrupted run, want the first run %q", latest, first)
	}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".staging-") {
			t.Errorf("staging directory %s left behind", e.Name())
		}
	}
	if _, err := os.Stat(filepath.Join(out, "date="+e2eDate, "run=second")); err == nil {
		t.Errorf("the interrupted run was published")
	}
}

// TestRerunningADateIsANoOp: as an orchestrator retries a logical date.
// The same run again publishes nothing, exits 0 and says so; a backfill
// over that date skips it though its run ID differs; -force redoes it.
func TestRerunningADateIsANoOp(t *testing.T) {
	world := generated(t)
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"run", "-input", world, "-output", out, "-date", e2eDate, "-window-days", fmt.Sprint(e2eDays), "-dismiss-ttl-days", fmt.Sprint(e2eDays)}
	code, first, stderr := circles(t, args...)
	if code != 0 {
		t.Fatalf("run exited %d: %s", code, stderr)
	}
	code, again, stderr := circles(t, args...)
	if code != 0 || again != first || !strings.Contains(stderr, "already published") {
		t.Errorf("rerun: exit %d, stdout %q (first %q), stderr %s", code, again, first, stderr)
	}
	code, stdout, stderr := circles(t, "backfill", "-input", world, "-output", out, "-from", e2eDate, "-to", e2eDate,
		"-window-days", fmt.Sprint(e2eDays), "-dismiss-ttl-days", fmt.Sprint(e2eDays))
	if code != 0 || !strings.Contains(stdout, "0 dates run, 1 already published") {
		t.Errorf("backfill over a published date: exit %d, %q, %s", code, stdout, stderr)
	}
	code, forced, stderr := circles(t, append(args, "-force")...)
	if code != 0 || forced == first {
		t.Errorf("-force: exit %d, published %q, want a new run beside %q: %s", code, forced, first, stderr)
	}
	runs, err := pipeline.PublishedRuns(out)
	if err != nil || len(runs) != 2 {
		t.Errorf("published runs %v (%v), want the first and the forced one", runs, err)
	}
}
