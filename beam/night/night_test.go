package night

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/google/go-cmp/cmp"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"circles/data"
	"circles/features"
	"circles/jobs"
	"circles/models"
	"circles/output"
	"circles/pipeline"
	"circles/synth"
)

// world generates a world of n users once per test binary.
func world(t *testing.T, n int) (string, jobs.RunConfig) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "world")
	w := synth.DefaultConfig()
	w.Users, w.Days = n, 30
	if _, err := synth.Generate(t.Context(), root, w, nil); err != nil {
		t.Fatal(err)
	}
	cfg := jobs.RunConfig{Input: root, Output: filepath.Join(t.TempDir(), "out"), Date: w.End, Params: output.DefaultParams()}
	cfg.Params.WindowDays, cfg.Params.Features.DismissTTLDays = 21, 28 // interactions are read 28 days back
	return root, cfg
}

// TestBeamAgreesWithLocal runs the Beam driver on Prism, in-process, and
// the local driver's stages on the same world, and compares: input counts
// and rejects identical, every factor within the stated tolerance, and the
// model's shape equal.
func TestBeamAgreesWithLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a Beam pipeline")
	}
	_, cfg := world(t, 3000)
	cfg.RunID = "beam"
	cfg.Params.ALS.Iterations = 4
	cfg.Params.Friends.MaxFanout = 12 // most users are hubs: the sample decides
	ctx := t.Context()
	log := slog.New(slog.DiscardHandler)
	dir, err := Run(ctx, cfg, Options{Shards: 3, Blocks: 5}, prism.Execute, log)
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	b, err := os.ReadFile(filepath.Join(dir, pipeline.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}

	in, err := jobs.Load(ctx, cfg.Input, cfg.Date, cfg.Params, jobs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in.Stats, m.Inputs); diff != "" {
		t.Errorf("input counts differ (-local +beam):\n%s", diff)
	}
	rejects, err := data.ReadParquet[data.Reject](filepath.Join(dir, "rejects.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Rejects) == 0 {
		t.Fatal("the world has no bad rows; the comparison would prove nothing")
	}
	if diff := cmp.Diff(in.Rejects, rejects); diff != "" {
		t.Errorf("rejects differ (-local +beam):\n%s", diff)
	}

	f, err := jobs.BuildFeatures(ctx, in, cfg.Date, cfg.Params)
	if err != nil {
		t.Fatal(err)
	}
	rt := f.Signals.Transpose(int(f.Items.N))
	als, err := models.TrainALS(ctx, &f.Signals, &rt, models.InterestKeys(in.Dims, f.Items), cfg.Params.ALS, nil)
	if err != nil {
		t.Fatal(err)
	}
	cold, err := models.ColdStart(ctx, in.Dims, f, als, cfg.Params.ColdStart, cfg.Params.ALS, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cold == 0 {
		t.Fatal("the world has no cold users; the cold-start prior would go untested")
	}
	if m.Model.ColdUsers != cold {
		t.Errorf("cold users: beam %d, local %d", m.Model.ColdUsers, cold)
	}
	if m.Model.Observations != f.Signals.NNZ() {
		t.Errorf("observations: beam %d, local %d", m.Model.Observations, f.Signals.NNZ())
	}
	if len(m.Model.Loss) != len(als.Loss) {
		t.Errorf("beam reports %d sweeps' loss, local %d", len(m.Model.Loss), len(als.Loss))
	}
	for i := range min(len(m.Model.Loss), len(als.Loss)) {
		if d := math.Abs(m.Model.Loss[i]-als.Loss[i]) / als.Loss[i]; d > factorTolerance {
			t.Errorf("sweep %d: loss beam %g, local %g", i+1, m.Model.Loss[i], als.Loss[i])
		}
	}
	t.Logf("loss per sweep: beam %.6g, local %.6g", m.Model.Loss, als.Loss)
	var users []data.UserInterest
	var items []data.ItemFactor
	for i := range m.Shards {
		u, err := data.ReadParquet[data.UserInterest](filepath.Join(dir, ShardName(FileUserFactors, i, m.Shards)))
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, u...)
		it, err := data.ReadParquet[data.ItemFactor](filepath.Join(dir, ShardName(FileItemFactors, i, m.Shards)))
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, it...)
	}
	worst := 0.0
	compare := func(local []float64, beam []float32) {
		d := make([]float64, len(local))
		for j, v := range beam {
			d[j] = float64(v) - local[j]
		}
		worst = math.Max(worst, floats.Norm(d, 2)/math.Max(floats.Norm(local, 2), 1e-3))
	}
	withTopics := 0
	for _, u := range users {
		i := in.Dims.Users.Lookup(u.UserID)
		compare(als.Users.RawRowView(int(i)), u.Vector)
		want := features.TopTopics(f.UserTopicRow(i), f.Topics, cfg.Params.Features.TopTopics)
		if !sameTopics(want, u.TopTopics) {
			t.Errorf("user %d: top topics beam %v, local %v", u.UserID, u.TopTopics, want)
		}
		if len(want) > 0 {
			withTopics++
		}
	}
	if withTopics < len(users)/2 {
		t.Errorf("only %d of %d users have topics; the comparison would prove little", withTopics, len(users))
	}
	if want := withVector(als.Users); len(users) != want {
		t.Errorf("beam has %d user rows, local %d users with a vector", len(users), want)
	}
	index := map[string]*data.Index{"group": &in.Dims.Groups, "activity": &in.Dims.Activities, "content": &in.Dims.Contents, "merchant": &in.Dims.Merchants}
	base := map[string]int32{"group": f.Items.GroupBase, "activity": f.Items.ActivityBase, "content": f.Items.ContentBase, "merchant": f.Items.MerchantBase}
	for _, it := range items {
		i := base[it.Kind] + index[it.Kind].Lookup(it.ItemID)
		compare(als.Items.RawRowView(int(i)), it.Vector)
	}
	t.Logf("%d users (%d cold), %d items; largest relative difference of a factor %.2g", len(users), cold, len(items), worst)
	if worst > factorTolerance {
		t.Errorf("a factor differs by %.2g (relative) between the drivers, want ≤ %g", worst, factorTolerance)
	}
	t.Logf("counters: %v", m.Counters)
	compareFriends(t, in, f, cfg.Params.Friends, cfg.Params.Relations, m.Relations, cfg.Input, dir, m.Shards)
	compareGroups(t, in, f, cfg.Params.Groups, cfg.Input, dir, m.Shards, als, users, items)
	if m.Counters["ingest_duplicates"] != in.Stats[len(in.Stats)-2].Quarantined[data.QDuplicate]+in.Stats[len(in.Stats)-1].Quarantined[data.QDuplicate] {
		t.Errorf("duplicates counted %d, want the manifest's", m.Counters["ingest_duplicates"])
	}
	for _, c := range []string{shuffleIngest, shuffleSignals, shuffleTopics, shuffleFriends, shuffleALSBlocks, shuffleALSSweeps, shuffleColdStart, shuffleGroups, shuffleWrite} {
		if m.Counters[c] <= 0 {
			t.Errorf("counter %s = %d, want the bytes that stage shuffled", c, m.Counters[c])
		}
	}
	if m.Counters["friend_graph_observations"] != int64(f.Friends.NNZ()) {
		t.Errorf("the friend graph's observations: beam %d, local %d", m.Counters["friend_graph_observations"], f.Friends.NNZ())
	}
	if m.Counters[shuffleALSSweeps] <= m.Counters["als_vector_bytes_sent"] {
		t.Errorf("the sweeps shuffled %d bytes, fewer than the %d bytes of vectors they sent", m.Counters[shuffleALSSweeps], m.Counters["als_vector_bytes_sent"])
	}
	if latest, _ := pipeline.Latest(cfg.Output); latest != "" {
		t.Errorf("latest points at %s; a partial run must never be latest", latest)
	}
}

