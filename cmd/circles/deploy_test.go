package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"circles/jobs"
)

// TestCronJobMapsTheExitCodes keeps deploy/kubernetes/cronjob.yaml true to
// the exit codes: a failure that retrying cannot fix fails the Job, every
// other failure is retried, and its schedule config loads.
func TestCronJobMapsTheExitCodes(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kubernetes", "cronjob.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	rule := regexp.MustCompile(`(?s)- action: (\w+)\s+onExitCodes:.*?values: \[([0-9, ]+)\]`)
	codes := map[string][]int{}
	for _, m := range rule.FindAllStringSubmatch(text, -1) {
		for _, v := range strings.Split(m[2], ",") {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			codes[m[1]] = append(codes[m[1]], n)
		}
	}
	if want := []int{exitUsage, exitBadInput}; !slices.Equal(codes["FailJob"], want) {
		t.Errorf("FailJob on %v, want %v (usage, bad input)", codes["FailJob"], want)
	}
	if want := []int{exitFailure, exitNotReady, exitLocked, exitAfterCommit, exitInterrupted}; !slices.Equal(codes["Count"], want) {
		t.Errorf("Count on %v, want %v (retryable)", codes["Count"], want)
	}
	_, cfg, ok := strings.Cut(text, "schedule.json: |\n")
	if !ok {
		t.Fatal("no schedule.json in the ConfigMap")
	}
	var lines []string
	for _, l := range strings.Split(cfg, "\n") {
		lines = append(lines, strings.TrimPrefix(l, "    "))
	}
	if _, err := jobs.LoadScheduleConfigBytes([]byte(strings.Join(lines, "\n"))); err != nil {
		t.Errorf("the ConfigMap's schedule.json: %v", err)
	}
}

// TestStaticBuildCarriesItsVersion runs the Dockerfile's build line: a
// static binary whose version is the one the build passed in.
func TestStaticBuildCarriesItsVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	const line = `CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X circles/jobs.releaseVersion=${VERSION}" -o /out/circles ./cmd/circles`
	if !strings.Contains(string(b), line) {
		t.Fatalf("the Dockerfile no longer builds with\n%s\nupdate this test with it", line)
	}
	bin := filepath.Join(t.TempDir(), "circles")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X circles/jobs.releaseVersion=v9.9.9-test", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "circles v9.9.9-test (") {
		t.Errorf("version: %q (%v)", out, err)
	}
}
