package night

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"

	"circles/data"
	"circles/jobs"
	"circles/output"
	"circles/pipeline"
)

// Covers names the stages a Beam run computes (pipeline.Stamp.Covers).
var Covers = []string{"ingest", jobs.StageInterests, jobs.StageGroups, jobs.StageFriends}

// ManifestVersion is the version of a Beam run's manifest.
const ManifestVersion = 1

// Manifest is a Beam run's manifest: the local manifest's identity and
// input counts, the model's shape, and every file with its checksum.
type Manifest struct {
	Version int    `json:"manifest_version"`
	Driver  string `json:"driver"` // "beam"
	RunID   string `json:"run_id"`
	pipeline.Stamp
	StartedAt    time.Time           `json:"started_at"`
	CodeVersion  string              `json:"code_version"`
	ConfigDigest string              `json:"config_digest"`
	InputDigest  string              `json:"input_digest"`
	Config       output.Params       `json:"config"`
	Inputs       []data.TableStats   `json:"inputs"`
	Model        output.ModelMetrics `json:"model"`
	// Relations summarises the relation-type model, as the local
	// manifest does.
	Relations output.RelationMetrics `json:"relations"`
	Shards    int                    `json:"shards"`
	Blocks    int                    `json:"blocks"`
	// Counters are the pipeline's counters (records per stage, bytes of
	// factor vectors sent), summed over steps; absent when the runner
	// reports none.
	Counters map[string]int64     `json:"counters,omitempty"`
	Outputs  []pipeline.FileEntry `json:"outputs"`
}

// Options are the Beam driver's own settings; neither changes a result
// beyond the rounding of sums taken in another order.
type Options struct {
	Shards int // files per output
	Blocks int // ALS blocks per side: rows per block must fit a worker
}

// Execute runs a pipeline on a runner: beamx.RunWithMetrics from the
// command line, prism.Execute in tests.
type Execute func(ctx context.Context, p *beam.Pipeline) (beam.PipelineResult, error)

// summaryName is the summary file's name in the staging directory or
// attempt prefix; the driver reads it, and it is never published.
const summaryName = "_summary.json"

