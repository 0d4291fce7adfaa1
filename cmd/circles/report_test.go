package main

import (
	"bytes"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"circles/output"
)

// chromiumFlags start headless Chromium on a closed network: without the
// background-networking flags it keeps trying to reach Google's hosts.
var chromiumFlags = []string{"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"}

// TestReportRendersInChromium opens a run's report.html in headless
// Chromium, as a person would: the page renders with its charts and every
// section, loading nothing from the network, and a screenshot is taken.
// .ci/run installs Chromium; elsewhere the test skips without it.
func TestReportRendersInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed; .ci/run installs it")
		}
		t.Skip("no chromium: install Debian's chromium package to run this test")
	}
	world := generated(t)
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := circles(t, runArgs(world, out)...)
	if code != 0 {
		t.Fatalf("run exited %d: %s", code, stderr)
	}
	page := "file://" + filepath.Join(strings.TrimSpace(stdout), output.FileReport)
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), chromium, slices.Concat(chromiumFlags, []string{"--user-data-dir=" + t.TempDir()}, args, []string{page})...)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium %v: %v\n%s", args, err, errb.String())
		}
		return b
	}
	dom := string(run("--dump-dom"))
	for _, want := range []string{"<svg", "Stages", "Quarantined rows by reason", "Groups", "Activities", "People you may know", "Coverage by city", "rejects.parquet"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered page lacks %q", want)
		}
	}
	if strings.Contains(dom, "{{") || strings.Contains(dom, "http://") || strings.Contains(dom, "https://") {
		t.Error("the page has template residue or a network reference")
	}
	shot := filepath.Join(t.TempDir(), "report.png")
	run("--window-size=1000,2400", "--screenshot="+shot)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer closeIn(t, f)
	cfg, err := png.DecodeConfig(f)
	if err != nil || cfg.Width != 1000 || cfg.Height != 2400 {
		t.Errorf("screenshot %dx%d (%v), want 1000x2400", cfg.Width, cfg.Height, err)
	}
}
