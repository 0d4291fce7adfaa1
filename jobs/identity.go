package jobs

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"

	"circles/data"
	"circles/output"
	"circles/pipeline"
)

// A date run is idempotent, like an orchestrator's logical date: a run of
// a date whose inputs, settings and code match a run already published
// for that date publishes nothing new and returns that run; a run whose
// ID is already published with other inputs, settings or code replaces it
// in one atomic exchange (insert-overwrite); -force redoes a run even
// when nothing changed. Runs built on a base run (-base) are explicit
// recomputations and are never skipped.

// identity is what decides that two runs of one date are the same run.
type identity struct {
	config, inputs, code string
}

func (id identity) matches(m output.Manifest) bool {
	return m.Base == "" && m.ConfigDigest == id.config && m.InputDigest == id.inputs && m.CodeVersion == id.code
}

// inputFiles lists every file a run of cfg reads, in a fixed order: the
// input contract file when there is one, each snapshot table's files, and
// the event files of the window. It fails, as the run would, when a
// partition is missing or incomplete.
func inputFiles(t data.Tree, cfg RunConfig) ([]string, error) {
	contract, err := data.ReadInputContract(t, cfg.Input)
	if err != nil {
		return nil, err
	}
	var files []string
	if _, _, err := t.Stat(t.Join(cfg.Input, data.ContractFile)); err == nil {
		files = append(files, t.Join(cfg.Input, data.ContractFile))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	snaps, err := data.Snapshots(t, cfg.Input, contract, cfg.Date)
	if err != nil {
		return nil, err
	}
	for _, s := range snaps {
		files = append(files, s.Files...)
	}
	txns, events, err := WindowFiles(t, cfg.Input, contract, cfg.Date, cfg.Params)
	if err != nil {
		return nil, err
	}
	return slices.Concat(files, txns, events), nil
}

// InputDigest fingerprints the files a run of cfg reads by their paths
// (relative to the input root), sizes and modification times: rewriting,
// adding or removing a file changes it, and computing it reads no data.
// The input tree lies on t.
func InputDigest(t data.Tree, cfg RunConfig) (string, error) {
	files, err := inputFiles(t, cfg)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, f := range files {
		size, mod, err := t.Stat(f)
		if err != nil {
			return "", err
		}
		rel, err := filepath.Rel(cfg.Input, f)
		if err != nil {
			return "", err
		}
		h.Write(fmt.Appendf(nil, "%s\x00%d\x00%d\n", filepath.ToSlash(rel), size, mod.UnixNano()))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// publishedRuns returns the newest run published for date under root that
// id matches, if any, and the run IDs published for date.
func publishedRuns(root, date string, id identity) (same *pipeline.Run, m output.Manifest, ids map[string]bool, err error) {
	ids = map[string]bool{}
	runs, err := pipeline.PublishedRuns(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, output.Manifest{}, ids, nil
	}
	if err != nil {
		return nil, output.Manifest{}, nil, err
	}
	for i := len(runs) - 1; i >= 0; i-- { // newest first
		r := runs[i]
		if r.Date != date {
			continue
		}
		rm, err := output.ReadManifest(r.Dir)
		if err != nil {
			return nil, output.Manifest{}, nil, err
		}
		ids[rm.RunID] = true
		if same == nil && id.matches(rm) {
			same, m = &runs[i], rm
		}
	}
	return same, m, ids, nil
}

// unusedRunID is base, or base with the first suffix -2, -3, … that no
// published run of the date has: default run IDs (a start time to the
// second) never replace each other.
func unusedRunID(base string, ids map[string]bool) string {
	id := base
	for n := 2; ids[id]; n++ {
		id = fmt.Sprintf("%s-%d", base, n)
	}
	return id
}