// Run runs the night of cfg on Beam and publishes it under cfg.Output, a
// local directory (data files into a staging directory, the manifest last,
// one rename) or an object-store prefix (data files and the manifest under
// the attempt's prefix, then the run's pointer object; see
// pipeline/object.go). It never moves latest (the run is partial, see
// Covers). cfg is checked as circles run checks it; flags the Beam driver
// does not have (a base run, users, stages) are refused. Run returns the
// published run's directory or prefix.
func Run(ctx context.Context, cfg jobs.RunConfig, o Options, exec Execute, log *slog.Logger) (string, error) {
	if err := cfg.ValidateObjectStores(); err != nil {
		return "", err
	}
	if cfg.Base != "" || len(cfg.Stages) > 0 || len(cfg.Users) > 0 {
		return "", jobs.UsageError("-base, -stages and -users are not supported by the Beam driver yet")
	}
	if o.Shards < 1 || o.Shards > 10_000 {
		return "", jobs.UsageError("-shards = %d: want 1..10000", o.Shards)
	}
	if o.Blocks < 1 || o.Blocks > 1_000_000 {
		return "", jobs.UsageError("-blocks = %d: want 1..1000000", o.Blocks)
	}
	for _, f := range []struct {
		flag string
		path *string
	}{{"-input", &cfg.Input}, {"-output", &cfg.Output}} {
		if !pipeline.IsURL(*f.path) {
			continue
		}
		*f.path = strings.TrimSuffix(*f.path, "/") // one spelling of every object's key
		fs, err := filesystem.New(ctx, *f.path)
		if err != nil { // Beam's error suggests an import: not for an operator
			scheme, _, _ := strings.Cut(*f.path, "://")
			return "", jobs.UsageError("%s %s: this binary has no file system for %s:// (it has gs:// and s3://)", f.flag, *f.path, scheme)
		}
		_ = fs.Close() // only its registration was asked
	}
	started := time.Now().UTC()
	if cfg.RunID == "" {
		cfg.RunID = "beam-" + started.Format("20060102T150405Z")
	}
	var inputs string
	var pl Plan
	err := withInputTree(ctx, cfg.Input, func(t data.Tree) (err error) {
		if inputs, err = jobs.InputDigest(t, cfg); err != nil {
			return err
		}
		pl, err = NewPlan(t, cfg, o.Shards, o.Blocks)
		return err
	})
	if err != nil {
		return "", err
	}
	var st stage
	if pipeline.IsURL(cfg.Output) {
		st, err = newObjectStage(ctx, cfg, started)
	} else {
		st, err = newLocalStage(cfg)
	}
	if err != nil {
		return "", err
	}
	published := false
	defer func() { st.close(!published) }()
	pl.Staging = st.dir()
	p, s := beam.NewPipelineWithRoot()
	Build(s, pl)
	log.Info("pipeline built", "event_files", len(pl.Txns)+len(pl.Ints), "shards", o.Shards, "blocks", o.Blocks, "output", st.dir())
	res, err := exec(ctx, p)
	if err != nil {
		return "", fmt.Errorf("beam pipeline: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	sum, err := readSummary(ctx, st.dir())
	if err != nil {
		return "", err
	}
	if err := data.CheckBadRows(sum.Stats, cfg.Params.MaxBadRowFraction); err != nil {
		return "", err
	}
	m := Manifest{
		Version: ManifestVersion, Driver: "beam", RunID: cfg.RunID,
		Stamp:     pipeline.Stamp{Date: cfg.Date.Format(data.DateLayout), PublishedAt: time.Now().UTC(), Covers: Covers},
		StartedAt: started, CodeVersion: jobs.CodeVersion(), ConfigDigest: cfg.Params.Digest(), InputDigest: inputs,
		Config: cfg.Params, Inputs: sum.Stats, Relations: sum.Relations, Shards: o.Shards, Blocks: o.Blocks, Outputs: sum.Files, Counters: counters(res),
		Model: output.ModelMetrics{Users: sum.Users, Items: sum.Items, Observations: int(sum.Observations), Factors: cfg.Params.ALS.Factors, Loss: sum.Loss},
	}
	m.Model.ColdUsers = int(m.Counters["cold_start_users"])
	dir, err := st.publish(ctx, m)
	published = dir != ""
	return dir, err
}

// A stage is where a run's files wait until it is published.
type stage interface {
	dir() string // the directory or prefix the pipeline writes into
	// publish commits the run and returns where it is published: "" when
	// it is not, even with an error.
	publish(ctx context.Context, m Manifest) (string, error)
	// close releases the stage, and removes what it holds when abort is
	// set and the store allows.
	close(abort bool)
}

// localStage publishes into a local directory: pipeline.Staging under the
// output root's lock.
type localStage struct {
	st     *pipeline.Staging
	unlock func() error
}

func newLocalStage(cfg jobs.RunConfig) (*localStage, error) {
	unlock, err := pipeline.Lock(cfg.Output)
	if err != nil {
		return nil, err
	}
	if _, err := pipeline.ClearLeftovers(cfg.Output); err != nil {
		return nil, errors.Join(err, unlock())
	}
	st, err := pipeline.NewStaging(cfg.Output, cfg.Date, cfg.RunID)
	if errors.Is(err, pipeline.ErrPublished) {
		err = jobs.UsageError("-run-id: %v; choose another -run-id", err)
	}
	if err != nil {
		return nil, errors.Join(err, unlock())
	}
	return &localStage{st: st, unlock: unlock}, nil
}

func (l *localStage) dir() string { return l.st.Dir }

func (l *localStage) publish(_ context.Context, m Manifest) (string, error) { return l.st.Publish(m) }

func (l *localStage) close(abort bool) {
	if abort {
		_ = l.st.Abort() // the next run clears a staging directory left behind
	}
	_ = l.unlock() // a lock file left behind is taken over by the next run
}

// objectStage publishes under an object-store prefix: the attempt's own
// prefix, the manifest last in it, then the run's pointer object. An
// object store has no lock: one scheduler writes a root (docs/scale-out.md).
type objectStage struct {
	run     string // the run's prefix
	attempt string
}

func newObjectStage(ctx context.Context, cfg jobs.RunConfig, started time.Time) (*objectStage, error) {
	run := pipeline.ObjectRun(cfg.Output, cfg.Date, cfg.RunID)
	if err := checkUnpublished(ctx, run); err != nil {
		return nil, err
	}
	return &objectStage{run: run, attempt: pipeline.NewAttempt(started, rand.Uint32())}, nil
}

// checkUnpublished refuses a run whose pointer exists.
func checkUnpublished(ctx context.Context, run string) error {
	ok, err := objectExists(ctx, run+"/"+pipeline.PointerName)
	if err != nil {
		return err
	}
	if ok {
		return fmt.Errorf("%w: -run-id: run %s: %w; choose another -run-id", jobs.ErrUsage, run, pipeline.ErrPublished)
	}
	return nil
}

func (o *objectStage) dir() string { return o.run + "/" + o.attempt }

func (o *objectStage) publish(ctx context.Context, m Manifest) (string, error) {
	b, err := pipeline.EncodeJSON(m)
	if err != nil {
		return "", fmt.Errorf("encode manifest: %w", err)
	}
	e, err := putFile(ctx, o.dir(), pipeline.ManifestName, 0, func(w io.Writer) error { _, err := w.Write(b); return err })
	if err != nil {
		return "", err
	}
	if err := checkUnpublished(ctx, o.run); err != nil { // another attempt won meanwhile
		return "", err
	}
	p := pipeline.Pointer{Version: pipeline.PointerVersion, RunID: m.RunID, Date: m.Date, Attempt: o.attempt, Manifest: o.attempt + "/" + pipeline.ManifestName, ManifestSHA256: e.SHA256}
	pb, err := pipeline.EncodeJSON(p)
	if err != nil {
		return "", fmt.Errorf("encode pointer: %w", err)
	}
	if err := putObject(ctx, o.run+"/"+pipeline.PointerName, func(w io.Writer) error { _, err := w.Write(pb); return err }); err != nil {
		return "", err
	}
	return o.run, nil
}

// close leaves an aborted attempt's objects to the bucket's lifecycle
// rule: no pointer names them, so no reader sees them, and a run removes
// nothing on an object store.
func (o *objectStage) close(bool) {}

// counters sums the pipeline's counters by name.
func counters(res beam.PipelineResult) map[string]int64 {
	if res == nil {
		return nil
	}
	out := map[string]int64{}
	for _, c := range res.Metrics().AllMetrics().Counters() {
		if c.Key.Namespace == "circles" {
			out[c.Key.Name] += c.Result()
		}
	}
	return out
}

// readSummary reads the summary the pipeline wrote into dir and removes
// it where the store can.
func readSummary(ctx context.Context, dir string) (Summary, error) {
	var sum Summary
	path := joinPath(dir, summaryName)
	b, err := readFile(ctx, path)
	if err != nil {
		return sum, fmt.Errorf("beam pipeline finished without its summary: %w", err)
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		return sum, fmt.Errorf("read %s: %w", path, err)
	}
	if pipeline.IsURL(dir) {
		return sum, nil // left under the attempt's prefix, which the manifest does not list
	}
	return sum, os.Remove(path)
}
