package jobs

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"circles/data"
	"circles/output"
)

// metrics is what the scheduler exposes to Prometheus, on /metrics and in
// a node exporter textfile: the Go runtime and process series, build
// info, nights by outcome, when the last night succeeded and failed, and
// what the last successful run read, wrote and suggested. Safe for
// concurrent use (the client library's collectors are).
type metrics struct {
	reg         *prometheus.Registry
	runs        *prometheus.CounterVec
	lastSuccess prometheus.Gauge
	lastFailure prometheus.Gauge
	// Series of the last successful run, reset whenever a run succeeds.
	lastDate    *prometheus.GaugeVec
	stage       *prometheus.GaugeVec
	rowsRead    *prometheus.GaugeVec
	quarantined *prometheus.GaugeVec
	written     *prometheus.GaugeVec
	eligible    prometheus.Gauge
	covered     *prometheus.GaugeVec
	perUser     *prometheus.GaugeVec
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	gauges := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	}
	m.runs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "circles_runs_total",
		Help: "Nightly runs by outcome (ok, published_with_errors, not_ready, bad_input, locked, interrupted, usage, failure) since the scheduler started."}, []string{"outcome"})
	m.lastSuccess = prometheus.NewGauge(prometheus.GaugeOpts{Name: "circles_last_success_timestamp_seconds",
		Help: "Unix time the last successful run finished; 0 before the first (restored from the newest published run at start)."})
	m.lastFailure = prometheus.NewGauge(prometheus.GaugeOpts{Name: "circles_last_failure_timestamp_seconds",
		Help: "Unix time the last failed night ended; 0 before the first failure since the scheduler started."})
	m.lastDate = gauges("circles_last_success_date_info", "The date and run ID of the last successful run, as labels.", "date", "run_id")
	m.stage = gauges("circles_stage_duration_seconds", "Duration of each stage in the last successful run.", "stage")
	m.rowsRead = gauges("circles_rows_read", "Input rows read in the last successful run, by table.", "table")
	m.quarantined = gauges("circles_rows_quarantined", "Input rows quarantined in the last successful run, by table and reason.", "table", "reason")
	m.written = gauges("circles_rows_written", "Rows written in the last successful run, by file.", "file")
	m.eligible = prometheus.NewGauge(prometheus.GaugeOpts{Name: "circles_eligible_users", Help: "Eligible users in the last successful run."})
	m.covered = gauges("circles_users_with_suggestions", "Eligible users with at least one suggestion in the last successful run, by kind.", "kind")
	m.perUser = gauges("circles_suggestions_per_user", "Suggestions per eligible user in the last successful run, by kind.", "kind")
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
		m.runs, m.lastSuccess, m.lastFailure, m.lastDate, m.stage, m.rowsRead, m.quarantined, m.written, m.eligible, m.covered, m.perUser,
	)
	for _, o := range Outcomes {
		m.runs.WithLabelValues(o) // every outcome is a series from the start, at 0
	}
	return m
}

// record counts a night and, when it succeeded, describes its run.
func (m *metrics) record(res *Result, err error, now time.Time) {
	m.runs.WithLabelValues(Outcome(err)).Inc()
	if err != nil || res == nil {
		m.lastFailure.Set(unixSeconds(now))
		return
	}
	m.describe(res.Manifest, now)
}

// describe sets the series of the last successful run from its manifest.
func (m *metrics) describe(man output.Manifest, finished time.Time) {
	m.lastSuccess.Set(unixSeconds(finished))
	for _, v := range []*prometheus.GaugeVec{m.lastDate, m.stage, m.rowsRead, m.quarantined, m.written, m.covered, m.perUser} {
		v.Reset()
	}
	m.lastDate.WithLabelValues(man.Date, man.RunID).Set(1)
	for _, t := range man.Timings {
		m.stage.WithLabelValues(t.Stage).Set(t.Seconds)
	}
	for _, s := range man.Inputs {
		m.rowsRead.WithLabelValues(s.Table).Set(float64(s.Read))
		for _, r := range slices.Sorted(maps.Keys(s.Quarantined)) {
			m.quarantined.WithLabelValues(s.Table, r).Set(float64(s.Quarantined[r]))
		}
	}
	for _, o := range man.Outputs {
		m.written.WithLabelValues(o.Name).Set(float64(o.Rows))
	}
	sg := man.Suggestions
	m.eligible.Set(float64(sg.EligibleUsers))
	for _, k := range []struct {
		kind    string
		users   int
		perUser float64
	}{{"group", sg.UsersWithGroups, sg.GroupsPerUser}, {"activity", sg.UsersWithActivity, sg.ActivitiesPerUser}, {"friend", sg.UsersWithFriends, sg.FriendsPerUser}} {
		m.covered.WithLabelValues(k.kind).Set(float64(k.users))
		m.perUser.WithLabelValues(k.kind).Set(k.perUser)
	}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// write renders every series in the Prometheus text exposition format.
func (m *metrics) write(w io.Writer) error {
	families, err := m.reg.Gather()
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return fmt.Errorf("encode metrics: %w", err)
		}
	}
	return nil
}

// writeTextfile replaces path with the current metrics in one rename, as
// node exporter's textfile collector expects.
func (m *metrics) writeTextfile(path string) error {
	return data.ReplaceSynced(path, m.write)
}

// handler serves /metrics (the client library's handler, with content
// negotiation and compression) and /healthz. A response that cannot be
// written (the scraper went away) is logged at debug level: there is no
// one left to tell.
func (m *metrics) handler(log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{log}}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if _, err := fmt.Fprintln(w, "ok"); err != nil {
			log.Debug("health response not written", "err", err)
		}
	})
	return mux
}

// slogPrinter lets promhttp report its errors through the logger.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Warn("metrics", "err", fmt.Sprint(v...)) }
