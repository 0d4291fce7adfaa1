package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/parquet-go/parquet-go"

	"circles/data"
	"circles/output"
	"circles/output/outputtest"
)

// Checks of a published run's outputs against the world it was computed
// from: the manifest, the schemas, every suggestions table and the policy.

func checkManifest(t *testing.T, dir string, m output.Manifest) {
	t.Helper()
	outputtest.CheckManifest(t, dir)
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
	want := []string{output.FileActivitiesArrow, output.FileActivities, output.FileFriendsArrow, output.FileFriends, output.FileGroupsArrow, output.FileGroups, output.FileItemFactors, output.FileRejects, output.FileReport, output.FileInterests}
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
		if o.Name == output.FileReport {
			if m.Report != output.FileReport || !bytes.HasPrefix(b, []byte("<!doctype html>")) || !bytes.Contains(b, []byte("People you may know")) {
				t.Errorf("%s is not the run's report, or the manifest does not link it (%q)", o.Name, m.Report)
			}
			continue
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
	// publish is timed up to the manifest; latest comes after it
	if want := []string{"ingest", "features", "interests", "groups", "friends", "publish"}; !slices.Equal(stages, want) {
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
		output.FileFriends:    {"user_id", "candidate_id", "rank", "score", "reasons", "relation", "p_family", "p_colleague", "p_classmate", "p_interest"},
		output.FileRejects:    {"source_table", "file", "row", "column_name", "reason"},
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
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
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
	contacts         map[[2]int64]bool // (owner, contact), directed
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
		contacts: map[[2]int64]bool{}, blocked: map[[2]int64]bool{}, dismissed: map[[2]int64]bool{}, money: map[[2]int64]map[string]int{}, groups: map[int64]data.GroupRow{},
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
		case "contact":
			w.contacts[[2]int64{r.UserID, r.OtherID}] = true
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
		if want := output.DefaultParams().ALS.Factors; len(r.Vector) != want {
			t.Errorf("user %d: vector of %d dims, want %d", r.UserID, len(r.Vector), want)
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
	data.ReasonFundGroup: true, data.ReasonFamily: true, data.ReasonSameGroup: true, data.ReasonSameActivity: true, data.ReasonSimilarInterest: true,
	data.ReasonInContacts: true}

// relationReason is the reason that names each relation type.
var relationReason = map[string]string{"family": data.ReasonMayBeFamily, "colleague": data.ReasonMayBeColleagues,
	"classmate": data.ReasonMayBeClassmates, "interest": data.ReasonMayShareCircle}

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
		probs := []float32{s.PFamily, s.PColleague, s.PClassmate, s.PInterest}
		sum := s.PFamily + s.PColleague + s.PClassmate + s.PInterest
		if _, ok := relationReason[s.Relation]; !ok || math.Abs(float64(sum)-1) > 1e-4 || slices.Max(probs) != probs[slices.Index([]string{"family", "colleague", "classmate", "interest"}, s.Relation)] {
			fail("%d→%d: relation %q with probabilities %v: want one of the four types, the most likely, probabilities summing to 1", u, c, s.Relation, probs)
		}
		for i, r := range s.Reasons {
			if code := relationReason[s.Relation]; r.Code == code && (i != 0 || slices.Max(probs) < 0.6) {
				fail("%d→%d: reason %s at %d with p = %v: want it first, and only from p ≥ reason_min", u, c, r.Code, i, slices.Max(probs))
			}
			if !friendCodes[r.Code] && r.Code != relationReason[s.Relation] {
				fail("%d→%d: reason %q is not a friend reason", u, c, r.Code)
			}
			if kind, ok := moneyCode[r.Code]; ok && w.money[p][kind] == 0 {
				fail("%d→%d: reason %s but they took part in no %s together", u, c, r.Code, kind)
			}
			if r.Code == data.ReasonFamily && !w.family[p] {
				fail("%d→%d: family reason without a family relation", u, c)
			}
			if r.Code == data.ReasonInContacts && !w.contacts[[2]int64{u, c}] {
				fail("%d→%d: in_contacts, but %d is not in %d's own address book", u, c, c, u)
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
		err = errors.Join(err, f.Close())
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

// arrowRows counts the rows of an Arrow IPC file with Arrow's own reader.
func arrowRows(t *testing.T, b []byte) int64 {
	t.Helper()
	r, err := ipc.NewFileReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer closeIn(t, r)
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

// closeIn closes c when the test is done with it, failing t if that fails.
func closeIn(t *testing.T, c io.Closer) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Error(err)
	}
}
