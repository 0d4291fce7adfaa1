package synth

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"circles/data"
)

func smallConfig() Config {
	c := DefaultConfig()
	c.Users, c.Days = 400, 10
	return c
}

func TestGenerateIsDeterministic(t *testing.T) {
	t.Parallel()
	a, b := t.TempDir(), t.TempDir()
	cfg := smallConfig()
	if _, err := Generate(t.Context(), a, cfg, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(t.Context(), b, cfg, nil); err != nil {
		t.Fatal(err)
	}
	n := 0
	err := filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		x, _ := os.ReadFile(p)
		y, err := os.ReadFile(filepath.Join(b, rel))
		if err != nil {
			return err
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs with the same seed", rel)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 2*cfg.Days+len(data.SnapshotTables) {
		t.Errorf("compared %d files, want at least %d", n, 2*cfg.Days+len(data.SnapshotTables))
	}
}

func TestGeneratedWorldScansAndReconciles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := smallConfig()
	sum, err := Generate(context.Background(), dir, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.FutureFriendships == 0 || sum.FutureJoins == 0 {
		t.Fatalf("no planted truth: %+v", sum)
	}
	d, err := data.LoadDims(t.Context(), dir, cfg.End)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Users.Len(); got != cfg.Users {
		t.Errorf("users loaded = %d, want %d (one duplicate and one bad-status row quarantined)", got, cfg.Users)
	}
	for _, st := range d.Stats {
		if st.Read != st.Used+st.QuarantinedRows() {
			t.Errorf("%s: read %d != used %d + quarantined %d", st.Table, st.Read, st.Used, st.QuarantinedRows())
		}
	}
	files, err := data.WindowFiles(data.Local{}, dir, data.TableInteractions, cfg.End, cfg.Days)
	if err != nil {
		t.Fatal(err)
	}
	var batches []*data.Batch[data.Event]
	for _, f := range files {
		b, err := data.ScanInteractions(f, d, data.NewWindow(cfg.End, cfg.Days))
		if err != nil {
			t.Fatal(err)
		}
		batches = append(batches, b)
	}
	chunks, st, rejects := data.Merge(data.TableInteractions, batches)
	rows := 0
	for _, c := range chunks {
		rows += len(c)
	}
	if int64(rows) != st.Used || st.Read != st.Used+st.QuarantinedRows() || int64(len(rejects)) != st.QuarantinedRows() {
		t.Errorf("interactions do not reconcile: rows %d, stats %+v, rejects %d", rows, st, len(rejects))
	}
	for _, reason := range []string{data.QDuplicate, data.QUnknownEnum, data.QUnknownUser, data.QKindMismatch} {
		if st.Quarantined[reason] == 0 {
			t.Errorf("no interaction quarantined as %s; the generator plants them", reason)
		}
	}
	if events := sum.Interactions + sum.Transactions; float64(events) < 0.9*float64(cfg.Users*cfg.Days) {
		t.Errorf("only %d events for %d user-days, want about 1.1 a user-day", events, cfg.Users*cfg.Days)
	}
}
