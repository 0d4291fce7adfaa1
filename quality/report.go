package quality

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// Result is one task on one dataset: every method scored on the same split.
type Result struct {
	Dataset   string   `json:"dataset"`
	Task      string   `json:"task"`
	Split     string   `json:"split"`     // how the held-out part was chosen
	Catalogue int      `json:"catalogue"` // rankable items (users, for friends)
	Methods   []Scores `json:"methods"`   // ours first, then ablations and baselines
	Notes     []string `json:"notes,omitempty"`
}

// Best returns the method among names with the highest metric at k.
func (r Result) Best(k int, metric func(AtK) float64, names ...string) (Scores, bool) {
	var best Scores
	found := false
	for _, m := range r.Methods {
		for _, n := range names {
			if m.Method == n && (!found || metric(m.At(k)) > metric(best.At(k))) {
				best, found = m, true
			}
		}
	}
	return best, found
}

// Method returns the scores of the named method.
func (r Result) Method(name string) (Scores, bool) {
	for _, m := range r.Methods {
		if m.Method == name {
			return m, true
		}
	}
	return Scores{}, false
}

// WriteMarkdown writes r as a table: recall at every K, NDCG@20 and
// recall@20 with standard errors, and the share of users with a hit and
// catalogue coverage at 20.
func WriteMarkdown(w io.Writer, r Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "| method | recall@5 | recall@10 | recall@20 | recall@50 | NDCG@5 | NDCG@20 | users with a hit @20 | coverage@20 |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|---|\n")
	for i, m := range r.Methods {
		name := m.Method
		if i == 0 {
			name = "**" + name + "**"
		}
		a5, a10, a20, a50 := m.At(5), m.At(10), m.At(20), m.At(50)
		fmt.Fprintf(&b, "| %s | %.3f | %.3f | %.3f ± %.3f | %.3f | %.3f | %.3f ± %.3f | %.3f | %.3f |\n", name,
			a5.Recall, a10.Recall, a20.Recall, a20.RecallSE, a50.Recall, a5.NDCG, a20.NDCG, a20.NDCGSE, a20.HitShare, a20.Coverage)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// palette colours the lines of a chart; ours is the first.
var palette = []string{"#d62728", "#ff9896", "#e377c2", "#f7b6d2", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22", "#7f7f7f", "#aec7e8"}

// WriteChart draws recall@K against K for every method as an SVG line chart.
func WriteChart(w io.Writer, r Result) error {
	const (
		width, height          = 720, 400
		left, right, top, bott = 60, 250, 40, 50
	)
	pw, ph := float64(width-left-right), float64(height-top-bott)
	ymax := 0.0
	for _, m := range r.Methods {
		for _, a := range m.AtK {
			ymax = math.Max(ymax, a.Recall)
		}
	}
	ymax = math.Max(0.1, math.Ceil(ymax*10)/10)
	x := func(i int) float64 { return float64(left) + pw*float64(i)/float64(len(Ks)-1) }
	y := func(v float64) float64 { return float64(top) + ph*(1-v/ymax) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15">%s: %s, recall@K (full catalogue of %d)</text>`+"\n", left, html.EscapeString(r.Dataset), html.EscapeString(r.Task), r.Catalogue)
	for t := 0; t <= 5; t++ {
		v := ymax * float64(t) / 5
		fmt.Fprintf(&b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%.2f</text>`+"\n", left, float64(left)+pw, y(v), y(v), left-6, y(v)+4, v)
	}
	for i, k := range Ks {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%d</text>`+"\n", x(i), height-bott+18, k)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">K</text>`+"\n", float64(left)+pw/2, height-12)
	for mi, m := range r.Methods {
		c := palette[mi%len(palette)]
		dash, sw := "", 1.5
		if mi == 0 {
			sw = 3
		} else if strings.HasPrefix(m.Method, "ours") {
			dash = ` stroke-dasharray="6 3"`
		}
		var pts []string
		for i, k := range Ks {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(m.At(k).Recall)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="%.1f"%s points="%s"/>`+"\n", c, sw, dash, strings.Join(pts, " "))
		ly := float64(top + 14 + 18*mi)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="%.1f"%s/><text x="%d" y="%.1f">%s</text>`+"\n",
			width-right+10, width-right+34, ly, ly, c, sw, dash, width-right+40, ly+4, html.EscapeString(m.Method))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
