package eval

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"circles/data"
	"circles/quality"
)

// Report file names of an evaluation.
const (
	FileJSON     = "results.json"
	FileMarkdown = "report.md"
)

// ChartFile is the name of a task's chart in a report directory.
func ChartFile(dataset, task string) string { return dataset + "-" + task + ".svg" }

// WriteReport writes the report's JSON, its Markdown and one chart per
// task into dir (created if needed). Each file is written whole or not at
// all.
func WriteReport(dir string, rep *Report) error {
	if err := writeEvalData(dir, FileJSON, rep); err != nil {
		return err
	}
	return data.ReplaceSynced(filepath.Join(dir, FileMarkdown), func(w io.Writer) error { return WriteMarkdown(w, rep, "", FileJSON) })
}

// writeEvalData writes the report's JSON as jsonName and its charts into
// dir, created if needed.
func writeEvalData(dir, jsonName string, rep *Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := data.ReplaceSynced(filepath.Join(dir, jsonName), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}); err != nil {
		return err
	}
	for _, r := range rep.Results {
		if err := data.ReplaceSynced(filepath.Join(dir, ChartFile(rep.Dataset, r.Task)), func(w io.Writer) error { return quality.WriteChart(w, r) }); err != nil {
			return err
		}
	}
	return nil
}

// WriteMarkdown writes the report as Markdown; charts are linked
// under chartDir and the JSON is named jsonPath (both relative to the
// Markdown file).
func WriteMarkdown(w io.Writer, rep *Report, chartDir, jsonPath string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## %s\n\n", rep.Dataset)
	fmt.Fprintf(&b, "Imported with `circles import %s`: %d users, %d content items, %d groups, %d friendships, %d interactions, %d memberships.\n\n",
		rep.Import.Format, rep.Import.Rows[data.TableUsers], rep.Import.Rows[data.TableContent], rep.Import.Rows[data.TableGroups],
		rep.Import.Rows[data.TableRelations], rep.Import.Rows[data.TableInteractions], rep.Import.Rows[data.TableMemberships])
	for _, n := range rep.Import.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	b.WriteString("\n")
	for _, r := range rep.Results {
		fmt.Fprintf(&b, "### %s: %s\n\n", rep.Dataset, r.Task)
		fmt.Fprintf(&b, "Split: %s. Full catalogue of %d; %d users evaluated.\n\n", r.Split, r.Catalogue, firstUsers(r))
		var tb strings.Builder
		if err := quality.WriteMarkdown(&tb, r); err != nil {
			return err
		}
		b.WriteString(tb.String())
		b.WriteString("\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
		fmt.Fprintf(&b, "![%s %s recall@K](%s)\n\n", rep.Dataset, r.Task, filepath.ToSlash(filepath.Join(chartDir, ChartFile(rep.Dataset, r.Task))))
	}
	if len(rep.Targets) > 0 {
		b.WriteString("**Targets**\n\n| task | target | ours | bar | met |\n|---|---|---|---|---|\n")
		for _, t := range rep.Targets {
			met := "yes"
			if !t.Met {
				met = fmt.Sprintf("**no** (gap %.3f)", t.Bar-t.Ours)
			}
			fmt.Fprintf(&b, "| %s | %s | %.3f | %.3f | %s |\n", t.Task, t.Claim, t.Ours, t.Bar, met)
		}
		b.WriteString("\n")
	}
	if len(rep.Tuning) > 0 {
		b.WriteString("**Chosen on the validation split** (carved from the training part; the test part is never seen):\n\n")
		for _, t := range rep.Tuning {
			if t.Chosen {
				fmt.Fprintf(&b, "- %s: %s (%s %.4f)\n", t.Task, t.Setting, t.Metric, t.Value)
			}
		}
		fmt.Fprintf(&b, "\n%d settings were tried; [`%s`](%s) lists them all.\n\n", len(rep.Tuning), filepath.Base(jsonPath), filepath.ToSlash(jsonPath))
	}
	for _, n := range rep.TuningNotes {
		fmt.Fprintf(&b, "- tuning: %s\n", n)
	}
	if len(rep.TuningNotes) > 0 {
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func firstUsers(r quality.Result) int {
	if len(r.Methods) == 0 {
		return 0
	}
	return r.Methods[0].Users
}
