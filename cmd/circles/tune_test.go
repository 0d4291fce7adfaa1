package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"circles/output"
)

// TestTuneThenRun tunes on the shared world's last days, runs with the
// settings file it wrote, and checks that the manifest records it; that
// a changed settings file, or one given with -config, is refused before
// anything is published; and that tune checks where it writes.
func TestTuneThenRun(t *testing.T) {
	t.Parallel()
	world, dir := generated(t), t.TempDir()
	settings, base := filepath.Join(dir, "settings.json"), filepath.Join(dir, "base.json")
	// the world has 30 days: the training window must fit before the held-out days
	if err := os.WriteFile(base, []byte(`{"window_days": 25, "features": {"dismiss_ttl_days": 25}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := circles(t, "tune", "-input", world, "-date", e2eDate, "-out", settings, "-config", base, "-tune-trials", "6", "-holdout-days", "5")
	if code != 0 {
		t.Fatalf("tune: exit %d\n%s", code, stderr)
	}
	s, err := output.ReadSettings(settings)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Validation) == 0 || !strings.Contains(stdout, s.Digest) || s.HoldoutDays != 5 || s.Date != e2eDate {
		t.Errorf("settings %+v; stdout:\n%s", s, stdout)
	}
	for _, v := range s.Validation {
		if v.Users < 20 || v.Reason == "" {
			t.Errorf("validation of %s: %+v", v.Task, v)
		}
	}
	out := filepath.Join(dir, "out")
	if code, _, stderr := circles(t, append(runArgs(world, out), "-settings", settings)...); code != 0 {
		t.Fatalf("run -settings: exit %d\n%s", code, stderr)
	}
	// the flags given still override the file: runArgs sets the window
	m := readManifest(t, filepath.Join(out, "date="+e2eDate, "run=e2e"))
	if m.Settings == nil || m.Settings.Digest != s.Digest || m.Settings.File != "settings.json" || m.Config.Friends != s.Params.Friends {
		t.Errorf("manifest settings %+v, friends %+v; want the file's", m.Settings, m.Config.Friends)
	}

	b, err := os.ReadFile(settings)
	if err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(dir, "tampered.json")
	if err := os.WriteFile(tampered, []byte(strings.Replace(string(b), `"holdout_days": 5`, `"holdout_days": 4`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"-settings", tampered, "-run-id", "t1"}, exitBadInput, tampered},
		{[]string{"-settings", settings, "-config", settings, "-run-id", "t2"}, exitUsage, "-config and -settings"},
		{[]string{"-settings", filepath.Join(dir, "none.json"), "-run-id", "t3"}, exitUsage, "none.json"},
	} {
		code, _, stderr := circles(t, append(runArgs(world, filepath.Join(dir, "out2")), c.args...)...)
		if code != c.code || !strings.Contains(stderr, c.says) {
			t.Errorf("run %v: exit %d, want %d naming %q\n%s", c.args, code, c.code, c.says, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out2")); err == nil {
		t.Error("a refused run left an output root behind")
	}
	for _, bad := range []string{filepath.Join(dir, "missing", "s.json"), dir} {
		if code, _, stderr := circles(t, "tune", "-input", world, "-date", e2eDate, "-out", bad); code != exitUsage || !strings.Contains(stderr, "-out") {
			t.Errorf("tune -out %s: exit %d, want %d\n%s", bad, code, exitUsage, stderr)
		}
	}
}
