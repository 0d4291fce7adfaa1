package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"circles/datasets"
)

// ImportConfig configures an import of a public dataset.
type ImportConfig struct {
	Format, Src, Dst   string
	Date               time.Time // stated date of undated rows
	MaxBadLineFraction float64
}

// Import converts a public dataset into an input tree (see package
// datasets) and logs its summary.
func Import(ctx context.Context, cfg ImportConfig, log *slog.Logger) (*datasets.Summary, error) {
	switch {
	case cfg.Src == "" || cfg.Dst == "":
		return nil, UsageError("want FORMAT SRC DST")
	case !(cfg.MaxBadLineFraction > 0 && cfg.MaxBadLineFraction <= 1):
		return nil, UsageError("-max-bad-lines = %v: want a fraction in (0, 1]", cfg.MaxBadLineFraction)
	}
	start := time.Now()
	sum, err := datasets.Import(ctx, cfg.Format, cfg.Src, cfg.Dst, datasets.Options{Date: cfg.Date, MaxBadLineFraction: cfg.MaxBadLineFraction})
	if errors.Is(err, datasets.ErrOptions) {
		return nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if err != nil {
		return nil, err
	}
	log.Info("imported", "job", "import", "format", cfg.Format, "dst", cfg.Dst, "date", sum.Date, "days", sum.Days, "rows", sum.Rows, "seconds", time.Since(start).Seconds())
	return sum, nil
}
