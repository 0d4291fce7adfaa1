package report

import (
	"strings"
	"testing"

	"circles/output"
	"circles/pipeline"
)

// TestPageEscapesWhatTheInputsName: city names come from input data; a
// name with markup is shown as text, in the tables and in the charts.
func TestPageEscapesWhatTheInputsName(t *testing.T) {
	t.Parallel()
	m := output.Manifest{RunID: "r", Stamp: pipeline.Stamp{Date: "2026-11-20"}, Timings: []pipeline.StageTiming{{Stage: "ingest", Seconds: 1.5, PeakRSSBytes: 3 << 30}}}
	k := Kind{Name: "Groups", Eligible: 3, Covered: 2, PerUser: []int{1, 0, 2},
		Scores: []Bin{{0, 0.5, 3}, {0.5, 1, 1}},
		Cities: []City{{Name: `<script>alert("x")</script>`, Eligible: 3, Covered: 2, PerUser: 1.33}}}
	var b strings.Builder
	if err := Write(&b, Run{Manifest: m, Kinds: []Kind{k}}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if strings.Contains(page, "<script>") {
		t.Error("a city name's markup reached the page unescaped")
	}
	for _, want := range []string{"&lt;script&gt;", "3.0 GiB", "1.33 per user", "2 of 3 eligible users (66.7%)"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// TestEmptyRunRenders: a run with no eligible users and no suggestions
// still renders, with no division by zero.
func TestEmptyRunRenders(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	if err := Write(&b, Run{Kinds: []Kind{{Name: "Friends", PerUser: make([]int, 11), Scores: make([]Bin, 20)}}}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "NaN") || strings.Contains(b.String(), "Inf") {
		t.Error("an empty run renders NaN or Inf")
	}
}
