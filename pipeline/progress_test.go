package pipeline

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestETAExtrapolatesTheRateSoFar(t *testing.T) {
	for _, c := range []struct {
		spent   time.Duration
		n, left int
		want    string
	}{
		{10 * time.Second, 100, 300, ", ETA 30s"},
		{90 * time.Second, 1, 1, ", ETA 1m30s"},
		{500 * time.Millisecond, 100, 300, ""}, // too little history
		{10 * time.Second, 0, 300, ""},
		{10 * time.Second, 100, 0, ""}, // done
	} {
		if got := eta(c.spent, c.n, c.left); got != c.want {
			t.Errorf("eta(%v, %d, %d) = %q, want %q", c.spent, c.n, c.left, got, c.want)
		}
	}
}

type failingWriter struct{ writes int }

func (w *failingWriter) Write([]byte) (int, error) { w.writes++; return 0, errors.New("gone") }

// TestProgressDrawsAndStopsOnAFailedWrite: a progress line names what is
// counted; after a failed write to the terminal it draws nothing more.
func TestProgressDrawsAndStopsOnAFailedWrite(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b)
	p.Update("friends: users", 5, 10)
	if !strings.Contains(b.String(), "friends: users: 5/10 (50%)") {
		t.Errorf("progress line %q", b.String())
	}
	w := &failingWriter{}
	q := NewProgress(w)
	q.Update("a", 1, 2)
	q.Update("a", 2, 2)
	q.Done()
	if w.writes != 1 {
		t.Errorf("%d writes to a broken terminal, want the first only", w.writes)
	}
}
