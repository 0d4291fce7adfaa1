package jobs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"circles/output"
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
	p := output.DefaultParams()
	// A world shorter than the default windows is run on the days it has.
	p.WindowDays = min(p.WindowDays, cfg.World.Days)
	p.Features.DismissTTLDays = min(p.Features.DismissTTLDays, cfg.World.Days)
	rc := RunConfig{Input: world, Output: filepath.Join(cfg.Dir, "out"), Date: cfg.World.End, RunID: "demo", Workers: cfg.Workers, Params: p}
	res, err := Run(ctx, rc, log, progress)
	if err != nil {
		return err
	}
	m := res.Manifest
	// The report is rendered whole, then written once.
	var out, inputs, stages strings.Builder
	fmt.Fprintf(&out, "circles demo: %d users, %d groups, %d activities, %d days of events (seed %d)\n\n",
		gs.Users, gs.Groups, gs.Activities, cfg.World.Days, cfg.World.Seed)
	fmt.Fprintln(&inputs, "table\trows read\tused\tquarantined\t")
	for _, s := range m.Inputs {
		fmt.Fprintf(&inputs, "%s\t%d\t%d\t%d\t\n", s.Table, s.Read, s.Used, s.QuarantinedRows())
	}
	fmt.Fprintln(&stages, "stage\tseconds\t")
	for _, t := range m.Timings {
		fmt.Fprintf(&stages, "%s\t%.2f\t\n", t.Stage, t.Seconds)
	}
	out.WriteString(aligned(inputs.String(), tabwriter.AlignRight))
	out.WriteString("\n")
	out.WriteString(aligned(stages.String(), tabwriter.AlignRight))
	fmt.Fprintf(&out, "\npublished %s\n", res.Dir)
	fmt.Fprintf(&out, "suggestions per eligible user: %.1f groups, %.1f activities, %.1f friends\n",
		m.Suggestions.GroupsPerUser, m.Suggestions.ActivitiesPerUser, m.Suggestions.FriendsPerUser)
	if err := showSamples(&out, res.Dir, 3); err != nil {
		return err
	}
	_, err = io.WriteString(w, out.String())
	return err
}

// showSamples prints the top suggestions of the first n users (by ID) that
// have group, activity and friend suggestions, read back from the
// published files.
func showSamples(w *strings.Builder, dir string, n int) error {
	o, err := readOutputs(dir)
	if err != nil {
		return err
	}
	shown := 0
	for _, ui := range o.interests {
		u := ui.UserID
		if len(o.groups[u]) == 0 || len(o.acts[u]) == 0 || len(o.friends[u]) == 0 {
			continue
		}
		o.show(w, u, 3)
		if shown++; shown == n {
			break
		}
	}
	return nil
}
