package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/parquet-go/parquet-go"

	"circles/data"
	"circles/jobs"
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
	os.RemoveAll(dir)
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

// generated returns a world generated once for all end-to-end tests.
func generated(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "world")
	code, _, stderr := circles(t, "generate", "-out", dir, "-users", "1500", "-days", fmt.Sprint(e2eDays), "-seed", "7", "-end", e2eDate)
	if code != 0 {
		t.Fatalf("generate exited %d: %s", code, stderr)
	}
	return dir
}

func runArgs(world, out string) []string {
	return []string{"run", "-input", world, "-output", out, "-date", e2eDate, "-run-id", "e2e",
		"-window-days", fmt.Sprint(e2eDays), "-dismiss-ttl-days", fmt.Sprint(e2eDays)}
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
	if !slices.Equal(m.Outputs, m2.Outputs) {
		t.Errorf("outputs differ between a run on all cores and one on one worker:\n%v\n%v", m.Outputs, m2.Outputs)
	}
}

func readManifest(t *testing.T, dir string) output.Manifest {
	t.Helper()
	m, err := output.ReadManifest(dir) // as a consumer reads it
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func checkManifest(t *testing.T, dir string, m output.Manifest) {
	t.Helper()
	if m.ConfigDigest != m.Config.Digest() || len(m.ConfigDigest) != 64 {
		t.Errorf("config digest %q does not match the recorded config", m.ConfigDigest)
	}
	var quarantined int64
	tables := map[string]bool{}
	for _, s := range m.Inputs {
		tables[s.Table] = true
		var q int64
		for _, n := range s.Quarantined {
			q += n
		}
		if s.Read != s.Used+q {
			t.Errorf("%s: rows_read %d != rows_used %d + rows_quarantined %d", s.Table, s.Read, s.Used, q)
		}
		if s.Read == 0 || len(s.Files) == 0 {
			t.Errorf("%s: read %d rows from %d files", s.Table, s.Read, len(s.Files))
		}
		quarantined += q
	}
	for _, table := range append(slices.Clone(data.SnapshotTables), data.TableTransactions, data.TableInteractions) {
		if !tables[table] {
			t.Errorf("manifest has no input stats for %s", table)
		}
	}
	rejects, err := data.ReadParquet[data.Reject](filepath.Join(dir, output.FileRejects))
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(rejects)) != quarantined || quarantined == 0 {
		t.Errorf("rejects.parquet has %d rows, manifest counts %d quarantined (the generator plants bad rows)", len(rejects), quarantined)
	}
	want := []string{output.FileActivitiesArrow, output.FileActivities, output.FileFriendsArrow, output.FileFriends, output.FileGroupsArrow, output.FileGroups, output.FileItemFactors, output.FileRejects, output.FileInterests}
	var got []string
	for _, o := range m.Outputs {
		got = append(got, o.Name)
		b, err := os.ReadFile(filepath.Join(dir, o.Name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != o.SHA256 || int64(len(b)) != o.Bytes {
			t.Errorf("%s: checksum or size differs from the manifest", o.Name)
		}
		if strings.HasSuffix(o.Name, ".arrow") {
			if n := arrowRows(t, b); n != o.Rows {
				t.Errorf("%s: %d rows through Arrow's IPC reader, manifest says %d", o.Name, n, o.Rows)
			}
			continue
		}
		f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		if f.NumRows() != o.Rows {
			t.Errorf("%s: %d rows, manifest says %d", o.Name, f.NumRows(), o.Rows)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("outputs = %v, want %v", got, want)
	}
	var stages []string
	for _, st := range m.Timings {
		stages = append(stages, st.Stage)
	}
	// publish writes the manifest, so the manifest times the stages before it
	if want := []string{"ingest", "features", "interests", "groups", "friends"}; !slices.Equal(stages, want) {
		t.Errorf("timed stages = %v, want %v", stages, want)
	}
	if len(m.Model.Loss) == 0 || m.CodeVersion == "" {
		t.Errorf("manifest lacks model loss (%d) or code version (%q)", len(m.Model.Loss), m.CodeVersion)
	}
}

// checkSchemas compares each output's top-level columns with the contract.
func checkSchemas(t *testing.T, dir string) {
	t.Helper()
	want := map[string][]string{
		output.FileInterests:  {"user_id", "vector", "top_topics"},
		output.FileGroups:     {"user_id", "group_id", "rank", "score", "reasons"},
		output.FileActivities: {"user_id", "activity_id", "rank", "score", "reasons"},
		output.FileFriends:    {"user_id", "candidate_id", "rank", "score", "reasons"},
		output.FileRejects:    {"table", "file", "row", "column", "reason"},
	}
	for name, cols := range want {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		pf, err := parquet.OpenFile(f, st.Size())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, field := range pf.Schema().Fields() {
			got = append(got, field.Name())
		}
		f.Close()
		if !slices.Equal(got, cols) {
			t.Errorf("%s columns = %v, want %v", name, got, cols)
		}
	}
}

// world is the policy-relevant state of the inputs, computed here from the
// raw files independently of the pipeline's own ingest.
type world struct {
	now, windowStart int64
	users            map[int64]data.UserRow
	friends, family  map[[2]int64]bool
	blocked          map[[2]int64]bool
	dismissed        map[[2]int64]bool
	money            map[[2]int64]map[string]int
	groups           map[int64]data.GroupRow
	members          map[[2]int64]bool // (user, group)
	hidden           map[[2]int64]bool // (user, group or activity id)
	activities       map[int64]data.ActivityRow
	signups          map[[2]int64]bool // (user, activity)
}

func pair(a, b int64) [2]int64 {
	if a > b {
		a, b = b, a
	}
	return [2]int64{a, b}
}

func readTable[T any](t *testing.T, root, table string, day time.Time) []T {
	t.Helper()
	rows, err := data.ReadParquet[T](filepath.Join(data.PartitionDir(root, table, day), "part-00000.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func loadWorld(t *testing.T, root string) *world {
	t.Helper()
	date, _ := data.ParseDate(e2eDate)
	w := &world{now: date.AddDate(0, 0, 1).UnixMilli(), users: map[int64]data.UserRow{}, friends: map[[2]int64]bool{}, family: map[[2]int64]bool{},
		blocked: map[[2]int64]bool{}, dismissed: map[[2]int64]bool{}, money: map[[2]int64]map[string]int{}, groups: map[int64]data.GroupRow{},
		members: map[[2]int64]bool{}, hidden: map[[2]int64]bool{}, activities: map[int64]data.ActivityRow{}, signups: map[[2]int64]bool{}}
	w.windowStart = date.AddDate(0, 0, 1-e2eDays).UnixMilli()
	for _, u := range readTable[data.UserRow](t, root, data.TableUsers, date) {
		if _, dup := w.users[u.UserID]; !dup {
			w.users[u.UserID] = u
		}
	}
	for _, r := range readTable[data.RelationRow](t, root, data.TableRelations, date) {
		switch r.Kind {
		case "friend":
			w.friends[pair(r.UserID, r.OtherID)] = true
		case "family":
			w.family[pair(r.UserID, r.OtherID)] = true
		case "block":
			w.blocked[pair(r.UserID, r.OtherID)] = true
		}
	}
	for _, g := range readTable[data.GroupRow](t, root, data.TableGroups, date) {
		w.groups[g.GroupID] = g
	}
	for _, m := range readTable[data.MembershipRow](t, root, data.TableMemberships, date) {
		w.members[[2]int64{m.UserID, m.GroupID}] = true
	}
	for _, a := range readTable[data.ActivityRow](t, root, data.TableActivities, date) {
		w.activities[a.ActivityID] = a
	}
	refs := map[string][]int64{} // kind/ref → payers
	for d := range e2eDays {
		day := date.AddDate(0, 0, -d)
		for _, e := range readTable[data.Interaction](t, root, data.TableInteractions, day) {
			switch {
			case e.TargetKind == "user" && (e.Action == "block" || e.Action == "report"):
				w.blocked[pair(e.UserID, e.TargetID)] = true
			case e.TargetKind == "user" && (e.Action == "dismiss" || e.Action == "hide"):
				w.dismissed[pair(e.UserID, e.TargetID)] = true
			case e.Action == "dismiss" || e.Action == "hide" || e.Action == "report":
				w.hidden[[2]int64{e.UserID, e.TargetID}] = true
			case e.TargetKind == "activity" && (e.Action == "signup" || e.Action == "attend"):
				w.signups[[2]int64{e.UserID, e.TargetID}] = true
			}
		}
		for _, x := range readTable[data.Transaction](t, root, data.TableTransactions, day) {
			if x.PayeeType != "user" || x.AmountCents <= 0 || x.TimeMillis < w.windowStart || x.TimeMillis >= w.now || x.PayerID == x.PayeeID {
				continue
			}
			w.addMoney(x.PayerID, x.PayeeID, x.Kind)
			if x.Ref != nil && (x.Kind == "aa_split" || x.Kind == "fund_group") {
				k := fmt.Sprint(x.Kind, "/", *x.Ref)
				refs[k] = append(refs[k], x.PayerID)
			}
		}
	}
	for k, payers := range refs {
		kind, _, _ := strings.Cut(k, "/")
		for i := range payers {
			for j := i + 1; j < len(payers); j++ {
				if payers[i] != payers[j] {
					w.addMoney(payers[i], payers[j], kind)
				}
			}
		}
	}
	return w
}

func (w *world) addMoney(a, b int64, kind string) {
	p := pair(a, b)
	if w.money[p] == nil {
		w.money[p] = map[string]int{}
	}
	w.money[p][kind]++
}

// eligible: active and not opted out (the contract's definition).
func (w *world) eligible(id int64) bool {
	u, ok := w.users[id]
	return ok && u.Status == "active" && !u.SocialOptOut
}

// minor per docs/contract.md: is_minor if given, else a birth year at most
// 18 years before the run year, else unknown age, which counts as minor.
func (w *world) minor(id int64) bool {
	u := w.users[id]
	switch {
	case u.IsMinor != nil:
		return *u.IsMinor
	case u.BirthYear != nil:
		return 2026-int(*u.BirthYear) <= 18
	}
	return true
}

// ranked checks the ranking invariants of one output and returns rows
// grouped by user.
func ranked[T any](t *testing.T, name string, rows []T, key func(T) (user, target int64, rank int32, score float32)) {
	t.Helper()
	seen := map[[2]int64]bool{}
	var prevUser int64 = -1
	var prevRank int32
	var prevScore float32
	for _, r := range rows {
		u, c, rank, score := key(r)
		if seen[[2]int64{u, c}] {
			t.Errorf("%s: duplicate suggestion %d→%d", name, u, c)
		}
		seen[[2]int64{u, c}] = true
		if u < prevUser {
			t.Errorf("%s: user %d after %d; rows must be sorted by user", name, u, prevUser)
		}
		if u != prevUser {
			if rank != 1 {
				t.Errorf("%s: user %d starts at rank %d", name, u, rank)
			}
		} else if rank != prevRank+1 || score > prevScore {
			t.Errorf("%s: user %d rank %d (score %v) after rank %d (score %v)", name, u, rank, score, prevRank, prevScore)
		}
		prevUser, prevRank, prevScore = u, rank, score
	}
	if len(rows) == 0 {
		t.Errorf("%s is empty", name)
	}
}

func checkInterests(t *testing.T, dir string, w *world) {
	rows, err := data.ReadParquet[data.UserInterest](filepath.Join(dir, output.FileInterests))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rows {
		if !w.eligible(r.UserID) {
			t.Errorf("interests published for ineligible user %d", r.UserID)
		}
		if len(r.Vector) != 32 {
			t.Errorf("user %d: vector of %d dims", r.UserID, len(r.Vector))
		}
		if len(r.TopTopics) > 0 {
			n++
		}
	}
	if n < len(rows)/2 {
		t.Errorf("only %d of %d users have top topics", n, len(rows))
	}
}

var friendCodes = map[string]bool{data.ReasonMutualFriends: true, data.ReasonSplitBill: true, data.ReasonTransfer: true, data.ReasonRedPacket: true,
	data.ReasonFundGroup: true, data.ReasonFamily: true, data.ReasonSameGroup: true, data.ReasonSameActivity: true, data.ReasonSimilarInterest: true}

func checkFriends(t *testing.T, dir string, w *world) {
	rows, err := data.ReadParquet[data.FriendSuggestion](filepath.Join(dir, output.FileFriends))
	if err != nil {
		t.Fatal(err)
	}
	ranked(t, "friends", rows, func(s data.FriendSuggestion) (int64, int64, int32, float32) {
		return s.UserID, s.CandidateID, s.Rank, s.Score
	})
	moneyCode := map[string]string{data.ReasonSplitBill: "aa_split", data.ReasonTransfer: "transfer", data.ReasonRedPacket: "red_packet", data.ReasonFundGroup: "fund_group"}
	bad := 0
	fail := func(format string, args ...any) {
		if bad++; bad <= 20 {
			t.Errorf(format, args...)
		}
	}
	minorAdult := 0
	for _, s := range rows {
		u, c := s.UserID, s.CandidateID
		p := pair(u, c)
		switch {
		case u == c:
			fail("self-suggestion for %d", u)
		case !w.eligible(u) || !w.eligible(c):
			fail("%d→%d involves an ineligible user (opted out or not active)", u, c)
		case w.friends[p]:
			fail("%d→%d are already friends", u, c)
		case w.blocked[p]:
			fail("%d→%d: a block or report stands between them", u, c)
		case w.dismissed[p]:
			fail("%d→%d: dismissed within the TTL", u, c)
		}
		if w.minor(u) != w.minor(c) {
			minorAdult++
			if len(w.money[p]) == 0 && !w.family[p] {
				fail("%d→%d: a minor and an adult stranger (no money tie, no family account)", u, c)
			}
		}
		for _, r := range s.Reasons {
			if !friendCodes[r.Code] {
				fail("%d→%d: reason %q is not a friend reason", u, c, r.Code)
			}
			if kind, ok := moneyCode[r.Code]; ok && w.money[p][kind] == 0 {
				fail("%d→%d: reason %s but they took part in no %s together", u, c, r.Code, kind)
			}
			if r.Code == data.ReasonFamily && !w.family[p] {
				fail("%d→%d: family reason without a family relation", u, c)
			}
		}
		if len(s.Reasons) == 0 {
			fail("%d→%d has no reason", u, c)
		}
	}
	t.Logf("%d friend suggestions, %d between a minor and an adult (all with a money or family tie)", len(rows), minorAdult)
}

func checkGroups(t *testing.T, dir string, w *world) {
	rows, err := data.ReadParquet[data.GroupSuggestion](filepath.Join(dir, output.FileGroups))
	if err != nil {
		t.Fatal(err)
	}
	ranked(t, "groups", rows, func(s data.GroupSuggestion) (int64, int64, int32, float32) {
		return s.UserID, s.GroupID, s.Rank, s.Score
	})
	for _, s := range rows {
		g, ok := w.groups[s.GroupID]
		switch {
		case !ok || g.Status != "active":
			t.Errorf("group %d suggested to %d is not an active group", s.GroupID, s.UserID)
		case !w.eligible(s.UserID):
			t.Errorf("group suggestion for ineligible user %d", s.UserID)
		case g.City != w.users[s.UserID].City:
			t.Errorf("group %d in %s suggested to %d in %s", s.GroupID, g.City, s.UserID, w.users[s.UserID].City)
		case w.members[[2]int64{s.UserID, s.GroupID}]:
			t.Errorf("group %d suggested to its member %d", s.GroupID, s.UserID)
		case w.hidden[[2]int64{s.UserID, s.GroupID}]:
			t.Errorf("group %d suggested to %d, who dismissed, hid or reported it", s.GroupID, s.UserID)
		}
	}
}

func checkActivities(t *testing.T, dir string, w *world) {
	rows, err := data.ReadParquet[data.ActivitySuggestion](filepath.Join(dir, output.FileActivities))
	if err != nil {
		t.Fatal(err)
	}
	ranked(t, "activities", rows, func(s data.ActivitySuggestion) (int64, int64, int32, float32) {
		return s.UserID, s.ActivityID, s.Rank, s.Score
	})
	for _, s := range rows {
		checkCodes(t, "activity", s.Reasons, data.ReasonFriendsGoing, data.ReasonMatchesInterest, data.ReasonPopularNearby, data.ReasonStartsSoon)
		a, ok := w.activities[s.ActivityID]
		g := w.groups[a.GroupID]
		switch {
		case !ok || a.Status != "active" || g.Status != "active":
			t.Errorf("activity %d suggested to %d is not active or its group is not", s.ActivityID, s.UserID)
		case a.City != w.users[s.UserID].City:
			t.Errorf("activity %d in %s suggested to %d in %s", s.ActivityID, a.City, s.UserID, w.users[s.UserID].City)
		case a.StartMillis < w.now || a.StartMillis >= w.now+14*86_400_000:
			t.Errorf("activity %d starts outside the next 14 days", s.ActivityID)
		case w.signups[[2]int64{s.UserID, s.ActivityID}]:
			t.Errorf("activity %d suggested to %d, who signed up", s.ActivityID, s.UserID)
		case w.hidden[[2]int64{s.UserID, s.ActivityID}] || w.hidden[[2]int64{s.UserID, a.GroupID}]:
			t.Errorf("activity %d suggested to %d, who hid it or its group", s.ActivityID, s.UserID)
		}
	}
}

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
		{name: "bad date", args: func(w, o string) []string { return []string{"run", "-input", w, "-output", o, "-date", "20261120"} }, code: exitUsage, mentions: []string{"-date", "YYYY-MM-DD"}},
		{name: "input not ready", args: func(w, o string) []string {
			return []string{"run", "-input", w, "-output", o, "-date", "2026-12-25", "-window-days", "30", "-dismiss-ttl-days", "30"}
		}, code: exitNotReady, mentions: []string{"not ready", "dt=2026-12-25"}},
		{name: "missing success marker", prepare: func(t *testing.T, w string) {
			os.Remove(filepath.Join(data.PartitionDir(w, data.TableTransactions, date), data.SuccessMarker))
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

// arrowRows counts the rows of an Arrow IPC file with Arrow's own reader.
func arrowRows(t *testing.T, b []byte) int64 {
	t.Helper()
	r, err := ipc.NewFileReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var n int64
	for i := range r.NumRecords() {
		rec, err := r.RecordBatch(i)
		if err != nil {
			t.Fatal(err)
		}
		n += rec.NumRows()
	}
	return n
}

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
}

// checkCodes fails when a reason's code is not one of allowed.
func checkCodes(t *testing.T, what string, rs []data.Reason, allowed ...string) {
	t.Helper()
	for _, r := range rs {
		if !slices.Contains(allowed, r.Code) {
			t.Errorf("%s suggestion has reason %q; allowed: %v", what, r.Code, allowed)
		}
	}
}

// checkArrowReadsParquet loads the Parquet outputs, which parquet-go wrote,
// with Arrow's own Parquet reader (an independent implementation, as a
// ranking service in another stack would use), and compares row counts and
// the user_id column with what parquet-go reads.
func checkArrowReadsParquet(t *testing.T, dir string) {
	t.Helper()
	for _, name := range []string{output.FileInterests, output.FileGroups, output.FileActivities, output.FileFriends} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := pqarrow.ReadTable(t.Context(), f, nil, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		f.Close()
		if err != nil {
			t.Fatalf("%s: Arrow's Parquet reader: %v", name, err)
		}
		var sum int64
		col := tbl.Column(0)
		for _, chunk := range col.Data().Chunks() {
			for _, v := range chunk.(*array.Int64).Int64Values() {
				sum += v
			}
		}
		var want int64
		rows, err := data.ReadParquet[struct {
			UserID int64 `parquet:"user_id"`
		}](filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			want += r.UserID
		}
		if tbl.NumRows() != int64(len(rows)) || col.Name() != "user_id" || sum != want {
			t.Errorf("%s through Arrow: %d rows, first column %q summing to %d; parquet-go: %d rows summing to %d",
				name, tbl.NumRows(), col.Name(), sum, len(rows), want)
		}
		tbl.Release()
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

	cmd := exec.CommandContext(t.Context(), binary, append(args, "-run-id", "second", "-log-level", "info")...)
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
	io.Copy(io.Discard, stderr)
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
