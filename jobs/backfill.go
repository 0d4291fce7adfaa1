package jobs

import (
	"context"
	"log/slog"

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
// so that a backfill with other settings publishes beside it rather than
// over it.
func BackfillRunID(p output.Params) string { return "backfill-" + p.Digest()[:12] }

// Backfill runs every date of the range, oldest first, and stops at the
// first failure. A date already published with the same inputs, settings
// and code, by a backfill or by any other run, is skipped (unless
// cfg.Run.Force), so rerunning a backfill after a failure or a crash
// resumes where it stopped. Older dates never move latest (see Run).
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
		rc := cfg.Run
		rc.Date, rc.RunID = d, id
		res, err := Run(ctx, rc, log.With("date", d.Format(data.DateLayout)), progress)
		if err != nil {
			return ran, skipped, err
		}
		if res.AlreadyPublished {
			skipped++
		} else {
			ran++
		}
	}
	return ran, skipped, nil
}
