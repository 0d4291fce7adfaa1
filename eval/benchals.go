package eval

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"circles/data"
	"circles/datasets"
	"circles/features"
	"circles/jobs"
	"circles/models"
	"circles/output"
)

// BenchALSConfig says which interest-model solves BenchALS times.
type BenchALSConfig struct {
	Dataset    string // an imported dataset (circles import)
	Factors    []int  // dimensions to time
	Iterations int    // timed sweeps per round; the first of each round is dropped as warm-up
	Rounds     int    // independent rounds, each from a fresh start
	Workers    int    // 0 = all cores
	Dump       string // when set, the matrix is also written here as "row col confidence" lines
}

// ALSTiming is one solver's per-iteration times at one dimension.
type ALSTiming struct {
	Solver  string
	Factors int
	Wall    []float64 // seconds per iteration, every round, warm-up dropped
	CPU     []float64 // CPU-seconds (user + system) per iteration
}

// BenchALS times one ALS iteration (a user sweep and an item sweep, with
// the loss) of the production solve and the reference CG side by side on
// the interest matrix circles builds from an imported dataset, with the
// default settings but the dimension, and prints medians and ratios.
func BenchALS(ctx context.Context, cfg BenchALSConfig, w io.Writer, log *slog.Logger) ([]ALSTiming, error) {
	if cfg.Iterations < 2 || cfg.Rounds < 1 || len(cfg.Factors) == 0 {
		return nil, jobs.UsageError("bench-als: want -iterations ≥ 2, -rounds ≥ 1 and at least one -factors")
	}
	if cfg.Dump != "" {
		// checked before anything is read, as every path from a flag is
		if err := output.CheckSettingsPath(cfg.Dump); err != nil {
			return nil, jobs.UsageError("-dump %v", err)
		}
	}
	sum, err := datasets.ReadSummary(cfg.Dataset)
	if err != nil || sum == nil {
		return nil, fmt.Errorf("-dataset %s: not an imported dataset (no readable summary): %v (%w)", cfg.Dataset, err, data.ErrBadInput)
	}
	date, _ := data.ParseDate(sum.Date)
	p := evalParams(sum)
	in, err := jobs.Load(ctx, cfg.Dataset, date, p, jobs.Options{Workers: cfg.Workers})
	if err != nil {
		return nil, err
	}
	f, err := jobs.BuildFeatures(ctx, in, date, p)
	if err != nil {
		return nil, err
	}
	R := &f.Signals
	Rt := R.Transpose(int(f.Items.N))
	keys := models.InterestKeys(in.Dims, f.Items)
	log.Info("interest matrix", "dataset", cfg.Dataset, "users", R.Rows(), "items", Rt.Rows(), "observations", R.NNZ())
	if cfg.Dump != "" {
		if err := dumpMatrix(cfg.Dump, R, p.ALS.Alpha); err != nil {
			return nil, err
		}
	}
	if _, err := fmt.Fprintf(w, "%s: %d users × %d items, %d observations; %d iterations × %d rounds, medians\n\n| k | solve | wall s/iter | CPU s/iter | wall vs reference |\n|---|---|---|---|---|\n",
		filepath.Base(cfg.Dataset), R.Rows(), Rt.Rows(), R.NNZ(), cfg.Iterations-1, cfg.Rounds); err != nil {
		return nil, err
	}
	var out []ALSTiming
	for _, k := range cfg.Factors {
		ap := p.ALS
		ap.Factors, ap.Iterations, ap.Workers = k, cfg.Iterations, cfg.Workers
		var ref float64
		for _, s := range []struct {
			name  string
			train func(context.Context, *features.CSR, *features.CSR, models.RowKeys, models.ALSParams, func(int, float64)) (*models.ALS, error)
		}{{"reference CG", models.TrainALSCG}, {"circles", models.TrainALS}} {
			t := ALSTiming{Solver: s.name, Factors: k}
			for round := range cfg.Rounds {
				ap.Seed = uint64(round + 1)
				last, lastCPU := time.Now(), cpuSeconds()
				if _, err := s.train(ctx, R, &Rt, keys, ap, func(it int, _ float64) {
					now, cpu := time.Now(), cpuSeconds()
					if it > 1 {
						t.Wall = append(t.Wall, now.Sub(last).Seconds())
						t.CPU = append(t.CPU, cpu-lastCPU)
					}
					last, lastCPU = now, cpu
				}); err != nil {
					return nil, err
				}
			}
			wall, cpu := median(t.Wall), median(t.CPU)
			if ref == 0 {
				ref = wall
			}
			if _, err := fmt.Fprintf(w, "| %d | %s | %.3f | %.3f | %.2f× |\n", k, s.name, wall, cpu, ref/wall); err != nil {
				return nil, err
			}
			out = append(out, t)
		}
	}
	return out, nil
}

// median is the middle of xs (the mean of the two middle values when
// their number is even).
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s) == 0 {
		return 0
	}
	return (s[(len(s)-1)/2] + s[len(s)/2]) / 2
}

// cpuSeconds is the process's user plus system time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// dumpMatrix writes R as "row col confidence" lines, the confidence
// signed like the signal (1 + alpha·|s|, negative for a negative signal),
// so another implementation can be timed on the same matrix.
func dumpMatrix(path string, R *features.CSR, alpha float64) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("-dump: %w", err)
	}
	bw := bufio.NewWriter(f)
	for u := range R.Rows() {
		cols, vals := R.Row(int32(u))
		for j, c := range cols {
			conf := 1 + alpha*float64(max(vals[j], -vals[j]))
			if vals[j] < 0 {
				conf = -conf
			}
			if _, err := fmt.Fprintf(bw, "%d %d %g\n", u, c, conf); err != nil {
				return fmt.Errorf("-dump %s: %w", path, errors.Join(err, f.Close()))
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("-dump %s: %w", path, errors.Join(err, f.Close()))
	}
	return f.Close()
}
