package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"circles/output"
	"circles/pipeline"
)

// The end-to-end tests build the real binary once and run it as a
// subprocess, exactly as cron or a person would.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "circles-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "circles")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build circles: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// circles runs the binary and returns its exit code, stdout and stderr.
func circles(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("run circles %v: %v", args, err)
	return 0, "", ""
}

const (
	e2eDate = "2026-11-20"
	e2eDays = 30
)

// The world the end-to-end tests share: generated once, on first use, and
// never written to (a test that damages inputs copies it first).
var (
	worldOnce sync.Once
	worldDir  string
	worldErr  error
)

// generated returns the shared world.
func generated(t *testing.T) string {
	t.Helper()
	worldOnce.Do(func() {
		dir := filepath.Join(filepath.Dir(binary), "world")
		cmd := exec.Command(binary, "generate", "-out", dir, "-users", "1500", "-days", fmt.Sprint(e2eDays), "-seed", "7", "-end", e2eDate)
		if out, err := cmd.CombinedOutput(); err != nil {
			worldErr = fmt.Errorf("generate: %v\n%s", err, out)
			return
		}
		worldDir = dir
	})
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return worldDir
}

func runArgs(world, out string) []string {
	return []string{"run", "-input", world, "-output", out, "-date", e2eDate, "-run-id", "e2e",
		"-window-days", fmt.Sprint(e2eDays), "-dismiss-ttl-days", fmt.Sprint(e2eDays)}
}

func readManifest(t *testing.T, dir string) output.Manifest {
	t.Helper()
	m, err := output.ReadManifest(dir) // as a consumer reads it
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestEndToEnd(t *testing.T) {
	world := generated(t)
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := circles(t, runArgs(world, out)...)
	if code != 0 {
		t.Fatalf("run exited %d: %s", code, stderr)
	}
	dir := strings.TrimSpace(stdout)
	if want := filepath.Join(out, "date="+e2eDate, "run=e2e"); dir != want {
		t.Fatalf("published %q, want %q", dir, want)
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("stderr line is not JSON (logs must be JSON off a terminal): %q", line)
		}
	}
	m := readManifest(t, dir)
	checkManifest(t, dir, m)
	checkSchemas(t, dir)
	w := loadWorld(t, world)
	checkInterests(t, dir, w)
	checkFriends(t, dir, w)
	checkGroups(t, dir, w)
	checkActivities(t, dir, w)
	var names []string
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{pipeline.LockName, "date=" + e2eDate, "latest"}; !slices.Equal(names, want) {
		t.Errorf("output root holds %v, want %v (no staging left behind)", names, want)
	}
	if target, err := filepath.EvalSymlinks(filepath.Join(out, "latest")); err != nil || target != dir {
		t.Errorf("latest resolves to %q (%v), want %q", target, err, dir)
	}
	checkArrowReadsParquet(t, dir)

	// Same inputs and config, on one worker instead of all cores:
	// byte-identical outputs.
	out2 := filepath.Join(t.TempDir(), "out")
	if code, _, stderr := circles(t, append(runArgs(world, out2), "-workers", "1")...); code != 0 {
		t.Fatalf("second run exited %d: %s", code, stderr)
	}
	m2 := readManifest(t, filepath.Join(out2, "date="+e2eDate, "run=e2e"))
	if !slices.Equal(m.DataFiles(), m2.DataFiles()) {
		t.Errorf("outputs differ between a run on all cores and one on one worker:\n%v\n%v", m.Outputs, m2.Outputs)
	}
}

func TestDemoRuns(t *testing.T) {
	code, stdout, stderr := circles(t, "demo", "-dir", t.TempDir(), "-users", "400", "-days", "20")
	if code != 0 {
		t.Fatalf("demo exited %d: %s", code, stderr)
	}
	for _, want := range []string{"rows read", "quarantined", "interactions", "ingest", "friends", "published", "user ", "person "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout)
		}
	}
}
