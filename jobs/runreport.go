package jobs

import (
	"math"

	"circles/features"
	"circles/report"
)

// scoreBins is how many bars a report's score histogram has.
const scoreBins = 20

// kindReport summarises one table of suggestions for report.html: how
// many each eligible user got, how the scores spread, and coverage per
// city. Rows of users the run does not know (a base run's, merged) are
// left out.
func kindReport(name string, t *tally, f *features.Features, maxPerUser int) report.Kind {
	k := report.Kind{Name: name, Eligible: f.Summary.EligibleUsers}
	d, count := t.d, t.perUser
	lo, hi := 0.0, 0.0 // scores are ≥ 0 with the defaults; tuned friend weights may make some negative
	for _, s := range t.scores {
		lo, hi = math.Min(lo, float64(s)), math.Max(hi, float64(s))
	}
	width := 1.0
	if hi > lo {
		width = (hi - lo) / scoreBins
	}
	k.Scores = make([]report.Bin, scoreBins)
	for i := range k.Scores {
		k.Scores[i] = report.Bin{Lo: lo + float64(i)*width, Hi: lo + float64(i+1)*width}
	}
	for _, s := range t.scores {
		k.Scores[min(max(int((float64(s)-lo)/width), 0), scoreBins-1)].Count++
	}
	k.PerUser = make([]int, maxPerUser+1)
	type city struct{ eligible, covered, suggestions int }
	cities := make([]city, d.Cities.Len())
	for u, n := range count {
		if !f.Eligible[u] {
			continue
		}
		k.PerUser[min(int(n), maxPerUser)]++
		c := &cities[d.UserCity[u]]
		c.eligible++
		c.suggestions += int(n)
		if n > 0 {
			k.Covered++
			c.covered++
		}
	}
	for i, c := range cities {
		if c.eligible > 0 {
			k.Cities = append(k.Cities, report.City{Name: d.Cities.Name(int32(i)), Eligible: c.eligible, Covered: c.covered,
				PerUser: math.Round(1000*float64(c.suggestions)/float64(c.eligible)) / 1000})
		}
	}
	return k
}
