package pipeline

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// ErrOverBudget marks a run stopped because its live heap outgrew the
// memory budget it was given: the world does not fit, and waiting or
// retrying will not make it.
var ErrOverBudget = errors.New("over the memory budget")

// OverBudgetError says how far over the budget the live heap was.
type OverBudgetError struct {
	Live, Limit int64 // bytes
}

func (e *OverBudgetError) Error() string {
	return fmt.Sprintf("the live heap reached %s, above the %s that the memory budget of %s leaves the heap: this world does not fit in it; raise -memory-limit or run it on more machines", FormatBytes(e.Live), FormatBytes(HeapShare(e.Limit)), FormatBytes(e.Limit))
}

func (e *OverBudgetError) Unwrap() error { return ErrOverBudget }

// HeapShare is the part of a memory budget the Go heap may fill. The rest,
// an eighth, is for what the process holds besides the heap (goroutine
// stacks, the runtime's own structures, file buffers), for freed pages
// the runtime has not yet handed back, and for the overshoot of a large
// allocation made before the collector catches up (the collector's limit
// is soft): with the heap at its share the process's resident size stays
// within the budget. A sixteenth was not enough: at a million users a
// run's resident size reached 6.05 GiB of 6.
func HeapShare(limit int64) int64 { return limit - limit/8 }

// GuardMemory holds the process to limit bytes: it sets the garbage
// collector's soft limit to [HeapShare] of it, so that the heap is
// collected harder as it nears it instead of doubling past it, and watches
// the live heap (what is still reachable after a collection) every
// interval. When that alone exceeds the heap's share, no collection can
// help: the returned context is cancelled with an *OverBudgetError as its
// cause (context.Cause). stop ends the watch, restores the previous soft
// limit and returns the largest live heap seen.
func GuardMemory(ctx context.Context, limit int64, interval time.Duration) (context.Context, func() (peak int64)) {
	heap := HeapShare(limit)
	prev := debug.SetMemoryLimit(heap)
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	var peak atomic.Int64
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				metrics.Read(sample)
				if sample[0].Value.Kind() != metrics.KindUint64 {
					continue
				}
				live := int64(sample[0].Value.Uint64())
				if live > peak.Load() {
					peak.Store(live)
				}
				if live > heap {
					cancel(&OverBudgetError{Live: live, Limit: limit})
					return
				}
			}
		}
	}()
	return ctx, func() int64 {
		close(done)
		cancel(nil)
		debug.SetMemoryLimit(prev)
		return peak.Load()
	}
}

// ParseBytes reads a size such as 6GiB, 512MiB or 1073741824 (bytes):
// a whole number with an optional binary suffix B, KiB, MiB, GiB or TiB.
func ParseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		shift  uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}
	num, shift := s, uint(0)
	for _, u := range units {
		if len(s) > len(u.suffix) && s[len(s)-len(u.suffix):] == u.suffix {
			num, shift = s[:len(s)-len(u.suffix)], u.shift
			break
		}
	}
	var n int64
	for _, c := range num {
		if c < '0' || c > '9' || n > (1<<62)>>shift/10 {
			return 0, fmt.Errorf("%q: want a whole number of bytes with an optional suffix B, KiB, MiB, GiB or TiB (e.g. 6GiB)", s)
		}
		n = n*10 + int64(c-'0')
	}
	if num == "" || n == 0 {
		return 0, fmt.Errorf("%q: want a positive size, e.g. 6GiB", s)
	}
	return n << shift, nil
}

// FormatBytes writes n in the largest binary unit that keeps it ≥ 1, with
// one decimal.
func FormatBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	v, i := float64(n), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
