package jobs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"text/tabwriter"

	"circles/data"
	"circles/pipeline"
	"circles/synth"
)

// DemoConfig is the configuration of the demo job.
type DemoConfig struct {
	Dir     string // working directory: world/ and out/ are created in it
	World   synth.Config
	Workers int
}

// Demo generates a small world, runs the whole pipeline on it, and writes a
// human summary to w: rows read and quarantined, time per stage, and three
// sample users' top suggestions with reasons in words.
func Demo(ctx context.Context, cfg DemoConfig, w io.Writer, log *slog.Logger, progress *pipeline.Progress) error {
	world := filepath.Join(cfg.Dir, "world")
	gs, err := Generate(ctx, GenerateConfig{Out: world, World: cfg.World}, log, progress)
	if err != nil {
		return err
	}
	p := DefaultParams()
	// A world shorter than the default windows is run on the days it has.
	p.WindowDays = min(p.WindowDays, cfg.World.Days)
	p.Features.DismissTTLDays = min(p.Features.DismissTTLDays, cfg.World.Days)
	rc := RunConfig{Input: world, Output: filepath.Join(cfg.Dir, "out"), Date: cfg.World.End.Format(data.DateLayout), RunID: "demo", Workers: cfg.Workers, Params: p}
	res, err := Run(ctx, rc, log, progress)
	if err != nil {
		return err
	}
	m := res.Manifest
	fmt.Fprintf(w, "circles demo: %d users, %d groups, %d activities, %d days of events (seed %d)\n\n",
		gs.Users, gs.Groups, gs.Activities, cfg.World.Days, cfg.World.Seed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "table\trows read\tused\tquarantined\t")
	for _, s := range m.Inputs {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t\n", s.Table, s.Read, s.Used, s.QuarantinedRows())
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stage\tseconds\t")
	for _, t := range m.Timings {
		fmt.Fprintf(tw, "%s\t%.2f\t\n", t.Stage, t.Seconds)
	}
	tw.Flush()
	fmt.Fprintf(w, "\npublished %s\n", res.Dir)
	fmt.Fprintf(w, "suggestions per eligible user: %.1f groups, %.1f activities, %.1f friends\n",
		m.Suggestions.GroupsPerUser, m.Suggestions.ActivitiesPerUser, m.Suggestions.FriendsPerUser)
	return showSamples(w, res.Dir, 3)
}

// showSamples prints the top suggestions of the first n users (by ID) that
// have group, activity and friend suggestions, read back from the published
// files.
func showSamples(w io.Writer, dir string, n int) error {
	interests, err := data.ReadParquet[data.UserInterest](filepath.Join(dir, FileInterests))
	if err != nil {
		return err
	}
	groups, err := data.ReadParquet[data.GroupSuggestion](filepath.Join(dir, FileGroups))
	if err != nil {
		return err
	}
	acts, err := data.ReadParquet[data.ActivitySuggestion](filepath.Join(dir, FileActivities))
	if err != nil {
		return err
	}
	friends, err := data.ReadParquet[data.FriendSuggestion](filepath.Join(dir, FileFriends))
	if err != nil {
		return err
	}
	byUser := func(ids []int64) map[int64][]int {
		m := map[int64][]int{}
		for i, id := range ids {
			m[id] = append(m[id], i)
		}
		return m
	}
	gi := byUser(collect(groups, func(s data.GroupSuggestion) int64 { return s.UserID }))
	ai := byUser(collect(acts, func(s data.ActivitySuggestion) int64 { return s.UserID }))
	fi := byUser(collect(friends, func(s data.FriendSuggestion) int64 { return s.UserID }))
	shown := 0
	for _, ui := range interests {
		u := ui.UserID
		if len(gi[u]) == 0 || len(ai[u]) == 0 || len(fi[u]) == 0 {
			continue
		}
		fmt.Fprintf(w, "\nuser %d — interests:", u)
		for _, t := range ui.TopTopics {
			fmt.Fprintf(w, " %s %.0f%%", t.Topic, 100*t.Weight)
		}
		fmt.Fprintln(w)
		for _, i := range gi[u][:min(3, len(gi[u]))] {
			s := groups[i]
			fmt.Fprintf(w, "  group %d (score %.2f): %s\n", s.GroupID, s.Score, ReasonWords(s.Reasons))
		}
		for _, i := range ai[u][:min(2, len(ai[u]))] {
			s := acts[i]
			fmt.Fprintf(w, "  activity %d (score %.2f): %s\n", s.ActivityID, s.Score, ReasonWords(s.Reasons))
		}
		for _, i := range fi[u][:min(3, len(fi[u]))] {
			s := friends[i]
			fmt.Fprintf(w, "  person %d (score %.2f): %s\n", s.CandidateID, s.Score, ReasonWords(s.Reasons))
		}
		if shown++; shown == n {
			break
		}
	}
	return nil
}

func collect[T any](rows []T, key func(T) int64) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = key(r)
	}
	return out
}
