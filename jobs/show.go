package jobs

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"circles/data"
	"circles/output"
	"circles/pipeline"
)

// RunInfo is one published run.
type RunInfo struct {
	Dir      string          `json:"dir"`
	Latest   bool            `json:"latest"` // <output>/latest points to it
	Manifest output.Manifest `json:"manifest"`
}

// ListRuns returns the published runs under root, oldest first (by date,
// then publication time), read from their manifests. Directories without a manifest are incomplete
// and skipped.
func ListRuns(root string) ([]RunInfo, error) {
	dirs, err := pipeline.PublishedRuns(root)
	if err != nil {
		return nil, UsageError("-output: %v", err)
	}
	latest, err := pipeline.Latest(root)
	if err != nil {
		return nil, err
	}
	runs := make([]RunInfo, 0, len(dirs))
	for _, r := range dirs {
		m, err := output.ReadManifest(r.Dir)
		if err != nil {
			return nil, err
		}
		m.Stamp = r.Stamp // with the publication time filled in for old manifests
		runs = append(runs, RunInfo{Dir: r.Dir, Latest: r.Dir == latest, Manifest: m})
	}
	return runs, nil
}

// PrintRuns writes one line per run, then one per leftover (the scratch
// entries pipeline.Leftovers lists: staging directories of runs that
// crashed or failed), which the next run removes.
func PrintRuns(w io.Writer, runs []RunInfo, leftovers []string) error {
	var rows, out strings.Builder
	fmt.Fprintln(&rows, "date\trun\tlatest\tconfig\teligible users\tgroups/user\tfriends/user\tquarantined rows\treport")
	for _, r := range runs {
		m := r.Manifest
		var q int64
		for _, s := range m.Inputs {
			q += s.QuarantinedRows()
		}
		mark := ""
		if r.Latest {
			mark = "latest"
		}
		fmt.Fprintf(&rows, "%s\t%s\t%s\t%.12s\t%d\t%.1f\t%.1f\t%d\t%s\n", m.Date, m.RunID, mark, m.ConfigDigest,
			m.Suggestions.EligibleUsers, m.Suggestions.GroupsPerUser, m.Suggestions.FriendsPerUser, q, reportPath(r.Dir, m))
	}
	out.WriteString(aligned(rows.String(), 0))
	for _, name := range leftovers {
		fmt.Fprintf(&out, "incomplete: %s (left by a run that crashed or failed; the next run removes it)\n", name)
	}
	_, err := io.WriteString(w, out.String())
	return err
}

// reportPath is where a run's report is, or its directory for a run
// published before runs had one.
func reportPath(dir string, m output.Manifest) string {
	if m.Report == "" {
		return dir
	}
	return filepath.Join(dir, m.Report)
}

// PrintRunsJSON writes the runs and leftovers as one JSON object, for
// scripts: {"runs": [{"dir", "latest", "manifest"}, …], "incomplete": […]}.
func PrintRunsJSON(w io.Writer, runs []RunInfo, leftovers []string) error {
	if leftovers == nil {
		leftovers = []string{}
	}
	return writeJSON(w, struct {
		Runs       []RunInfo `json:"runs"`
		Incomplete []string  `json:"incomplete"`
	}{runs, leftovers})
}

// aligned lays out tab-separated cells as columns padded with spaces, in
// memory: the caller writes the text once and checks that write.
func aligned(cells string, flags uint) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', flags)
	_, _ = tw.Write([]byte(cells)) // into memory: cannot fail
	_ = tw.Flush()
	return b.String()
}

// outputs is a published run's suggestions, indexed by user.
type outputs struct {
	interests []data.UserInterest
	groups    map[int64][]data.GroupSuggestion
	acts      map[int64][]data.ActivitySuggestion
	friends   map[int64][]data.FriendSuggestion
}

func byUser[T any](rows []T, user func(T) int64) map[int64][]T {
	m := map[int64][]T{}
	for _, r := range rows {
		m[user(r)] = append(m[user(r)], r)
	}
	return m
}

