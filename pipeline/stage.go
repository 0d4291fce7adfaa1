// Package pipeline is the run machinery with no domain knowledge: timed and
// logged stages, progress on a terminal, bounded fan-out over index ranges,
// and atomic publishing of a run directory with a manifest. It imports only
// the standard library, errgroup and x/sys/unix (for an atomic exchange of
// directories).
package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime/metrics"
	"sync"
	"syscall"
	"time"
)

// StageTiming is how long one stage took, and the memory at its end.
type StageTiming struct {
	Stage   string  `json:"stage"`
	Seconds float64 `json:"seconds"`
	// PeakRSSBytes is the process's peak resident memory so far, at the
	// stage's end: the first stage where it jumps is the one that needed
	// the memory. 0 where the system does not say.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// HeapLiveBytes is the heap the last garbage collection found live.
	HeapLiveBytes int64 `json:"heap_live_bytes"`
}

// Timing records that stage took d, with the memory now.
func Timing(stage string, d time.Duration) StageTiming {
	t := StageTiming{Stage: stage, Seconds: d.Seconds()}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		t.PeakRSSBytes = ru.Maxrss * 1024 // kilobytes on Linux
	}
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		t.HeapLiveBytes = int64(s[0].Value.Uint64())
	}
	return t
}

// Runner runs named stages in order, logging their start and end and
// recording their durations. Progress, when not nil, receives in-stage
// progress (a terminal line); logs go to Logger either way.
type Runner struct {
	Logger   *slog.Logger
	Progress *Progress
	Timings  []StageTiming
}

// StageError is the error of a stage, naming it.
type StageError struct {
	Stage string
	Err   error
}

func (e *StageError) Error() string { return "stage " + e.Stage + ": " + e.Err.Error() }
func (e *StageError) Unwrap() error { return e.Err }

// Seconds is a duration as the logs report it: seconds, to the millisecond.
func Seconds(d time.Duration) float64 { return d.Round(time.Millisecond).Seconds() }

// Stage runs fn as the named stage. It returns fn's error wrapped in a
// [*StageError].
func (r *Runner) Stage(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return &StageError{Stage: name, Err: err}
	}
	r.Logger.Info("stage started", "stage", name)
	start := time.Now()
	err := fn(ctx)
	dur := time.Since(start)
	r.Progress.Done()
	r.Timings = append(r.Timings, Timing(name, dur))
	if err != nil {
		return &StageError{Stage: name, Err: err}
	}
	r.Logger.Info("stage finished", "stage", name, "dur", Seconds(dur))
	return nil
}

// Progress draws a one-line progress indicator on a terminal. A nil
// *Progress ignores every call, so callers need not check. Safe for
// concurrent use.
type Progress struct {
	mu   sync.Mutex
	w    io.Writer
	last time.Time
	line bool
	// what is being counted, since when, and the count then: the ETA
	// extrapolates the rate since then.
	what  string
	since time.Time
	from  int
	// off is set when a write to the terminal failed: progress is an aid,
	// so it stops drawing rather than fail the run; logs still report.
	off bool
}

// NewProgress returns a Progress writing to w (a terminal).
func NewProgress(w io.Writer) *Progress { return &Progress{w: w} }

// Update shows "what: done/total"; it redraws at most ten times a second.
func (p *Progress) Update(what string, done, total int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if what != p.what || done < p.from {
		p.what, p.since, p.from = what, now, done
	}
	if !p.off && (now.Sub(p.last) >= 100*time.Millisecond || done == total) {
		p.last = now
		pct := 100.0
		if total > 0 {
			pct = 100 * float64(done) / float64(total)
		}
		_, err := fmt.Fprintf(p.w, "\r\033[K%s: %d/%d (%.0f%%)%s", what, done, total, pct, eta(now.Sub(p.since), done-p.from, total-done))
		p.line, p.off = err == nil, err != nil
	}
}

// eta estimates the time left from the time spent on the last n units,
// once there is a second of history to go on.
func eta(spent time.Duration, n, left int) string {
	if n <= 0 || left <= 0 || spent < time.Second {
		return ""
	}
	return ", ETA " + (spent * time.Duration(left) / time.Duration(n)).Round(time.Second).String()
}

// Writer returns a writer to the same terminal that clears the progress
// line before each write, so that log lines never run into it.
func (p *Progress) Writer() io.Writer { return progressWriter{p} }

type progressWriter struct{ p *Progress }

func (w progressWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	if w.p.line {
		w.p.line = false
		if _, err := io.WriteString(w.p.w, "\r\033[K"); err != nil {
			return 0, err
		}
	}
	return w.p.w.Write(b)
}

// Done ends the current progress line, if any.
func (p *Progress) Done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.line {
		p.line = false
		if _, err := io.WriteString(p.w, "\r\033[K"); err != nil {
			p.off = true
		}
	}
}

// Produce runs fn as the named stage of r, as [Runner.Stage] does, and
// returns the value fn returns, so that a stage hands its output to the
// next as a typed value.
func Produce[T any](ctx context.Context, r *Runner, name string, fn func(ctx context.Context) (T, error)) (T, error) {
	var v T
	err := r.Stage(ctx, name, func(ctx context.Context) error {
		var err error
		v, err = fn(ctx)
		return err
	})
	return v, err
}
