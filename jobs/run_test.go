package jobs

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"circles/data"
	"circles/data/datatest"
	"circles/output"
	"circles/output/outputtest"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

var runDate = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// handWorld is a small world in which every row has a purpose:
//
//	hangzhou: 1–2–3 triangle, 3–4, 4–5, 1–6, 6–7 (7 is a minor), 1–8 and 8–5
//	(8 opted out), 2 blocks 4, 5 dismissed 3 last week, 4 paid 1 their share
//	of a bill; chengdu: 9 (a friend of 1) and 10.
//	groups: 100 hiking (2, 3), 101 board games (4; 1 dismissed it), 102
//	hiking in chengdu (9), 103 hiking but suspended.
func handWorld() *datatest.World {
	w := datatest.New(runDate, 7)
	for id := int64(1); id <= 8; id++ {
		w.User(id, "hangzhou")
	}
	w.User(9, "chengdu")
	w.User(10, "chengdu")
	minorYear := int32(runDate.Year() - 15)
	w.Users[6].BirthYear = &minorYear
	w.Users[7].SocialOptOut = true
	for _, p := range [][2]int64{{1, 2}, {2, 3}, {1, 3}, {3, 4}, {4, 5}, {1, 6}, {6, 7}, {1, 8}, {8, 5}, {1, 9}, {9, 10}} {
		w.Friend(p[0], p[1])
	}
	w.Relations = append(w.Relations, data.RelationRow{UserID: 2, OtherID: 4, Kind: "block", CreatedAtMillis: w.At(30, 0)})
	w.Group(100, "hangzhou", "hiking")
	w.Group(101, "hangzhou", "board_games")
	w.Group(102, "chengdu", "hiking")
	w.Group(103, "hangzhou", "hiking")
	w.Groups[3].Status = "suspended"
	w.Member(100, 2)
	w.Member(100, 3)
	w.Member(101, 4)
	w.Member(102, 9)
	w.Activities = []data.ActivityRow{
		{ActivityID: 200, GroupID: 100, City: "hangzhou", StartMillis: w.At(-3, 10), Status: "active"},
		{ActivityID: 201, GroupID: 102, City: "chengdu", StartMillis: w.At(-5, 10), Status: "active"},
		{ActivityID: 202, GroupID: 101, City: "hangzhou", StartMillis: w.At(-2, 10), Status: "active"},
	}
	w.Merchants = []data.MerchantRow{{MerchantID: 400, Category: "outdoor_gear", City: "hangzhou"}, {MerchantID: 401, Category: "supermarket", City: "hangzhou"}}
	w.Content = []data.ContentRow{{ContentID: 300, Topics: []string{"hiking"}}, {ContentID: 301, Topics: []string{"board_games"}}}
	w.Event(1, "content", 300, "view", w.At(2, 9))
	w.Event(1, "content", 300, "like", w.At(2, 9.1))
	w.Event(1, "group", 101, "dismiss", w.At(1, 8))
	w.Event(5, "user", 3, "dismiss", w.At(6, 12))
	w.Event(5, "group", 100, "view", w.At(3, 12))
	w.Event(2, "activity", 200, "signup", w.At(1, 20))
	w.Event(3, "activity", 200, "signup", w.At(1, 21))
	w.Event(4, "content", 301, "like", w.At(4, 9))
	w.Event(10, "content", 300, "view", w.At(4, 9))
	w.Pay(1, 400, "merchant", "payment", 25900, 0, w.At(3, 15))
	w.Pay(6, 401, "merchant", "payment", 4200, 0, w.At(3, 16))
	w.Pay(4, 1, "user", "aa_split", 8800, 77, w.At(2, 21))
	w.Pay(5, 1, "user", "aa_split", 8800, 77, w.At(2, 21))
	return w
}

func testParams() output.Params {
	p := output.DefaultParams()
	p.WindowDays = 7
	p.Features.DismissTTLDays = 7
	p.ALS.Factors = 4
	p.ALS.Iterations = 4
	return p
}

