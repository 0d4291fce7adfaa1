package night

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/memfs"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/google/go-cmp/cmp"

	"circles/data"
	"circles/jobs"
	"circles/pipeline"
)

// TestObjectStorePublish runs the Beam driver into an object store
// (Beam's in-memory file system, the same interface as gs:// and s3://)
// and reads the run back as a reader would: pointer, manifest, files,
// every checksum checked. A second run of the same ID is refused, and an
// attempt that fails after writing its files leaves no pointer, so no
// reader sees it.
func TestObjectStorePublish(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a Beam pipeline")
	}
	_, cfg := world(t, 800)
	cfg.Output = "memfs://bucket/circles"
	cfg.RunID = "nightly"
	cfg.Params.ALS.Iterations = 2
	ctx := t.Context()
	log := slog.New(slog.DiscardHandler)
	o := Options{Shards: 2, Blocks: 3}
	run, err := Run(ctx, cfg, o, prism.Execute, log)
	if err != nil {
		t.Fatal(err)
	}
	if want := pipeline.ObjectRun(cfg.Output, cfg.Date, cfg.RunID); run != want {
		t.Fatalf("published at %s, want %s", run, want)
	}
	m, attempt, err := ReadObjectRun(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	if m.RunID != cfg.RunID || len(m.Outputs) != 5*o.Shards+1 {
		t.Fatalf("manifest of run %q lists %d files, want run %q and %d", m.RunID, len(m.Outputs), cfg.RunID, 5*o.Shards+1)
	}
	for _, e := range m.Outputs {
		b, err := readObject(ctx, attempt+"/"+e.Name)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(b); int64(len(b)) != e.Bytes || hex.EncodeToString(sum[:]) != e.SHA256 {
			t.Errorf("%s: %d bytes with SHA-256 %x, the manifest says %d and %s", e.Name, len(b), sum, e.Bytes, e.SHA256)
		}
	}
	b, err := readObject(ctx, attempt+"/rejects.parquet")
	if err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(t.TempDir(), "rejects.parquet")
	if err := os.WriteFile(local, b, 0o644); err != nil {
		t.Fatal(err)
	}
	rejects, err := data.ReadParquet[data.Reject](local)
	if err != nil {
		t.Fatal(err)
	}
	in, err := jobs.Load(ctx, cfg.Input, cfg.Date, cfg.Params, jobs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in.Rejects, rejects); diff != "" {
		t.Errorf("rejects read back from the object store differ from the local driver's (-local +object):\n%s", diff)
	}

	_, err = Run(ctx, cfg, o, prism.Execute, log)
	if !errors.Is(err, pipeline.ErrPublished) || jobs.ExitCode(err) != jobs.ExitUsage {
		t.Errorf("a second run of the same ID: %v (exit %d), want it refused as published (exit %d)", err, jobs.ExitCode(err), jobs.ExitUsage)
	}

	// An attempt whose pipeline wrote every file and then failed.
	cfg.RunID = "failed"
	failing := func(ctx context.Context, p *beam.Pipeline) (beam.PipelineResult, error) {
		if _, err := prism.Execute(ctx, p); err != nil {
			return nil, err
		}
		return nil, errors.New("worker lost")
	}
	if _, err := Run(ctx, cfg, o, failing, log); err == nil {
		t.Fatal("a failed pipeline published")
	}
	failed := pipeline.ObjectRun(cfg.Output, cfg.Date, cfg.RunID)
	if ok, err := objectExists(ctx, failed+"/"+pipeline.PointerName); err != nil || ok {
		t.Errorf("a failed attempt left a pointer (%v, %v)", ok, err)
	}
	if _, _, err := ReadObjectRun(ctx, failed); err == nil {
		t.Error("a reader found the failed attempt published")
	}
}

// TestObjectOutputRefused checks -output URLs before anything is written:
// a store no file system is registered for (memfs is, in this test), an
// unknown scheme and a malformed prefix are usage errors.
func TestObjectOutputRefused(t *testing.T) {
	_, cfg := world(t, 50)
	for _, out := range []string{"hdfs://nn/circles", "memfs://", "memfs://b/../x", "ftp://host/x", "memfs://b/x*"} {
		cfg.Output = out
		_, err := Run(t.Context(), cfg, Options{Shards: 1, Blocks: 1}, prism.Execute, slog.New(slog.DiscardHandler))
		if jobs.ExitCode(err) != jobs.ExitUsage {
			t.Errorf("-output %s: %v (exit %d), want a usage error", out, err, jobs.ExitCode(err))
		}
	}
}
