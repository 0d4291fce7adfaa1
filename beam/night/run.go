package night

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"circles/data"
	"circles/jobs"
	"circles/output"
	"circles/pipeline"
)

// Covers names the stages a Beam run computes (pipeline.Stamp.Covers).
var Covers = []string{"ingest", "interests"}

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
	Shards       int                 `json:"shards"`
	Blocks       int                 `json:"blocks"`
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

// summaryName is the summary file's name in the staging directory; it is
// read and removed before the run is published.
const summaryName = "_summary.json"

// Run runs the night of cfg on Beam and publishes it under cfg.Output:
// data files into a staging directory, the manifest last, one rename. It
// never moves latest (the run is partial, see Covers). cfg is checked as
// circles run checks it; flags the Beam driver does not have (a base run,
// users, stages) are refused.
func Run(ctx context.Context, cfg jobs.RunConfig, o Options, exec Execute, log *slog.Logger) (string, error) {
	if err := cfg.Validate(); err != nil {
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
	started := time.Now().UTC()
	if cfg.RunID == "" {
		cfg.RunID = "beam-" + started.Format("20060102T150405Z")
	}
	inputs, err := jobs.InputDigest(cfg)
	if err != nil {
		return "", err
	}
	unlock, err := pipeline.Lock(cfg.Output)
	if err != nil {
		return "", err
	}
	defer func() { _ = unlock() }() // a lock file left behind is taken over by the next run
	if _, err := pipeline.ClearLeftovers(cfg.Output); err != nil {
		return "", err
	}
	st, err := pipeline.NewStaging(cfg.Output, cfg.Date, cfg.RunID)
	if errors.Is(err, pipeline.ErrPublished) {
		return "", jobs.UsageError("-run-id: %v; choose another -run-id", err)
	}
	if err != nil {
		return "", err
	}
	published := false
	defer func() {
		if !published {
			_ = st.Abort() // the next run clears a staging directory left behind
		}
	}()
	pl, err := NewPlan(cfg, st.Dir, st.Path(summaryName), o.Shards, o.Blocks)
	if err != nil {
		return "", err
	}
	p, s := beam.NewPipelineWithRoot()
	Build(s, pl)
	log.Info("pipeline built", "event_files", len(pl.Txns)+len(pl.Ints), "shards", o.Shards, "blocks", o.Blocks)
	res, err := exec(ctx, p)
	if err != nil {
		return "", fmt.Errorf("beam pipeline: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	sum, err := readSummary(st.Path(summaryName))
	if err != nil {
		return "", err
	}
	if err := data.CheckBadRows(sum.Stats, cfg.Params.MaxBadRowFraction); err != nil {
		return "", err
	}
	rows := map[string]int64{}
	for _, w := range sum.Files {
		rows[w.Name] = w.Rows
	}
	outs, err := st.Describe(rows)
	if err != nil {
		return "", err
	}
	m := Manifest{
		Version: ManifestVersion, Driver: "beam", RunID: cfg.RunID,
		Stamp:     pipeline.Stamp{Date: cfg.Date.Format(data.DateLayout), PublishedAt: time.Now().UTC(), Covers: Covers},
		StartedAt: started, CodeVersion: jobs.CodeVersion(), ConfigDigest: cfg.Params.Digest(), InputDigest: inputs,
		Config: cfg.Params, Inputs: sum.Stats, Shards: o.Shards, Blocks: o.Blocks, Outputs: outs, Counters: counters(res),
		Model: output.ModelMetrics{Users: sum.Users, Items: sum.Items, Observations: int(sum.Observations), Factors: cfg.Params.ALS.Factors},
	}
	dir, err := st.Publish(m)
	published = dir != ""
	return dir, err
}

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

// readSummary reads the summary the pipeline wrote and removes it.
func readSummary(path string) (Summary, error) {
	var sum Summary
	b, err := os.ReadFile(path)
	if err != nil {
		return sum, fmt.Errorf("beam pipeline finished without its summary: %w", err)
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		return sum, fmt.Errorf("read %s: %w", path, err)
	}
	return sum, os.Remove(path)
}
