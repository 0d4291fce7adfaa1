package jobs

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"circles/data"
	"circles/output"
)

// metrics keeps what the scheduler exposes, in the Prometheus text format.
// Safe for concurrent use.
type metrics struct {
	mu          sync.Mutex
	runs        map[string]int // by outcome
	lastSuccess time.Time
	lastDate    string
	last        *output.Manifest // of the last successful run
}

func newMetrics() *metrics { return &metrics{runs: map[string]int{}} }

func (m *metrics) record(date string, res *Result, err error, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.runs[Outcome(err)]++
	if err == nil && res != nil {
		m.lastSuccess, m.lastDate = now, date
		man := res.Manifest
		m.last = &man
	}
}

// write renders the metrics in the Prometheus text exposition format.
func (m *metrics) write(w io.Writer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b bytes.Buffer
	metric := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	metric("circles_runs_total", "counter", "Nightly runs by outcome (ok, published_with_errors, not_ready, bad_input, locked, interrupted, usage, failure).")
	for _, o := range Outcomes {
		fmt.Fprintf(&b, "circles_runs_total{outcome=%q} %d\n", o, m.runs[o])
	}
	metric("circles_last_success_timestamp_seconds", "gauge", "Unix time the last successful run finished; 0 before the first.")
	ts := 0.0
	if !m.lastSuccess.IsZero() {
		ts = float64(m.lastSuccess.UnixMilli()) / 1000
	}
	fmt.Fprintf(&b, "circles_last_success_timestamp_seconds %g\n", ts)
	if m.last != nil {
		man := m.last
		metric("circles_last_success_date_info", "gauge", "The date of the last successful run, as a label.")
		fmt.Fprintf(&b, "circles_last_success_date_info{date=%q,run_id=%q} 1\n", man.Date, man.RunID)
		metric("circles_stage_duration_seconds", "gauge", "Duration of each stage in the last successful run.")
		for _, t := range man.Timings {
			fmt.Fprintf(&b, "circles_stage_duration_seconds{stage=%q} %g\n", t.Stage, t.Seconds)
		}
		metric("circles_rows_read", "gauge", "Input rows read in the last successful run, by table.")
		for _, s := range man.Inputs {
			fmt.Fprintf(&b, "circles_rows_read{table=%q} %d\n", s.Table, s.Read)
		}
		metric("circles_rows_quarantined", "gauge", "Input rows quarantined in the last successful run, by table and reason.")
		for _, s := range man.Inputs {
			for _, r := range slices.Sorted(maps.Keys(s.Quarantined)) {
				fmt.Fprintf(&b, "circles_rows_quarantined{table=%q,reason=%q} %d\n", s.Table, r, s.Quarantined[r])
			}
		}
		metric("circles_rows_written", "gauge", "Rows written in the last successful run, by file.")
		for _, o := range man.Outputs {
			fmt.Fprintf(&b, "circles_rows_written{file=%q} %d\n", o.Name, o.Rows)
		}
		metric("circles_suggestions_per_user", "gauge", "Suggestions per eligible user in the last successful run, by kind.")
		fmt.Fprintf(&b, "circles_suggestions_per_user{kind=\"group\"} %g\n", man.Suggestions.GroupsPerUser)
		fmt.Fprintf(&b, "circles_suggestions_per_user{kind=\"activity\"} %g\n", man.Suggestions.ActivitiesPerUser)
		fmt.Fprintf(&b, "circles_suggestions_per_user{kind=\"friend\"} %g\n", man.Suggestions.FriendsPerUser)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// writeTextfile replaces path with the current metrics in one rename, as
// node exporter's textfile collector expects.
func (m *metrics) writeTextfile(path string) error {
	return data.ReplaceSynced(path, m.write)
}

// handler serves /metrics and /healthz. A response that cannot be
// written (the scraper went away) is logged at debug level: there is no
// one left to tell.
func (m *metrics) handler(log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		if err := m.write(w); err != nil {
			log.Debug("metrics response not written", "err", err)
		}
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if _, err := fmt.Fprintln(w, "ok"); err != nil {
			log.Debug("health response not written", "err", err)
		}
	})
	return mux
}
