package eval

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"circles/data"
	"circles/features"
	"circles/jobs"
	"circles/models"
	"circles/output"
	"circles/synth"
)

// PlantedConfig configures the evaluation of a published run against
// the ground truth planted by the generator.
type PlantedConfig struct {
	World string // a generated world (with truth/)
	Run   string // a published run directory of that world
	K     int    // cut-off, 1..200
}

// Metric is a recall@K with its standard error over the evaluated users.
type Metric struct {
	Method string  `json:"method"`
	Task   string  `json:"task"`
	K      int     `json:"k"`
	Users  int     `json:"users"`
	Recall float64 `json:"recall"`
	StdErr float64 `json:"stderr"`
}

// RelationScore is how well a method names the relation type of the
// suggested ties that the generator planted with a type.
type RelationScore struct {
	Method   string             `json:"method"`
	Pairs    int                `json:"pairs"`
	Accuracy float64            `json:"accuracy"`
	MacroF1  float64            `json:"macro_f1"`
	F1       map[string]float64 `json:"f1_per_type"`
}

// PlantedReport is what Planted measured.
type PlantedReport struct {
	Recall    []Metric        `json:"recall"`
	Relations []RelationScore `json:"relation_types,omitempty"`
	// RelationNote says why relation types were not scored, when not.
	RelationNote string `json:"relation_note,omitempty"`
}

// Planted scores the run's friend and group suggestions, and two simple
// baselines computed from the same inputs and under the same policy
// filters (most mutual friends; most popular group in the user's city),
// against the planted future friendships and group joins. A user counts
// when they are eligible and have at least one planted event the policy
// allows; recall@K = hits in the top K / planted events.
//
// It also scores the relation type of every suggested tie that is a
// planted friendship of a known type: the run's against the majority type
// of the labelled friendships and a rule baseline (relationRule).
func Planted(ctx context.Context, cfg PlantedConfig, log *slog.Logger) (*PlantedReport, error) {
	if cfg.K < 1 || cfg.K > 200 {
		return nil, jobs.UsageError("-k = %d: want 1..200", cfg.K)
	}
	if cfg.World == "" || cfg.Run == "" {
		return nil, jobs.UsageError("-world and -run are required")
	}
	m, err := output.ReadManifest(cfg.Run)
	if err != nil {
		return nil, err
	}
	date, err := data.ParseDate(m.Date)
	if err != nil {
		return nil, err
	}
	log.Info("stage started", "stage", "eval-features")
	in, err := jobs.Load(ctx, cfg.World, date, m.Config, jobs.Options{})
	if err != nil {
		return nil, err
	}
	f, err := jobs.BuildFeatures(ctx, in, date, m.Config)
	if err != nil {
		return nil, err
	}
	d := in.Dims

	friendsTruth, err := data.ReadParquet[synth.FutureFriendship](filepath.Join(cfg.World, synth.TruthDir, "friendships.parquet"))
	if err != nil {
		return nil, err
	}
	joinsTruth, err := data.ReadParquet[synth.FutureJoin](filepath.Join(cfg.World, synth.TruthDir, "group_joins.parquet"))
	if err != nil {
		return nil, err
	}
	// planted friendships, both directions, kept where the policy would allow
	// suggesting them at all
	wantFriends := map[int32][]int32{}
	plantedType := map[[2]int32]data.RelationType{}
	for _, t := range friendsTruth {
		a, b := d.Users.Lookup(t.UserID), d.Users.Lookup(t.FriendID)
		if a < 0 || b < 0 || !models.Allowed(f, d.UserMinor, a, b) {
			continue
		}
		wantFriends[a] = append(wantFriends[a], b)
		wantFriends[b] = append(wantFriends[b], a)
		if typ, ok := data.ParseRelationType([]byte(t.Type)); ok && typ != data.RelUnknown {
			plantedType[[2]int32{a, b}], plantedType[[2]int32{b, a}] = typ, typ
		}
	}
	wantGroups := map[int32][]int32{}
	for _, t := range joinsTruth {
		u, g := d.Users.Lookup(t.UserID), d.Groups.Lookup(t.GroupID)
		if u < 0 || g < 0 || !f.Eligible[u] || d.GroupStatus[g] != data.StatusActive || f.Members.Has(u, g) || f.HiddenItems.Has(u, f.Items.Group(g)) {
			continue
		}
		wantGroups[u] = append(wantGroups[u], g)
	}

	ourFriends, err := data.ReadParquet[data.FriendSuggestion](filepath.Join(cfg.Run, output.FileFriends))
	if err != nil {
		return nil, err
	}
	ourGroups, err := data.ReadParquet[data.GroupSuggestion](filepath.Join(cfg.Run, output.FileGroups))
	if err != nil {
		return nil, err
	}
	gotFriends := map[int32][]int32{}
	for _, s := range ourFriends {
		u := d.Users.Lookup(s.UserID)
		gotFriends[u] = append(gotFriends[u], d.Users.Lookup(s.CandidateID))
	}
	gotGroups := map[int32][]int32{}
	for _, s := range ourGroups {
		u := d.Users.Lookup(s.UserID)
		gotGroups[u] = append(gotGroups[u], d.Groups.Lookup(s.GroupID))
	}
	rep := &PlantedReport{Recall: []Metric{
		recallAt("circles", "friends", cfg.K, wantFriends, func(u int32) []int32 { return gotFriends[u] }),
		recallAt("most-mutual-friends", "friends", cfg.K, wantFriends, func(u int32) []int32 { return mostMutual(d, f, u, cfg.K) }),
		recallAt("circles", "groups", cfg.K, wantGroups, func(u int32) []int32 { return gotGroups[u] }),
		recallAt("most-popular-in-city", "groups", cfg.K, wantGroups, popularInCity(d, f, cfg.K)),
	}}
	// the cold-start slice: users with fewer than min_events items of
	// positive signal (5 when the run had the prior off)
	minEvents := m.Config.ColdStart.MinEvents
	if minEvents == 0 {
		minEvents = models.DefaultColdStartParams().MinEvents
	}
	coldGroups := map[int32][]int32{}
	for u, gs := range wantGroups {
		if models.PositiveEvents(f, u) < minEvents {
			coldGroups[u] = gs
		}
	}
	if len(coldGroups) > 0 {
		task := "groups" + ColdSuffix
		rep.Recall = append(rep.Recall,
			recallAt("circles", task, cfg.K, coldGroups, func(u int32) []int32 { return gotGroups[u] }),
			recallAt("most-popular-in-city", task, cfg.K, coldGroups, popularInCity(d, f, cfg.K)))
	}
	if !m.Relations.Trained {
		rep.RelationNote = "the run has no relation-type model: " + m.Relations.Note
		return rep, nil
	}
	// the suggested ties that are planted friendships of a known type
	var truth, ours, rule []data.RelationType
	for _, s := range ourFriends {
		u, c := d.Users.Lookup(s.UserID), d.Users.Lookup(s.CandidateID)
		typ, ok := plantedType[[2]int32{u, c}]
		if !ok || s.Rank > int32(cfg.K) {
			continue
		}
		got, _ := data.ParseRelationType([]byte(s.Relation))
		truth, ours, rule = append(truth, typ), append(ours, got), append(rule, relationRule(d, f, u, c))
	}
	if len(truth) == 0 {
		rep.RelationNote = "no suggested tie is a planted friendship of a known type"
		return rep, nil
	}
	majority := slices.Repeat([]data.RelationType{majorityLabel(f)}, len(truth))
	rep.Relations = []RelationScore{
		scoreRelations("circles", truth, ours),
		scoreRelations("majority type of the labels", truth, majority),
		scoreRelations("rules", truth, rule),
	}
	return rep, nil
}

