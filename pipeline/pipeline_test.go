package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestForChunksVisitsEveryIndexOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ n, workers, chunk int }{{0, 2, 3}, {1, 4, 10}, {100, 3, 7}, {1000, 2, 1}} {
		seen := make([]int32, tc.n)
		var inits atomic.Int32
		err := ForChunks(t.Context(), tc.n, tc.workers, tc.chunk, func() *int { inits.Add(1); return new(int) }, func(s *int, lo, hi int) {
			for i := lo; i < hi; i++ {
				atomic.AddInt32(&seen[i], 1)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range seen {
			if c != 1 {
				t.Fatalf("n=%d: index %d visited %d times", tc.n, i, c)
			}
		}
		if int(inits.Load()) > tc.workers {
			t.Errorf("n=%d: %d states for %d workers", tc.n, inits.Load(), tc.workers)
		}
	}
}

func TestForEachReturnsFirstErrorAndCancels(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	err := ForEach(t.Context(), 100, 2, func(ctx context.Context, i int) error {
		if i == 3 {
			return boom
		}
		<-time.After(time.Millisecond)
		return ctx.Err()
	})
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want boom", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := ForRange(ctx, 10, 2, 1, func(lo, hi int) {}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ForRange err = %v", err)
	}
}

func TestPublishIsAllOrNothing(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	date := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	st, err := NewStaging(root, date, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(st.Path("a.parquet"), []byte("rows"), 0o644); err != nil {
		t.Fatal(err)
	}
	final := RunDir(root, date, "r1")
	if _, err := os.Stat(final); err == nil {
		t.Fatalf("run visible before Publish")
	}
	files, err := st.Describe(map[string]int64{"a.parquet": 1})
	if err != nil {
		t.Fatal(err)
	}
	// the sha256 of "rows", as printed by `printf rows | sha256sum`
	want := FileEntry{Name: "a.parquet", Rows: 1, Bytes: 4, SHA256: "bc51e9e65d79e1c90ba544ab2eae1044ccdf8c1af7a559ba375cba4276f7d99e"}
	if files[0] != want {
		t.Errorf("described %+v, want %+v", files[0], want)
	}
	dir, err := st.Publish(map[string]any{"files": files})
	if err != nil {
		t.Fatal(err)
	}
	if dir != final {
		t.Errorf("published to %s, want %s", dir, final)
	}
	for _, name := range []string{"a.parquet", ManifestName} {
		if _, err := os.Stat(filepath.Join(final, name)); err != nil {
			t.Errorf("published run lacks %s", name)
		}
	}
	if _, err := os.Stat(st.Dir); err == nil {
		t.Errorf("staging directory still exists after publish")
	}
	if _, err := NewStaging(root, date, "r1"); err == nil {
		t.Errorf("staging a published run id again succeeded")
	}
	st2, err := NewStaging(root, date, "r2")
	if err != nil {
		t.Fatal(err)
	}
	if err := st2.Abort(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 {
		t.Errorf("root holds %d entries after an abort, want only the date directory", len(entries))
	}
	if _, err := NewStaging(root, date, "../evil"); err == nil {
		t.Errorf("a run id with a path separator was accepted")
	}
}

// publishRun publishes a run with one file and returns its directory and
// manifest entries.
func publishRun(t *testing.T, root, date, id string) (string, []FileEntry) {
	t.Helper()
	day, _ := time.Parse("2006-01-02", date)
	st, err := NewStaging(root, day, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(st.Path("a.parquet"), []byte(id), 0o644); err != nil {
		t.Fatal(err)
	}
	files, err := st.Describe(map[string]int64{"a.parquet": 1})
	if err != nil {
		t.Fatal(err)
	}
	published := time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC).Add(time.Duration(len(t.Name())+publishCount(root)) * time.Minute)
	dir, err := st.Publish(Run{Stamp: Stamp{Date: date, PublishedAt: published}})
	if err != nil {
		t.Fatal(err)
	}
	return dir, files
}

// publishCount counts the runs published under root, so that each run
// publishRun publishes is stamped a minute after the one before.
func publishCount(root string) int {
	runs, _ := PublishedRuns(root)
	return len(runs)
}

func TestLatestAndPrune(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	old, _ := publishRun(t, root, "2026-11-18", "a")
	mid, _ := publishRun(t, root, "2026-11-19", "a")
	dir, _ := publishRun(t, root, "2026-11-20", "a")
	if got, _ := Latest(root); got != "" {
		t.Errorf("latest = %q before any switch", got)
	}
	for _, d := range []string{mid, old} { // the last switch wins, whatever it is
		if err := PointLatest(root, d); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := Latest(root); got != old || err != nil {
		t.Errorf("latest = %q, %v; want %q", got, err, old)
	}
	if err := os.MkdirAll(filepath.Join(root, "date=2026-11-10", "run=incomplete"), 0o755); err != nil {
		t.Fatal(err)
	}
	// keep 1: only the newest stays, plus the one latest points to (old),
	// plus the incomplete directory, which prune must not touch.
	removed, err := Prune(root, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != mid {
		t.Errorf("removed %v, want [%s]", removed, mid)
	}
	for _, d := range []string{old, dir, filepath.Join(root, "date=2026-11-10", "run=incomplete")} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s was removed", d)
		}
	}
	if _, err := os.Stat(filepath.Dir(mid)); err == nil {
		t.Errorf("empty date directory %s left behind", filepath.Dir(mid))
	}
}

func TestValidRunID(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"e2e", "20261121T020000Z", "backfill-0123456789ab", "fix_1+2", strings.Repeat("x", MaxRunIDBytes)} {
		if err := ValidRunID(id); err != nil {
			t.Errorf("ValidRunID(%q) = %v, want nil", id, err)
		}
	}
	for _, id := range []string{"", "x/../../victim", "..", ".", "a.b", `a\b`, "a/b", "nightly\nfake", "tab\there", "a b", "date=x", "é", strings.Repeat("x", MaxRunIDBytes+1)} {
		if err := ValidRunID(id); err == nil {
			t.Errorf("ValidRunID(%q) = nil, want an error", id)
		}
	}
}

// TestRunsOrderByPublicationNotName: a run of the same date published later
// is newer whatever its ID, latest follows it, and prune never removes the
// run just published.
func TestRunsOrderByPublicationNotName(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	nightly, _ := publishRun(t, root, "2026-11-20", "nightly-b")
	if dir, moved, err := UpdateLatest(root); err != nil || !moved || dir != nightly {
		t.Fatalf("UpdateLatest = %q, %v, %v; want %q moved", dir, moved, err, nightly)
	}
	fix, _ := publishRun(t, root, "2026-11-20", "fix-a") // later, with a smaller ID
	if dir, moved, err := UpdateLatest(root); err != nil || !moved || dir != fix {
		t.Errorf("UpdateLatest = %q, %v, %v; want the later run %q", dir, moved, err, fix)
	}
	old, _ := publishRun(t, root, "2026-11-19", "zzz") // a backfill of an older date
	if dir, moved, err := UpdateLatest(root); err != nil || moved || dir != fix {
		t.Errorf("after a backfill UpdateLatest = %q, %v, %v; want latest kept on %q", dir, moved, err, fix)
	}
	removed, err := Prune(root, 1, old)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []string{nightly}) {
		t.Errorf("prune(keep 1) removed %v, want only %s (fix-a is latest, zzz was just published)", removed, nightly)
	}
	runs, _ := PublishedRuns(root)
	if len(runs) != 2 || runs[0].Dir != old || runs[1].Dir != fix {
		t.Errorf("runs after prune = %v", runs)
	}
}

