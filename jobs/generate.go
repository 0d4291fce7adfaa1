package jobs

import (
	"context"
	"log/slog"
	"time"

	"circles/pipeline"
	"circles/synth"
)

// GenerateConfig is the configuration of the generate job.
type GenerateConfig struct {
	Out   string
	World synth.Config
}

// Generate writes a synthetic world into cfg.Out.
func Generate(ctx context.Context, cfg GenerateConfig, log *slog.Logger, progress *pipeline.Progress) (synth.Summary, error) {
	if cfg.Out == "" {
		return synth.Summary{}, UsageError("-out is required: an empty or new directory to write the world into")
	}
	if err := cfg.World.Validate(); err != nil {
		return synth.Summary{}, UsageError("%v", err)
	}
	log = log.With("job", "generate")
	log.Info("stage started", "stage", "generate", "path", cfg.Out, "users", cfg.World.Users, "days", cfg.World.Days)
	start := time.Now()
	s, err := synth.Generate(ctx, cfg.Out, cfg.World, func(done, total int) { progress.Update("generate: days", done, total) })
	progress.Done()
	if err != nil {
		return s, err
	}
	log.Info("stage finished", "stage", "generate", "dur", pipeline.Seconds(time.Since(start)),
		"users", s.Users, "transactions", s.Transactions, "interactions", s.Interactions)
	return s, nil
}