// relationRule is the rule baseline for the type of the tie (u, c): a
// family account or a shared fund makes family, two minors classmates,
// money moved mostly in working hours colleagues, and anything else
// interest friends.
func relationRule(d *data.Dims, f *features.Features, u, c int32) data.RelationType {
	_, info := f.Tie(u, c)
	timed := int(info.Transfers) + int(info.Splits) + int(info.RedPackets)
	switch {
	case info.Family || info.Funds > 0:
		return data.RelTypeFamily
	case d.UserMinor[u] && d.UserMinor[c]:
		return data.RelTypeClassmate
	case timed > 0 && 2*int(info.WorkHours) > timed:
		return data.RelTypeColleague
	}
	return data.RelTypeInterest
}

// majorityLabel is the most common type of the labelled friendships.
func majorityLabel(f *features.Features) data.RelationType {
	var n [data.NumRelationTypes]int
	for _, l := range f.FriendLabels {
		n[l.Type]++
	}
	best := data.RelTypeFamily
	for t := data.RelTypeFamily; t < data.NumRelationTypes; t++ {
		if n[t] > n[best] {
			best = t
		}
	}
	return best
}

// scoreRelations is the accuracy and macro-F1 (the mean over the four
// types of the F1 of each, a type never planted nor predicted counting 0)
// of predictions got against truth.
func scoreRelations(method string, truth, got []data.RelationType) RelationScore {
	var tp, fp, fn [data.NumRelationTypes]int
	right := 0
	for i, t := range truth {
		if got[i] == t {
			right++
			tp[t]++
			continue
		}
		fn[t]++
		fp[got[i]]++
	}
	s := RelationScore{Method: method, Pairs: len(truth), Accuracy: float64(right) / float64(len(truth)), F1: map[string]float64{}}
	for t := data.RelTypeFamily; t < data.NumRelationTypes; t++ {
		f1 := 0.0
		if d := 2*tp[t] + fp[t] + fn[t]; d > 0 {
			f1 = 2 * float64(tp[t]) / float64(d)
		}
		s.F1[t.String()] = f1
		s.MacroF1 += f1 / float64(data.NumRelationTypes-1)
	}
	return s
}

