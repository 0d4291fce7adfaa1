package jobs

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"circles/data"
	"circles/features"
	"circles/models"
	"circles/output"
	"circles/synth"
)

// Stage benchmarks on one generated world of 20,000 users and 30 days
// (about 700,000 events), shared by all of them. Each reports its own
// throughput metric.

type benchState struct {
	cfg RunConfig
	in  *Loaded
	f   *features.Features
	als *models.ALS
}

var (
	benchOnce sync.Once
	bench     benchState
	benchErr  error
)

func benchWorld(b *testing.B) *benchState {
	b.Helper()
	benchOnce.Do(func() {
		dir, err := os.MkdirTemp("", "circles-jobs-bench-")
		if err != nil {
			benchErr = err
			return
		}
		w := synth.DefaultConfig()
		w.Users, w.Days = 20000, 30
		if _, benchErr = synth.Generate(context.Background(), dir, w, nil); benchErr != nil {
			return
		}
		p := output.DefaultParams()
		p.WindowDays, p.Features.DismissTTLDays = 30, 30
		bench.cfg = RunConfig{Input: dir, Output: "unused", Date: runDate, Params: p}
		ctx := context.Background()
		if bench.in, benchErr = Load(ctx, dir, runDate, p, Options{}); benchErr != nil {
			return
		}
		if bench.f, benchErr = BuildFeatures(ctx, bench.in, runDate, p); benchErr != nil {
			return
		}
		bench.als, _, benchErr = TrainInterests(ctx, bench.in.Dims, bench.f, p.ALS, p.ColdStart, Options{})
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return &bench
}

func events(in *Loaded) int {
	n := 0
	for _, c := range in.Events {
		n += len(c)
	}
	for _, c := range in.Txns {
		n += len(c)
	}
	return n
}

func BenchmarkIngest(b *testing.B) {
	s := benchWorld(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(b.Context(), s.cfg.Input, s.cfg.Date, s.cfg.Params, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(events(s.in))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkFeatures(b *testing.B) {
	s := benchWorld(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := BuildFeatures(b.Context(), s.in, s.cfg.Date, s.cfg.Params); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(events(s.in))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkALSIteration times one full sweep (users, then items).
func BenchmarkALSIteration(b *testing.B) {
	s := benchWorld(b)
	p := s.cfg.Params.ALS
	p.Iterations = 1
	rt := s.f.Signals.Transpose(int(s.f.Items.N))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := models.TrainALS(b.Context(), &s.f.Signals, &rt, models.RowKeys{}, p, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(s.f.Signals.NNZ())*float64(b.N)/b.Elapsed().Seconds(), "observations/s")
}

func benchRank[T any](b *testing.B, rank func(context.Context, models.Inputs) ([]T, error)) {
	s := benchWorld(b)
	in := models.Inputs{Dims: s.in.Dims, Features: s.f, ALS: s.als}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rank(b.Context(), in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(s.in.Dims.Users.Len())*float64(b.N)/b.Elapsed().Seconds(), "users/s")
}

// BenchmarkRankGroups times group ranking with the default weights and,
// side by side, without co-membership, which is then never built.
func BenchmarkRankGroups(b *testing.B) {
	for _, co := range []bool{true, false} {
		p := output.DefaultParams().Groups
		if !co {
			p.CoMemberWeight = 0
		}
		b.Run(fmt.Sprintf("co_member_weight=%g", p.CoMemberWeight), func(b *testing.B) {
			benchRank(b, func(ctx context.Context, in models.Inputs) ([]data.GroupSuggestion, error) {
				return models.RankGroups(ctx, in, p, 0)
			})
		})
	}
}

func BenchmarkRankActivities(b *testing.B) {
	p := output.DefaultParams().Groups
	benchRank(b, func(ctx context.Context, in models.Inputs) ([]data.ActivitySuggestion, error) {
		return models.RankActivities(ctx, in, p, 0)
	})
}

func BenchmarkRankFriends(b *testing.B) {
	p := output.DefaultParams().Friends
	benchRank(b, func(ctx context.Context, in models.Inputs) ([]data.FriendSuggestion, error) {
		return models.RankFriends(ctx, in, p, 0)
	})
}
