package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"circles/data"
)

// Bad input, flags and paths: each fails with its exit code and a message
// naming it, and loses nothing.

func TestExitCodes(t *testing.T) {
	world := generated(t)
	date, _ := data.ParseDate(e2eDate)
	for _, tc := range []struct {
		name     string
		prepare  func(t *testing.T, world string) // damages a copy of the world
		args     func(world, out string) []string
		code     int
		mentions []string
	}{
		{name: "unknown command", args: func(_, _ string) []string { return []string{"frobnicate"} }, code: exitUsage, mentions: []string{"unknown command"}},
		{name: "bad flag value", args: func(w, o string) []string { return append(runArgs(w, o), "-window-days", "0") }, code: exitUsage, mentions: []string{"window_days = 0: want 1..36500"}},
		{name: "missing flag", args: func(w, o string) []string { return []string{"run", "-input", w, "-date", e2eDate} }, code: exitUsage, mentions: []string{"-output"}},
		{name: "bad memory limit", args: func(w, o string) []string { return append(runArgs(w, o), "-memory-limit", "6GB") }, code: exitUsage, mentions: []string{"-memory-limit", "GiB"}},
		{name: "over the memory budget", args: func(w, o string) []string { return append(runArgs(w, o), "-memory-limit", "4MiB") }, code: exitOverBudget, mentions: []string{"memory budget of 4.0 MiB", "nothing was published"}},
		{name: "bench dump into a directory", args: func(w, o string) []string { return []string{"bench-als", "-dataset", w, "-dump", w} }, code: exitUsage, mentions: []string{"-dump", "is not a regular file"}},
		{name: "object-store output", args: func(w, _ string) []string {
			return []string{"run", "-input", w, "-output", "s3://bucket/circles", "-date", e2eDate}
		}, code: exitUsage, mentions: []string{"-output s3://bucket/circles", "object-store URLs are not supported"}},
		{name: "bad date", args: func(w, o string) []string { return []string{"run", "-input", w, "-output", o, "-date", "20261120"} }, code: exitUsage, mentions: []string{"-date", "YYYY-MM-DD"}},
		{name: "input not ready", args: func(w, o string) []string {
			return []string{"run", "-input", w, "-output", o, "-date", "2026-12-25", "-window-days", "30", "-dismiss-ttl-days", "30"}
		}, code: exitNotReady, mentions: []string{"not ready", "dt=2026-12-25"}},
		{name: "missing success marker", prepare: func(t *testing.T, w string) {
			if err := os.Remove(filepath.Join(data.PartitionDir(w, data.TableTransactions, date), data.SuccessMarker)); err != nil {
				t.Fatal(err)
			}
		}, args: runArgs, code: exitNotReady, mentions: []string{"_SUCCESS"}},
		{name: "corrupt file", prepare: func(t *testing.T, w string) {
			p := filepath.Join(data.PartitionDir(w, data.TableInteractions, date.AddDate(0, 0, -3)), "part-00000.parquet")
			if err := os.WriteFile(p, []byte("this is not parquet"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, args: runArgs, code: exitBadInput, mentions: []string{"part-00000.parquet", "not a readable Parquet file"}},
		{name: "linked data file", prepare: func(t *testing.T, w string) {
			p := filepath.Join(data.PartitionDir(w, data.TableInteractions, date.AddDate(0, 0, -2)), "part-00000.parquet")
			moved := filepath.Join(t.TempDir(), "elsewhere.parquet")
			if err := os.Rename(p, moved); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(moved, p); err != nil {
				t.Fatal(err)
			}
		}, args: runArgs, code: exitBadInput, mentions: []string{"part-00000.parquet", "is a symbolic link"}},
		{name: "stray file in a partition", prepare: func(t *testing.T, w string) {
			if err := os.WriteFile(filepath.Join(data.PartitionDir(w, data.TableUsers, date), "users.csv"), []byte("1,x\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, args: runArgs, code: exitBadInput, mentions: []string{"users.csv", "is not named *.parquet"}},
		{name: "missing column", prepare: func(t *testing.T, w string) {
			type noAction struct {
				EventID    int64  `parquet:"event_id"`
				TimeMillis int64  `parquet:"time,timestamp(millisecond)"`
				UserID     int64  `parquet:"user_id"`
				TargetKind string `parquet:"target_kind"`
				TargetID   int64  `parquet:"target_id"`
			}
			p := filepath.Join(data.PartitionDir(w, data.TableInteractions, date), "part-00001.parquet")
			if err := data.WriteParquet(p, []noAction{{EventID: 1, TimeMillis: date.UnixMilli(), UserID: 1, TargetKind: "content", TargetID: 1}}); err != nil {
				t.Fatal(err)
			}
		}, args: runArgs, code: exitBadInput, mentions: []string{"part-00001.parquet", `column "action"`, "missing"}},
		{name: "wrong column type", prepare: func(t *testing.T, w string) {
			type textIDs struct {
				EventID    string `parquet:"event_id"`
				TimeMillis int64  `parquet:"time,timestamp(millisecond)"`
				UserID     int64  `parquet:"user_id"`
				TargetKind string `parquet:"target_kind"`
				TargetID   int64  `parquet:"target_id"`
				Action     string `parquet:"action"`
			}
			p := filepath.Join(data.PartitionDir(w, data.TableInteractions, date), "part-00001.parquet")
			if err := data.WriteParquet(p, []textIDs{{EventID: "x", TimeMillis: date.UnixMilli(), UserID: 1, TargetKind: "content", TargetID: 1, Action: "view"}}); err != nil {
				t.Fatal(err)
			}
		}, args: runArgs, code: exitBadInput, mentions: []string{`column "event_id"`, "BYTE_ARRAY", "want int64"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := world
			if tc.prepare != nil {
				w = filepath.Join(t.TempDir(), "world")
				if err := os.CopyFS(w, os.DirFS(world)); err != nil {
					t.Fatal(err)
				}
				tc.prepare(t, w)
			}
			out := filepath.Join(t.TempDir(), "out")
			code, _, stderr := circles(t, tc.args(w, out)...)
			if code != tc.code {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			msg := finalError(t, stderr)
			for _, m := range tc.mentions {
				if !mentions(msg, m) {
					t.Errorf("the final error does not mention %q as a whole: %q", m, msg)
				}
			}
			if _, err := os.Stat(filepath.Join(out, "date="+e2eDate)); err == nil {
				t.Errorf("a failed run published a date directory")
			}
		})
	}
}

// finalError returns the message of a failed command: the err of its
// structured "... failed" event when it logged one, else all it printed. A
// command that logged JSON must not end in a plain line.
func finalError(t *testing.T, stderr string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	last := lines[len(lines)-1]
	var ev struct{ Msg, Err, Outcome string }
	if json.Unmarshal([]byte(last), &ev) == nil {
		if !strings.HasSuffix(ev.Msg, " failed") || ev.Outcome == "" {
			t.Errorf("the last log event is %q with outcome %q, want a \"... failed\" event with an outcome", ev.Msg, ev.Outcome)
		}
		return ev.Err
	}
	if len(lines) > 1 && strings.HasPrefix(lines[0], "{") {
		t.Errorf("a command that logged JSON ended in a plain line: %q", last)
	}
	return stderr // a usage error before any logging: the message and the usage text
}

// mentions reports whether text holds m as a whole: followed by the end
// or by a character that cannot continue it, so that "1..365" does not
// match "1..36500".
func mentions(text, m string) bool {
	for rest := text; ; {
		i := strings.Index(rest, m)
		if i < 0 {
			return false
		}
		rest = rest[i+len(m):]
		if rest == "" || !strings.ContainsAny(rest[:1], "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_") {
			return true
		}
	}
}

// TestHostileRunIDRemovesNothing: a run ID that climbs out of the output
// root is refused (exit 2) before anything is created or removed.
func TestHostileRunIDRemovesNothing(t *testing.T) {
	world := generated(t)
	parent := t.TempDir()
	out := filepath.Join(parent, "x", "out")
	victim := filepath.Join(parent, "victim")
	if err := os.MkdirAll(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"x/../../victim", "x/../../../victim", "nightly\nforged", "a.b"} {
		code, _, stderr := circles(t, append(runArgs(world, out), "-run-id", id)...) // the last -run-id wins
		if code != exitUsage || !mentions(finalError(t, stderr), "-run-id") {
			t.Errorf("run id %q: exit %d, want %d naming -run-id; stderr:\n%s", id, code, exitUsage, stderr)
		}
	}
	if _, err := os.Stat(victim); err != nil {
		t.Errorf("victim removed: %v", err)
	}
}
