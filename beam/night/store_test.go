package night

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/memfs"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/google/go-cmp/cmp"

	"circles/data"
	"circles/jobs"
	"circles/pipeline"
)

// TestObjectStorePublish runs the Beam driver from an object store into
// one (Beam's in-memory file system, the same interface as gs:// and
// s3://) and reads the run back as a reader would: pointer, manifest,
// files, every checksum checked; its input counts and rejects are the
// local driver's on the same tree on disk. A second run of the same ID is
// refused, and an attempt that fails after writing its files leaves no
// pointer, so no reader sees it.
func TestObjectStorePublish(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a Beam pipeline")
	}
	root, cfg := world(t, 800)
	cfg.Input = toStore(t, root, "memfs://lake/publish")
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
	in, err := jobs.Load(ctx, root, cfg.Date, cfg.Params, jobs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in.Stats, m.Inputs); diff != "" {
		t.Errorf("input counts read from the object store differ from the local driver's (-local +object):\n%s", diff)
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

// toStore copies the local tree root to the object-store prefix url and
// returns url.
func toStore(t *testing.T, root, url string) string {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		memfs.Write(url+"/"+filepath.ToSlash(rel), b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// TestObjectInputLayout lists an input tree on an object store under the
// rules of a local tree: the same files in the same order, and the same
// layouts refused with the same exit codes, each naming the object.
func TestObjectInputLayout(t *testing.T) {
	root, cfg := world(t, 50)
	ctx := t.Context()
	local, err := NewPlan(data.Local{}, cfg, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	plan := func(url string) (Plan, error) {
		c := cfg
		c.Input = url
		var pl Plan
		err := withInputTree(ctx, url, func(tr data.Tree) (err error) {
			pl, err = NewPlan(tr, c, 1, 1)
			return err
		})
		return pl, err
	}
	url := toStore(t, root, "memfs://lake/layout")
	pl, err := plan(url)
	if err != nil {
		t.Fatal(err)
	}
	rel := func(root string, files []string) (r []string) {
		for _, f := range files {
			r = append(r, relative(root, f))
		}
		return r
	}
	if diff := cmp.Diff(rel(root, slices.Concat(local.Txns, local.Ints)), rel(url, slices.Concat(pl.Txns, pl.Ints))); diff != "" {
		t.Errorf("event files listed on the object store differ from the local listing (-local +object):\n%s", diff)
	}
	d, err := loadDims(ctx, url, cfg.Date.UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	want, err := data.LoadDims(ctx, root, cfg.Date)
	if err != nil {
		t.Fatal(err)
	}
	jobs.RelativeToInput(url, d.Stats, d.Rejects)
	jobs.RelativeToInput(root, want.Stats, want.Rejects)
	if diff := cmp.Diff(want.Stats, d.Stats); diff != "" {
		t.Errorf("snapshots loaded from the object store differ (-local +object):\n%s", diff)
	}
	if d.Users.Len() != want.Users.Len() || len(d.Rejects) != len(want.Rejects) {
		t.Errorf("snapshots from the object store: %d users, %d rejects; local %d and %d", d.Users.Len(), len(d.Rejects), want.Users.Len(), len(want.Rejects))
	}

	day := "dt=" + cfg.Date.Format(data.DateLayout)
	for _, c := range []struct {
		name   string
		change func(prefix string)
		exit   int
		names  string
	}{
		{"no marker on the run's day", func(p string) { remove(t, p+"/interactions/"+day+"/_SUCCESS") }, jobs.ExitNotReady, "/interactions/" + day},
		{"a stray file", func(p string) { memfs.Write(p+"/transactions/"+day+"/notes.txt", nil) }, jobs.ExitBadInput, "/transactions/" + day + "/notes.txt"},
		{"a nested prefix", func(p string) { memfs.Write(p+"/transactions/"+day+"/more/part.parquet", nil) }, jobs.ExitBadInput, "/transactions/" + day + "/more"},
		{"a snapshot being written", func(p string) { memfs.Write(p+"/users/dt=2099-01-01/part.parquet", nil) }, jobs.ExitOK, ""},
		{"a newer snapshot not complete", func(p string) {
			memfs.Write(p+"/users/"+day+"-x/part.parquet", nil) // not a date: not a partition
			memfs.Write(p+"/groups/"+day+"/part-9.parquet", nil)
			remove(t, p+"/groups/"+day+"/_SUCCESS")
		}, jobs.ExitNotReady, "/groups"},
	} {
		t.Run(c.name, func(t *testing.T) {
			prefix := toStore(t, root, "memfs://lake/"+strings.ReplaceAll(c.name, " ", "-"))
			c.change(prefix)
			_, err := plan(prefix)
			if err == nil {
				c := cfg
				c.Input = prefix
				err = withInputTree(ctx, prefix, func(tr data.Tree) error {
					_, err := jobs.InputDigest(tr, c)
					return err
				})
			}
			if got := jobs.ExitCode(err); got != c.exit || !strings.Contains(fmt.Sprint(err), c.names) {
				t.Errorf("%v (exit %d), want exit %d naming %q", err, got, c.exit, c.names)
			}
		})
	}
}

// remove removes the object path.
func remove(t *testing.T, path string) {
	t.Helper()
	fsys, err := filesystem.New(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := fsys.(filesystem.Remover).Remove(t.Context(), path); err != nil {
		t.Fatal(err)
	}
}