// sameTopics reports whether two lists of top topics name the same topics
// in the same order with weights within topicTolerance: the drivers sum
// each user's signals in other orders.
func sameTopics(a, b []data.TopicWeight) bool {
	if len(a) != len(b) {
		return false
	}
	for i, x := range a {
		if x.Topic != b[i].Topic || math.Abs(float64(x.Weight-b[i].Weight)) > topicTolerance {
			return false
		}
	}
	return true
}

// topicTolerance bounds the difference of a topic weight (a share, 0..1)
// between the drivers.
const topicTolerance = 1e-5

// factorTolerance bounds the relative difference of a factor between the
// drivers: they sum the Gram matrix, the signals and each row's
// observations in other orders, so they agree to rounding, amplified by
// the sweeps.
const factorTolerance = 1e-4

// withVector counts the rows of m that are not all zero: the users with
// signals, and the cold users the prior gave some.
func withVector(m *mat.Dense) int {
	n := 0
	for i := range m.RawMatrix().Rows {
		if floats.Norm(m.RawRowView(i), 2) > 0 {
			n++
		}
	}
	return n
}

func TestMain(m *testing.M) {
	beam.Init()
	// Prism's loopback environment leaves an empty file in the temporary
	// directory per pipeline: give the tests one of their own.
	dir, err := os.MkdirTemp("", "circles-beam-test-")
	if err == nil {
		err = os.Setenv("TMPDIR", dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}