func TestLatestRepairedAfterALostSwitch(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir, _ := publishRun(t, root, "2026-11-20", "a")
	// A crash between the rename and the switch leaves no latest.
	if got, _ := Latest(root); got != "" {
		t.Fatalf("latest = %q before any switch", got)
	}
	if got, moved, err := UpdateLatest(root); err != nil || !moved || got != dir {
		t.Errorf("UpdateLatest = %q, %v, %v; want %q", got, moved, err, dir)
	}
}

func TestClearLeftoversRemovesOnlyWhatRunsMake(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	root := filepath.Join(parent, "out")
	victim := filepath.Join(parent, "victim")
	for _, d := range []string{victim, filepath.Join(root, ".staging-crashed", "x"), filepath.Join(root, ".trash-date=2026-11-01-run=a"), filepath.Join(root, "keep")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A link named like a staging directory is removed, never followed.
	if err := os.Symlink(victim, filepath.Join(root, ".staging-link")); err != nil {
		t.Fatal(err)
	}
	listed, _ := Leftovers(root)
	removed, err := ClearLeftovers(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".staging-crashed", ".staging-link", ".trash-date=2026-11-01-run=a"}
	if !slices.Equal(removed, want) || !slices.Equal(listed, want) {
		t.Errorf("listed %v, removed %v; want %v", listed, removed, want)
	}
	for _, d := range []string{victim, filepath.Join(root, "keep")} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s was removed", d)
		}
	}
	for _, name := range []string{"keep", "../victim", ".staging-", ".lock", "date=2026-11-20"} {
		if err := removeScratch(root, name); err == nil {
			t.Errorf("removeScratch(%q) = nil, want a refusal", name)
		}
	}
	if _, err := os.Stat(victim); err != nil {
		t.Errorf("victim removed: %v", err)
	}
}

// TestLatestSkipsPartialRuns publishes a whole run and then a newer
// partial one (a Beam run, which does not rank yet): latest stays on the
// whole run.
func TestLatestSkipsPartialRuns(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	whole, _ := publishRun(t, root, "2026-11-19", "a")
	day, _ := time.Parse("2006-01-02", "2026-11-20")
	st, err := NewStaging(root, day, "beam")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Publish(Run{Stamp: Stamp{Date: "2026-11-20", PublishedAt: time.Now().UTC(), Covers: []string{"ingest", "interests"}}}); err != nil {
		t.Fatal(err)
	}
	got, _, err := UpdateLatest(root)
	if err != nil || got != whole {
		t.Errorf("latest = %q, %v; want the whole run %q", got, err, whole)
	}
}