// recallAt averages hits@K / |want| over the users in want, in user order.
func recallAt(method, task string, k int, want map[int32][]int32, got func(u int32) []int32) Metric {
	users := make([]int32, 0, len(want))
	for u := range want {
		users = append(users, u)
	}
	slices.Sort(users)
	var sum, sumSq float64
	for _, u := range users {
		list := got(u)
		list = list[:min(k, len(list))]
		hits := 0
		for _, c := range want[u] {
			if slices.Contains(list, c) {
				hits++
			}
		}
		r := float64(hits) / float64(len(want[u]))
		sum += r
		sumSq += r * r
	}
	n := float64(len(users))
	m := Metric{Method: method, Task: task, K: k, Users: len(users)}
	if n > 0 {
		m.Recall = sum / n
		if n > 1 {
			m.StdErr = math.Sqrt((sumSq/n - m.Recall*m.Recall) / (n - 1))
		}
	}
	return m
}

// mostMutual ranks the users sharing the most friends with u, under the
// same policy as the real ranker; ties by user ID.
func mostMutual(d *data.Dims, f *features.Features, u int32, k int) []int32 {
	counts := map[int32]int{}
	fr, _ := f.Friends.Row(u)
	for _, x := range fr {
		if !f.Eligible[x] {
			continue
		}
		xs, _ := f.Friends.Row(x)
		for _, c := range xs {
			counts[c]++
		}
	}
	top := models.NewTopK(k)
	for c, n := range counts {
		if models.Allowed(f, d.UserMinor, u, c) {
			top.Push(models.Scored{ID: d.Users.ID(c), Index: c, Score: float64(n)})
		}
	}
	var out []int32
	for _, s := range top.Sorted() {
		out = append(out, s.Index)
	}
	return out
}

// popularInCity returns a ranker of the active groups in the user's city by
// eligible members, skipping groups the user is in or hid.
func popularInCity(d *data.Dims, f *features.Features, k int) func(u int32) []int32 {
	byCity := make([][]int32, d.Cities.Len())
	size := make([]int, d.Groups.Len())
	for g := range int32(d.Groups.Len()) {
		if d.GroupStatus[g] != data.StatusActive {
			continue
		}
		ms, _ := f.GroupMembers.Row(g)
		for _, m := range ms {
			if f.Eligible[m] {
				size[g]++
			}
		}
		byCity[d.GroupCity[g]] = append(byCity[d.GroupCity[g]], g)
	}
	for _, gs := range byCity {
		slices.SortStableFunc(gs, func(a, b int32) int { return size[b] - size[a] })
	}
	return func(u int32) []int32 {
		var out []int32
		for _, g := range byCity[d.UserCity[u]] {
			if len(out) == k {
				break
			}
			if !f.Members.Has(u, g) && !f.HiddenItems.Has(u, f.Items.Group(g)) {
				out = append(out, g)
			}
		}
		return out
	}
}

// PrintPlanted writes a planted evaluation as aligned tables.
func PrintPlanted(w io.Writer, rep *PlantedReport) error {
	var rows strings.Builder
	rows.WriteString("task\tmethod\tusers\trecall@K\t± s.e.\n")
	for _, m := range rep.Recall {
		fmt.Fprintf(&rows, "%s\t%s\t%d\t%.4f (K=%d)\t%.4f\n", m.Task, m.Method, m.Users, m.Recall, m.K, m.StdErr)
	}
	if len(rep.Relations) > 0 {
		rows.WriteString("\nrelation type\tmethod\tpairs\taccuracy\tmacro-F1\n")
		for _, r := range rep.Relations {
			fmt.Fprintf(&rows, "\t%s\t%d\t%.4f\t%.4f\n", r.Method, r.Pairs, r.Accuracy, r.MacroF1)
		}
	} else if rep.RelationNote != "" {
		fmt.Fprintf(&rows, "\nrelation types not scored: %s\n", rep.RelationNote)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if _, err := io.WriteString(tw, rows.String()); err != nil {
		return err
	}
	return tw.Flush()
}