func runWorld(t *testing.T, w *datatest.World, p output.Params) *Result {
	t.Helper()
	root := t.TempDir()
	w.Write(t, filepath.Join(root, "in"))
	res, err := Run(t.Context(), RunConfig{Input: filepath.Join(root, "in"), Output: filepath.Join(root, "out"), Date: runDate, RunID: "t", Params: p}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	outputtest.CheckManifest(t, res.Dir)
	return res
}

// dump renders a run's outputs as sorted, diffable text.
func dump(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	interests, err := data.ReadParquet[data.UserInterest](filepath.Join(dir, output.FileInterests))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(&b, "# user_interests: user_id,dims,top_topics")
	for _, r := range interests {
		var tops []string
		for _, tw := range r.TopTopics {
			tops = append(tops, fmt.Sprintf("%s:%.3f", tw.Topic, tw.Weight))
		}
		fmt.Fprintf(&b, "%d,%d,%s\n", r.UserID, len(r.Vector), strings.Join(tops, " "))
	}
	reasons := func(rs []data.Reason) string {
		var s []string
		for _, r := range rs {
			s = append(s, fmt.Sprintf("%s(%d,%d,%s)", r.Code, r.Count, r.RefID, r.Topic))
		}
		return strings.Join(s, " ")
	}
	groups, err := data.ReadParquet[data.GroupSuggestion](filepath.Join(dir, output.FileGroups))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(&b, "# group_suggestions: user_id,group_id,rank,score,reasons")
	for _, r := range groups {
		fmt.Fprintf(&b, "%d,%d,%d,%.4f,%s\n", r.UserID, r.GroupID, r.Rank, r.Score, reasons(r.Reasons))
	}
	acts, err := data.ReadParquet[data.ActivitySuggestion](filepath.Join(dir, output.FileActivities))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(&b, "# activity_suggestions: user_id,activity_id,rank,score,reasons")
	for _, r := range acts {
		fmt.Fprintf(&b, "%d,%d,%d,%.4f,%s\n", r.UserID, r.ActivityID, r.Rank, r.Score, reasons(r.Reasons))
	}
	friends, err := data.ReadParquet[data.FriendSuggestion](filepath.Join(dir, output.FileFriends))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(&b, "# friend_suggestions: user_id,candidate_id,rank,score,reasons")
	for _, r := range friends {
		fmt.Fprintf(&b, "%d,%d,%d,%.4f,%s\n", r.UserID, r.CandidateID, r.Rank, r.Score, reasons(r.Reasons))
	}
	return b.String()
}

func TestRunHandWorldGolden(t *testing.T) {
	res := runWorld(t, handWorld(), testParams())
	got := dump(t, res.Dir)
	golden := filepath.Join("testdata", "run.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./jobs -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("outputs differ from %s (-want +got):\n%s", golden, diff)
	}
}

// TestRunHandWorldPolicy states the world's policy outcomes directly, so a
// golden file regenerated in haste cannot hide a policy regression.
func TestRunHandWorldPolicy(t *testing.T) {
	res := runWorld(t, handWorld(), testParams())
	friends, err := data.ReadParquet[data.FriendSuggestion](filepath.Join(res.Dir, output.FileFriends))
	if err != nil {
		t.Fatal(err)
	}
	groups, err := data.ReadParquet[data.GroupSuggestion](filepath.Join(res.Dir, output.FileGroups))
	if err != nil {
		t.Fatal(err)
	}
	suggested := map[[2]int64][]data.Reason{}
	for _, s := range friends {
		suggested[[2]int64{s.UserID, s.CandidateID}] = s.Reasons
	}
	for _, pair := range [][2]int64{
		{1, 7}, {7, 1}, // minor and adult stranger
		{2, 4}, {4, 2}, // block
		{5, 3}, {3, 5}, // dismissal, either direction
	} {
		if _, ok := suggested[pair]; ok {
			t.Errorf("suggested %d to %d; policy forbids it", pair[1], pair[0])
		}
	}
	for pair := range suggested {
		if pair[0] == 8 || pair[1] == 8 {
			t.Errorf("opted-out user 8 appears in suggestion %v", pair)
		}
	}
	// 5 paid 1 a share of the same bill: a money tie they both took part in.
	if rs, ok := suggested[[2]int64{1, 5}]; !ok {
		t.Errorf("5 not suggested to 1 despite the bill they split")
	} else if !hasReason(rs, data.ReasonSplitBill) || hasReason(rs, data.ReasonMutualFriends) {
		t.Errorf("reasons for 1→5 = %v, want split_bill and no mutual friends (8 opted out)", rs)
	}
	if rs, ok := suggested[[2]int64{1, 4}]; !ok || !hasReason(rs, data.ReasonSplitBill) || !hasReason(rs, data.ReasonMutualFriends) {
		t.Errorf("reasons for 1→4 = %v (suggested %v), want split_bill and mutual_friends", rs, ok)
	}
	for _, g := range groups {
		if g.UserID == 1 && g.GroupID != 100 {
			t.Errorf("user 1 got group %d; only 100 is same-city, active, not dismissed", g.GroupID)
		}
		if g.UserID == 9 && g.GroupID == 102 {
			t.Errorf("user 9 got group 102, which it is in")
		}
	}
}

func hasReason(rs []data.Reason, code string) bool {
	for _, r := range rs {
		if r.Code == code {
			return true
		}
	}
	return false
}

func TestRunIsByteIdentical(t *testing.T) {
	a := runWorld(t, handWorld(), testParams())
	b := runWorld(t, handWorld(), testParams())
	for _, name := range []string{output.FileInterests, output.FileGroups, output.FileActivities, output.FileFriends, output.FileRejects} {
		x, err := os.ReadFile(filepath.Join(a.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(filepath.Join(b.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if string(x) != string(y) {
			t.Errorf("%s differs between two runs on the same inputs", name)
		}
	}
}

func TestRunValidatesBeforeIO(t *testing.T) {
	p := testParams()
	p.ALS.Factors = 1
	_, err := Run(t.Context(), RunConfig{Input: "/nonexistent", Output: "/nonexistent", Date: runDate, Params: p}, slog.New(slog.DiscardHandler), nil)
	if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "als.factors") {
		t.Errorf("err = %v, want a usage error naming als.factors", err)
	}
}

func TestRunFailsOnTooManyBadRows(t *testing.T) {
	w := handWorld()
	for i := range 5 {
		w.Event(1, "content", 300, "superlike", w.At(1, float64(i)))
	}
	root := t.TempDir()
	w.Write(t, filepath.Join(root, "in"))
	p := testParams()
	p.MaxBadRowFraction = 0.1
	_, err := Run(t.Context(), RunConfig{Input: filepath.Join(root, "in"), Output: filepath.Join(root, "out"), Date: runDate, RunID: "t", Params: p}, slog.New(slog.DiscardHandler), nil)
	var tooBad *data.TooManyBadRowsError
	if !errors.As(err, &tooBad) || tooBad.Table != data.TableInteractions || !errors.Is(err, data.ErrBadInput) {
		t.Fatalf("err = %v, want too many bad interactions", err)
	}
	if _, err := os.Stat(filepath.Join(root, "out", "date=2026-11-20")); err == nil {
		t.Errorf("a failed run published a date directory")
	}
}

func runInto(t *testing.T, w *datatest.World, out string, cfg RunConfig) *Result {
	t.Helper()
	in := filepath.Join(t.TempDir(), "in")
	w.Write(t, in)
	cfg.Input, cfg.Output, cfg.Date = in, out, runDate
	res, err := Run(t.Context(), cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	outputtest.CheckManifest(t, res.Dir)
	return res
}

func friendRows(t *testing.T, dir string) map[int64][]data.FriendSuggestion {
	t.Helper()
	rows, err := data.ReadParquet[data.FriendSuggestion](filepath.Join(dir, output.FileFriends))
	if err != nil {
		t.Fatal(err)
	}
	by := map[int64][]data.FriendSuggestion{}
	for _, r := range rows {
		by[r.UserID] = append(by[r.UserID], r)
	}
	return by
}

// TestSubsetChangesOnlyListedUsers changes the inputs of two users, 2 and
// 3 (each now sent money by a stranger), and recomputes only user 2: 2's
// suggestions change, 3's and everybody else's stay exactly as published.
func TestSubsetChangesOnlyListedUsers(t *testing.T) {
	out := t.TempDir()
	base := runInto(t, handWorld(), out, RunConfig{RunID: "base", Params: testParams()})
	w := handWorld()
	w.Pay(10, 2, "user", "transfer", 5000, 0, w.At(1, 10))
	w.Pay(9, 3, "user", "transfer", 5000, 0, w.At(1, 11))
	sub := runInto(t, w, out, RunConfig{RunID: "subset", Base: base.Dir, Users: []int64{2}, Params: testParams()})
	before, after := friendRows(t, base.Dir), friendRows(t, sub.Dir)
	if cmp.Equal(before[2], after[2]) {
		t.Errorf("user 2 was listed and its inputs changed, but its suggestions did not: %v", after[2])
	}
	if !slices.ContainsFunc(after[2], func(s data.FriendSuggestion) bool {
		return s.CandidateID == 10 && hasReason(s.Reasons, data.ReasonTransfer)
	}) {
		t.Errorf("user 2's new suggestions lack 10 (who sent it money): %v", after[2])
	}
	// The control: recomputing everybody on the changed inputs does change
	// user 3, so 3 staying as published is the subset run's doing.
	full := friendRows(t, runInto(t, w, t.TempDir(), RunConfig{RunID: "full", Params: testParams()}).Dir)
	if cmp.Equal(full[3], before[3]) {
		t.Fatalf("control failed: a full recompute leaves user 3 unchanged, so the test proves nothing")
	}
	for u, rows := range before {
		if u != 2 && !cmp.Equal(rows, after[u]) {
			t.Errorf("user %d was not listed but its suggestions changed:\n%v\n%v", u, rows, after[u])
		}
	}
	if len(after) != len(before) || sub.Manifest.UsersRecomputed != 1 || sub.Manifest.Base != base.Dir {
		t.Errorf("subset run: %d users with suggestions (base %d), manifest %+v", len(after), len(before), sub.Manifest)
	}
}

// TestStagesReuseTheBaseRun recomputes only friends on unchanged inputs:
// the other outputs are the base's bytes, and friends, ranked with the
// base's interest model, come out identical too.
func TestStagesReuseTheBaseRun(t *testing.T) {
	out := t.TempDir()
	base := runInto(t, handWorld(), out, RunConfig{RunID: "base", Params: testParams()})
	re := runInto(t, handWorld(), out, RunConfig{RunID: "friends", Base: base.Dir, Stages: []string{StageFriends}, Params: testParams()})
	for _, name := range []string{output.FileInterests, output.FileItemFactors, output.FileGroups, output.FileGroupsArrow, output.FileActivities, output.FileActivitiesArrow, output.FileFriends, output.FileFriendsArrow} {
		x, err := os.ReadFile(filepath.Join(base.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(filepath.Join(re.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs from the base run", name)
		}
	}
	if len(re.Manifest.Timings) == 0 || re.Manifest.Stages[0] != StageFriends {
		t.Errorf("manifest does not record the stages: %+v", re.Manifest.Stages)
	}
	_, err := Run(t.Context(), RunConfig{Input: "x", Output: out, Date: runDate, Stages: []string{"friends"}, Params: testParams()}, slog.New(slog.DiscardHandler), nil)
	if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "-base") {
		t.Errorf("-stages without -base: %v", err)
	}
}

func FuzzParseUserList(f *testing.F) {
	f.Add("1\n2\n# a comment\n\n 3 \n")
	f.Add("12x\n")
	f.Add("-9223372036854775808\n")
	f.Fuzz(func(t *testing.T, s string) {
		ids, err := ParseUserList(strings.NewReader(s))
		if err != nil {
			if !strings.Contains(err.Error(), "line ") {
				t.Errorf("error %q does not name the line", err)
			}
			return
		}
		lines := 0
		for _, l := range strings.Split(s, "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				lines++
			}
		}
		if len(ids) != lines {
			t.Errorf("%d IDs from %d ID lines in %q", len(ids), lines, s)
		}
	})
}
