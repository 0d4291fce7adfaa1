package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"circles/beam/night"
	"circles/pipeline"
	"circles/synth"
)

// binary builds circles-beam once for the tests of this package.
func binary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "circles-beam")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func smallWorld(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "world")
	w := synth.DefaultConfig()
	w.Users, w.Days = 600, 30
	if _, err := synth.Generate(t.Context(), root, w, nil); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestCLI runs circles-beam as a subprocess, as an operator would: a run
// on Prism publishes a partial run with its manifest and leaves latest
// alone; bad flags and paths exit 2 naming them, before anything is
// written; a run killed mid-way leaves no readable output.
func TestCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the Beam binary")
	}
	bin, world := binary(t), smallWorld(t)
	// the runs' temporary files, including a killed run's, stay in the test's
	tmp := append(os.Environ(), "TMPDIR="+t.TempDir())
	run := func(args ...string) (int, string) {
		cmd := exec.Command(bin, append([]string{"run"}, args...)...)
		cmd.Env = tmp
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), stderr.String()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, stderr.String()
	}
	base := func(out string) []string {
		return []string{"-input", world, "-output", out, "-date", "2026-11-20", "-config", config(t), "-run-id", "b1", "-shards", "2", "-blocks", "3"}
	}

	out := filepath.Join(t.TempDir(), "out")
	if code, stderr := run(base(out)...); code != 0 {
		t.Fatalf("exit %d, want 0:\n%s", code, tail(stderr))
	}
	dir := pipeline.RunDir(out, time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), "b1")
	b, err := os.ReadFile(filepath.Join(dir, pipeline.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	var m night.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Driver != "beam" || len(m.Covers) == 0 || m.Model.Users == 0 || len(m.Outputs) != 5*2+1 {
		t.Errorf("manifest: driver %q, covers %v, %d users, %d outputs; want beam, what it covers, users, 2 shards × 5 outputs + rejects", m.Driver, m.Covers, m.Model.Users, len(m.Outputs))
	}
	if latest, _ := pipeline.Latest(out); latest != "" {
		t.Errorf("latest = %s after a partial run", latest)
	}

	for _, c := range []struct {
		name     string
		args     []string
		mentions string
	}{
		{"unregistered input store", []string{"-input", "memfs://bucket/in", "-output", filepath.Join(t.TempDir(), "o"), "-date", "2026-11-20"}, "-input memfs://bucket/in: this binary has no file system for memfs://"},
		{"bad input prefix", []string{"-input", "gs://bucket/in*", "-output", filepath.Join(t.TempDir(), "o"), "-date", "2026-11-20"}, "not allowed in an object-store path"},
		{"unregistered store", []string{"-input", world, "-output", "memfs://bucket/x", "-date", "2099-01-01"}, "no file system for memfs://"},
		{"bad object prefix", []string{"-input", world, "-output", "s3://bucket/../x", "-date", "2026-11-20"}, "segment in the path"},
		{"bad date", []string{"-input", world, "-output", filepath.Join(t.TempDir(), "o"), "-date", "20261120"}, "-date"},
		{"bad shards", append(base(filepath.Join(t.TempDir(), "o")), "-shards", "0"), "-shards = 0"},
		{"bad blocks", append(base(filepath.Join(t.TempDir(), "o")), "-blocks", "0"), "-blocks = 0"},
	} {
		code, stderr := run(c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.mentions) {
			t.Errorf("%s: exit %d, want %d mentioning %q:\n%s", c.name, code, exitUsage, c.mentions, tail(stderr))
		}
	}
	if _, err := os.Stat("s3:"); err == nil {
		t.Error("a local folder named s3: was created")
	}

	// killed mid-way: nothing readable, the root as it was
	killed := filepath.Join(t.TempDir(), "out")
	cmd := exec.Command(bin, append([]string{"run"}, base(killed)...)...)
	cmd.Env = tmp
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// kill it once its staging directory exists: the pipeline is running
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if left, _ := pipeline.Leftovers(killed); len(left) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no staging directory within a minute")
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // killed: its exit status is the signal
	runs, err := pipeline.PublishedRuns(killed)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if len(runs) != 0 {
		t.Errorf("a killed run left published runs: %v", runs)
	}
	// the next run clears what the killed one left and publishes
	if code, stderr := run(base(killed)...); code != 0 {
		t.Fatalf("the run after a killed one: exit %d, want 0:\n%s", code, tail(stderr))
	}
	if left, err := pipeline.Leftovers(killed); err != nil || len(left) != 0 {
		t.Errorf("leftovers after the next run: %v, %v", left, err)
	}
}

// config writes a settings file with a short window, for a small world.
func config(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(`{"window_days": 21, "features": {"dismiss_ttl_days": 28}, "als": {"iterations": 2}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}
