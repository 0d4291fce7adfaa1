package jobs

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"

	"circles/data"
	"circles/output"
	"circles/pipeline"
)

// BackfillConfig configures a backfill: the run settings, for every date
// from From through To (YYYY-MM-DD, inclusive).
type BackfillConfig struct {
	Run      RunConfig // Date and RunID are set per date
	From, To string
}

// BackfillRunID is the run ID a backfill uses: derived from the settings,
// so that a date already published with the same settings is recognised
// and skipped when a backfill is resumed.
func BackfillRunID(p output.Params) string { return "backfill-" + p.Digest()[:12] }

// Backfill runs every date of the range, oldest first, skipping dates
// already published by a backfill with the same settings, and stops at
// the first failure. Rerunning it after a failure or a crash resumes where
// it stopped. Older dates never move latest (see Run).
func Backfill(ctx context.Context, cfg BackfillConfig, log *slog.Logger, progress *pipeline.Progress) (ran, skipped int, err error) {
	from, err := data.ParseDate(cfg.From)
	if err != nil {
		return 0, 0, UsageError("-from: %v", err)
	}
	to, err := data.ParseDate(cfg.To)
	if err != nil {
		return 0, 0, UsageError("-to: %v", err)
	}
	if to.Before(from) {
		return 0, 0, UsageError("-to %s is before -from %s", cfg.To, cfg.From)
	}
	id := BackfillRunID(cfg.Run.Params)
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		if _, err := os.Stat(filepath.Join(pipeline.RunDir(cfg.Run.Output, d, id), pipeline.ManifestName)); err == nil {
			skipped++
			continue
		} else if !errors.Is(err, os.ErrNotExist) {
			return ran, skipped, err
		}
		rc := cfg.Run
		rc.Date, rc.RunID = d, id
		if _, err := Run(ctx, rc, log.With("date", d.Format(data.DateLayout)), progress); err != nil {
			return ran, skipped, err
		}
		ran++
	}
	return ran, skipped, nil
}
