// Package jobs holds one recipe per job the binary runs (run, generate,
// demo), each reading as load → build → rank → publish, and the registry
// the CLI lists. It may import every package but cmd.
package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"circles/output"
	"circles/pipeline"
)

// ErrUsage marks configuration errors: a bad flag or value. The CLI maps it
// to its usage exit code.
var ErrUsage = errors.New("usage")

// UsageError wraps a validation message as an [ErrUsage].
func UsageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, args...))
}

// RunConfig is the configuration of one pipeline run.
type RunConfig struct {
	Input   string    // input root with <table>/dt=YYYY-MM-DD partitions
	Output  string    // output root; the run is published under it
	Date    time.Time // run date: a UTC midnight, as data.ParseDate returns it
	RunID   string    // name of the run directory (see pipeline.ValidRunID); default: the UTC start time, like 20261121T020000Z
	Workers int       // parallelism, 0 = all cores; never changes results
	// KeepRuns is how many published runs to keep under Output, newest by
	// date and then publication time; older ones are removed after a run
	// is published, never the one latest points to nor the run just
	// published. 0 keeps every run.
	KeepRuns int
	// Base is a published run of the same date to build on. With Stages,
	// only the named stages (interests, groups, friends) are recomputed and
	// the other outputs are copied from Base; with Users, only those users
	// are recomputed, in Base's interest model, and merged over Base's rows.
	Base   string
	Stages []string
	Users  []int64
	// Force redoes the run even when a run of the date with the same
	// inputs, settings and code is published (see identity.go).
	Force  bool
	Params output.Params
	// Settings names the tuned settings file Params came from, for the
	// manifest; nil when they came from defaults, flags or a config file.
	Settings *output.SettingsRef
}

// Validate checks the configuration before any I/O. Every path must be a
// local or mounted directory.
func (c RunConfig) Validate() error { return c.validate(false) }

// ValidateObjectStores is Validate for a driver that also reads from and
// publishes to an object store: -input and -output may be URLs that
// [pipeline.ValidObjectRoot] accepts. -base stays local or mounted.
func (c RunConfig) ValidateObjectStores() error { return c.validate(true) }

func (c RunConfig) validate(objectStores bool) error {
	if c.Input == "" {
		return UsageError("-input is required: the directory holding <table>/dt=YYYY-MM-DD partitions")
	}
	if c.Output == "" {
		return UsageError("-output is required: the directory runs are published under")
	}
	for _, f := range []struct{ flag, path string }{{"-input", c.Input}, {"-output", c.Output}, {"-base", c.Base}} {
		if !pipeline.IsURL(f.path) {
			continue
		}
		if f.flag == "-base" || !objectStores {
			return UsageError("%s %s: object-store URLs are not supported here; give a local or mounted directory (docs/scale-out.md)", f.flag, f.path)
		}
		if err := pipeline.ValidObjectRoot(f.path); err != nil {
			return UsageError("%s: %v", f.flag, err)
		}
	}
	if y, m, d := c.Date.Date(); c.Date.IsZero() || !c.Date.Equal(time.Date(y, m, d, 0, 0, 0, 0, time.UTC)) {
		return UsageError("-date is required: the run date, YYYY-MM-DD")
	}
	if c.RunID != "" {
		if err := pipeline.ValidRunID(c.RunID); err != nil {
			return UsageError("-run-id: %v", err)
		}
	}
	if c.Workers < 0 {
		return UsageError("-workers = %d: want ≥ 0 (0 = all cores)", c.Workers)
	}
	if c.KeepRuns < 0 {
		return UsageError("-keep-runs = %d: want ≥ 0 (0 = keep every run)", c.KeepRuns)
	}
	for _, s := range c.Stages {
		if s != StageInterests && s != StageGroups && s != StageFriends {
			return UsageError("-stages: unknown stage %q; want interests, groups or friends", s)
		}
	}
	if (len(c.Stages) > 0 || c.Users != nil) && c.Base == "" {
		return UsageError("-stages and -users build on a published run: name it with -base")
	}
	return validParams(c.Params)
}

// validParams checks the params as a usage error.
func validParams(p output.Params) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	return nil
}

// LoadSettings reads a tuned settings file (circles tune) for a run: its
// params and the reference the manifest records.
func LoadSettings(path string) (output.Params, *output.SettingsRef, error) {
	s, err := output.ReadSettings(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return output.Params{}, nil, UsageError("-settings: %v", err)
		}
		return output.Params{}, nil, err
	}
	return s.Params, s.Ref(path), nil
}

// LoadParams reads params from a JSON file on top of base: fields the file
// omits keep base's values.
func LoadParams(path string, base output.Params) (output.Params, error) {
	f, err := os.Open(path)
	if err != nil {
		return output.Params{}, UsageError("-config: %v", err)
	}
	p := base
	err = errors.Join(decodeStrict(f, &p), f.Close())
	if err != nil {
		return output.Params{}, UsageError("-config %s: %v (see 'circles config defaults' for every field)", path, err)
	}
	return p, nil
}

// decodeStrict decodes one JSON value into v. Unknown fields are errors (a
// misspelt field would otherwise be ignored silently), and so is trailing
// data.
func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}

// WriteDefaults writes the default params as indented JSON: a complete
// config file to start from.
func WriteDefaults(w io.Writer) error { return writeJSON(w, output.DefaultParams()) }

// WriteScheduleDefaults writes the default schedule config as indented
// JSON; input and output are left empty for the operator to fill in.
func WriteScheduleDefaults(w io.Writer) error { return writeJSON(w, DefaultScheduleConfig()) }

func writeJSON(w io.Writer, v any) error {
	b, err := pipeline.EncodeJSON(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
