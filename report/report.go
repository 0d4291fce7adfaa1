// Package report renders a published run as one self-contained HTML page,
// report.html, beside its data files: time and memory per stage, rows
// read and quarantined per reason, and for each kind of suggestion how
// many each user got, how the scores are spread and how coverage varies
// by city. The charts are inline SVG and the page loads nothing, so it
// reads the same from a laptop, a bucket or an air-gapped machine.
package report

import (
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
	"strings"

	"circles/output"
)

// Kind summarises one kind of suggestion (groups, activities, friends).
type Kind struct {
	Name     string
	Eligible int // eligible users
	Covered  int // eligible users with at least one suggestion
	// PerUser[n] counts the eligible users with n suggestions.
	PerUser []int
	Scores  []Bin // the scores' distribution
	Cities  []City
}

// Bin is one bar of a histogram: Count values in [Lo, Hi).
type Bin struct {
	Lo, Hi float64
	Count  int
}

// City is one city's coverage for a kind.
type City struct {
	Name     string
	Eligible int
	Covered  int
	PerUser  float64 // suggestions per eligible user
}

// Run is what the page shows: the run's manifest and its suggestions.
type Run struct {
	Manifest output.Manifest
	Kinds    []Kind
}

// MaxCities bounds the cities a kind lists, largest first.
const MaxCities = 40

//go:embed report.html.tmpl
var pageText string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"bytes":   formatBytes,
	"pct":     func(n, of int) string { return percent(n, of) },
	"seconds": func(s float64) string { return fmt.Sprintf("%.2f", s) },
	"stages":  stageChart,
	"perUser": perUserChart,
	"scores":  scoreChart,
	"cities":  cityChart,
	"reasons": reasons,
	"sum":     quarantined,
}).Parse(pageText))

// Write renders the page.
func Write(w io.Writer, r Run) error {
	for i := range r.Kinds {
		k := &r.Kinds[i]
		slices.SortStableFunc(k.Cities, func(a, b City) int { return cmp.Or(cmp.Compare(b.Eligible, a.Eligible), cmp.Compare(a.Name, b.Name)) })
		k.Cities = k.Cities[:min(len(k.Cities), MaxCities)]
	}
	return page.Execute(w, r)
}

func percent(n, of int) string {
	if of == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(of))
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// reason is one quarantine reason of one table.
type reason struct {
	Table, Reason string
	Rows          int64
}

func reasons(m output.Manifest) []reason {
	var out []reason
	for _, s := range m.Inputs {
		for _, r := range slices.Sorted(maps.Keys(s.Quarantined)) {
			out = append(out, reason{s.Table, r, s.Quarantined[r]})
		}
	}
	return out
}

func quarantined(m output.Manifest) (n int64) {
	for _, s := range m.Inputs {
		n += s.QuarantinedRows()
	}
	return n
}

// The charts: horizontal or vertical bars in an SVG of fixed width that
// scales with the page. Labels are escaped by html/template's rules for
// the text they are built into, here by hand since the SVG is one value.

const chartWidth = 720

// hbars draws one horizontal bar per label, sized by value.
func hbars(labels []string, values []float64, format func(float64) string) template.HTML {
	const row, left, right = 22, 150, 110
	h := row*len(labels) + 10
	top := 0.0
	for _, v := range values {
		top = math.Max(top, v)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" width="100%%" role="img">`, chartWidth, h)
	for i, l := range labels {
		y := 5 + i*row
		w := 0.0
		if top > 0 {
			w = (chartWidth - left - right) * values[i] / top
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" class="l">%s</text>`, left-8, y+15, template.HTMLEscapeString(l))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" class="bar"/>`, left, y+2, w, row-6)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="v">%s</text>`, float64(left)+w+6, y+15, template.HTMLEscapeString(format(values[i])))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every label above is escaped
}

// vbars draws a histogram: one vertical bar per bin, labelled below.
func vbars(labels []string, counts []int, caption string) template.HTML {
	const height, bottom, top = 200, 36, 16
	n := max(len(counts), 1)
	bw := float64(chartWidth-40) / float64(n)
	most := 1
	for _, c := range counts {
		most = max(most, c)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" width="100%%" role="img">`, chartWidth, height)
	for i, c := range counts {
		x := 20 + float64(i)*bw
		h := float64(height-bottom-top) * float64(c) / float64(most)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="bar"><title>%s: %d</title></rect>`,
			x+1, float64(height-bottom)-h, math.Max(bw-2, 1), h, template.HTMLEscapeString(labels[i]), c)
		if n <= 25 || i%(n/10+1) == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" class="l">%s</text>`, x+bw/2, height-bottom+14, template.HTMLEscapeString(labels[i]))
		}
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" class="c">%s</text>`, chartWidth/2, height-4, template.HTMLEscapeString(caption))
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every label above is escaped
}

func stageChart(m output.Manifest) template.HTML {
	var labels []string
	var secs []float64
	for _, t := range m.Timings {
		labels = append(labels, t.Stage)
		secs = append(secs, t.Seconds)
	}
	return hbars(labels, secs, func(v float64) string { return fmt.Sprintf("%.2f s", v) })
}

func perUserChart(k Kind) template.HTML {
	labels := make([]string, len(k.PerUser))
	for i := range labels {
		labels[i] = fmt.Sprint(i)
	}
	return vbars(labels, k.PerUser, "suggestions per eligible user (bar height: users)")
}

func scoreChart(k Kind) template.HTML {
	labels := make([]string, len(k.Scores))
	counts := make([]int, len(k.Scores))
	for i, b := range k.Scores {
		labels[i], counts[i] = fmt.Sprintf("%.2f", b.Lo), b.Count
	}
	return vbars(labels, counts, "score (bar height: suggestions)")
}

func cityChart(k Kind) template.HTML {
	var labels []string
	var per []float64
	for _, c := range k.Cities {
		labels = append(labels, c.Name)
		per = append(per, c.PerUser)
	}
	return hbars(labels, per, func(v float64) string { return fmt.Sprintf("%.2f per user", v) })
}
