package pipeline

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

func TestParseBytes(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"6GiB": 6 << 30, "512MiB": 512 << 20, "1073741824": 1 << 30, "3B": 3, "2KiB": 2048, "1TiB": 1 << 40} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "GiB", "6GB", "6 GiB", "-1", "0", "1.5GiB", "99999999999999999999", "9999999TiB"} {
		if got, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) = %d, want an error", in, got)
		}
	}
	if got := FormatBytes(6<<30 + 300<<20); got != "6.3 GiB" {
		t.Errorf("FormatBytes = %q", got)
	}
}

// TestGuardMemory holds more live memory than the budget and expects the
// context to be cancelled with the budget's error; under the budget, it
// must not be.
func TestGuardMemory(t *testing.T) {
	ctx, stop := GuardMemory(context.Background(), 1<<30, 5*time.Millisecond)
	runtime.GC()
	time.Sleep(30 * time.Millisecond)
	if err := context.Cause(ctx); err != nil {
		t.Fatalf("cancelled under the budget: %v", err)
	}
	if peak := stop(); peak <= 0 || peak > HeapShare(1<<30) {
		t.Errorf("peak live heap %d under a 1 GiB budget, want it measured and within the heap's share", peak)
	}

	ctx, stop = GuardMemory(context.Background(), 16<<20, 5*time.Millisecond)
	defer stop()
	held := make([]byte, 64<<20)
	for i := range held {
		held[i] = byte(i)
	}
	runtime.GC()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("not cancelled with 64 MiB live under a 16 MiB budget")
	}
	var ob *OverBudgetError
	if cause := context.Cause(ctx); !errors.As(cause, &ob) || !errors.Is(cause, ErrOverBudget) || ob.Live < 64<<20 {
		t.Errorf("cause = %v, want an *OverBudgetError with ≥ 64 MiB live", cause)
	}
	runtime.KeepAlive(held)
}