// readOutputs reads a run's interests and suggestions. It reads whole
// files: fine for a person's ad hoc look, not for serving.
func readOutputs(dir string) (*outputs, error) {
	interests, err := data.ReadParquet[data.UserInterest](filepath.Join(dir, output.FileInterests))
	if err != nil {
		return nil, err
	}
	groups, err := data.ReadParquet[data.GroupSuggestion](filepath.Join(dir, output.FileGroups))
	if err != nil {
		return nil, err
	}
	acts, err := data.ReadParquet[data.ActivitySuggestion](filepath.Join(dir, output.FileActivities))
	if err != nil {
		return nil, err
	}
	friends, err := data.ReadParquet[data.FriendSuggestion](filepath.Join(dir, output.FileFriends))
	if err != nil {
		return nil, err
	}
	return &outputs{
		interests: interests,
		groups:    byUser(groups, func(s data.GroupSuggestion) int64 { return s.UserID }),
		acts:      byUser(acts, func(s data.ActivitySuggestion) int64 { return s.UserID }),
		friends:   byUser(friends, func(s data.FriendSuggestion) int64 { return s.UserID }),
	}, nil
}

// interestsOf returns user u's interests row, if the run has one.
func (o *outputs) interestsOf(u int64) (data.UserInterest, bool) {
	i, ok := slices.BinarySearchFunc(o.interests, u, func(x data.UserInterest, id int64) int { return cmp.Compare(x.UserID, id) })
	if !ok {
		return data.UserInterest{}, false
	}
	return o.interests[i], true
}

// has reports whether user u has any row in the run's outputs.
func (o *outputs) has(u int64) bool {
	_, ok := o.interestsOf(u)
	return ok || len(o.groups[u]) > 0 || len(o.acts[u]) > 0 || len(o.friends[u]) > 0
}

// show renders user u's interests and top n suggestions of each kind,
// with reasons in words.
func (o *outputs) show(w *strings.Builder, u int64, n int) {
	fmt.Fprintf(w, "\nuser %d — interests:", u)
	if ui, ok := o.interestsOf(u); ok {
		for _, t := range ui.TopTopics {
			fmt.Fprintf(w, " %s %.0f%%", t.Topic, 100*t.Weight)
		}
	} else {
		w.WriteString(" none (not eligible, or no data)")
	}
	w.WriteString("\n")
	for _, s := range o.groups[u][:min(n, len(o.groups[u]))] {
		fmt.Fprintf(w, "  group %d (score %.2f): %s\n", s.GroupID, s.Score, output.ReasonWords(s.Reasons))
	}
	for _, s := range o.acts[u][:min(n, len(o.acts[u]))] {
		fmt.Fprintf(w, "  activity %d (score %.2f): %s\n", s.ActivityID, s.Score, output.ReasonWords(s.Reasons))
	}
	for _, s := range o.friends[u][:min(n, len(o.friends[u]))] {
		fmt.Fprintf(w, "  person %d (score %.2f): %s\n", s.CandidateID, s.Score, output.ReasonWords(s.Reasons))
	}
}

// ShowUser writes one user's interests and suggestions (up to n of each
// kind) from the published run in dir.
func ShowUser(w io.Writer, dir string, user int64, n int) error {
	if _, err := os.Stat(filepath.Join(dir, pipeline.ManifestName)); err != nil {
		return UsageError("-run %s is not a published run directory (no %s)", dir, pipeline.ManifestName)
	}
	o, err := readOutputs(dir)
	if err != nil {
		return err
	}
	if !o.has(user) {
		return UsageError("-user %d has no interests or suggestions in %s: unknown to the run, not eligible, or without data", user, dir)
	}
	var out strings.Builder
	o.show(&out, user, n)
	if m, err := output.ReadManifest(dir); err == nil && m.Report != "" {
		fmt.Fprintf(&out, "\nthe run's report: %s\n", filepath.Join(dir, m.Report))
	}
	_, err = io.WriteString(w, out.String())
	return err
}
