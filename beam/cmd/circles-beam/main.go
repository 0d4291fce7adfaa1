// Command circles-beam runs the nightly run on Apache Beam: ingest and the
// interest model, on Prism in-process by default or on any portable runner
// (Dataflow, Flink, Spark) through Beam's own flags (--runner, --endpoint,
// --project, …). See docs/scale-out.md.
//
//	circles-beam run -input DIR -output DIR|gs://…|s3://… -date YYYY-MM-DD [-run-id ID] [-config FILE] [-shards N] [-blocks N]
//
// -output may be an object-store prefix (Google Cloud Storage or S3,
// through Beam's file systems): the run is published there by its pointer
// object (pipeline/object.go).
//
// Exit codes are those of circles run: 0 published, 1 internal failure, 2
// bad flag or value, 3 input not ready, 4 bad input, 5 output locked, 130
// interrupted; nothing is published unless the exit code is 0.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs" // gs:// outputs
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/s3"  // s3:// outputs
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"

	"circles/beam/night"
	"circles/data"
	"circles/jobs"
	"circles/output"
)

const (
	exitUsage   = jobs.ExitUsage
	exitFailure = jobs.ExitFailure
)

func main() {
	// Flags go on the command line's own set, where Beam's runner options
	// (--runner, --endpoint, …) live too; beam.Init then lets the same
	// binary serve as a worker on a distributed runner.
	if len(os.Args) < 2 || os.Args[1] != "run" {
		if !isWorker() {
			fmt.Fprintln(os.Stderr, "usage: circles-beam run -input DIR -output DIR -date YYYY-MM-DD [-run-id ID] [-config FILE] [-shards N] [-blocks N] [--runner prism|dataflow|flink|…]")
			os.Exit(exitUsage)
		}
		flag.Parse()
		beam.Init()
		os.Exit(exitFailure) // a worker's harness never returns here
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cleanup := privateTempDir()
	code := run(ctx, os.Args[2:], os.Stderr)
	cleanup()
	stop()
	os.Exit(code)
}

// privateTempDir points the process's temporary directory at a new
// directory of its own and returns what removes it. Beam's loopback
// environment (Prism's default) creates an empty placeholder file in the
// temporary directory on every run and never removes it (Beam issue
// 27569); in the run's own directory it goes when the run does. When no
// directory can be made, the system's is used as before.
func privateTempDir() (cleanup func()) {
	dir, err := os.MkdirTemp("", "circles-beam-")
	if err != nil {
		return func() {}
	}
	if err := os.Setenv("TMPDIR", dir); err != nil {
		_ = os.Remove(dir)
		return func() {}
	}
	return func() { _ = os.RemoveAll(dir) }
}

// isWorker reports whether the binary was started as a Beam worker.
func isWorker() bool {
	for _, a := range os.Args[1:] {
		if a == "--worker" || a == "-worker" {
			return true
		}
	}
	return false
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	var cfg jobs.RunConfig
	var date, configFile string
	o := night.Options{Shards: 4, Blocks: 16}
	fs := flag.CommandLine
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Input, "input", "", "input root with <table>/dt=YYYY-MM-DD partitions: a directory, gs://BUCKET/PREFIX or s3://BUCKET/PREFIX (required)")
	fs.StringVar(&cfg.Output, "output", "", "output root runs are published under (required)")
	fs.StringVar(&date, "date", "", "run date, YYYY-MM-DD (required)")
	fs.StringVar(&cfg.RunID, "run-id", "", "run directory name (default: beam- and the UTC start time)")
	fs.StringVar(&configFile, "config", "", "JSON file of settings (see 'circles config defaults')")
	fs.IntVar(&o.Shards, "shards", o.Shards, "files per output (1..10000)")
	fs.IntVar(&o.Blocks, "blocks", o.Blocks, "ALS blocks per side (1..1000000): each is solved by one worker, so rows per block must fit one")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	beam.Init()
	cfg.Params = output.DefaultParams()
	log := slog.New(slog.NewJSONHandler(stderr, nil)).With("job", "beam-run", "date", date)
	var err error
	if configFile != "" {
		if cfg.Params, err = jobs.LoadParams(configFile, cfg.Params); err != nil {
			return exitCode(err, log)
		}
	}
	if date != "" {
		if cfg.Date, err = data.ParseDate(date); err != nil {
			return exitCode(fmt.Errorf("%w: -date: %v", jobs.ErrUsage, err), log)
		}
	}
	dir, err := night.Run(ctx, cfg, o, beamx.RunWithMetrics, log)
	if err == nil {
		log.Info("run published", "path", dir)
	}
	return exitCode(err, log)
}

// exitCode logs the final error and maps it to an exit code, as circles
// run does (jobs.ExitCode).
func exitCode(err error, log *slog.Logger) int {
	if err != nil {
		log.Error(err.Error())
	}
	return jobs.ExitCode(err)
}
