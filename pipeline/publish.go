package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// ManifestName is the file that marks a published run as complete. Readers
// must ignore any run directory without it.
const ManifestName = "manifest.json"

// FileEntry describes one published file.
type FileEntry struct {
	Name   string `json:"name"`   // the file's name in the run directory
	Rows   int64  `json:"rows"`   // rows (records) it holds
	Bytes  int64  `json:"bytes"`  // its size
	SHA256 string `json:"sha256"` // hex SHA-256 of its bytes
}

// Staging is a private directory a run writes into before publishing.
// Nothing in it is visible to readers until [Staging.Publish].
type Staging struct {
	Dir     string // <root>/.staging-<run id>
	root    string
	name    string // .staging-<run id>
	final   string // <root>/date=YYYY-MM-DD/run=<run id>
	replace bool   // final exists, and Publish swaps it out
}

// ErrPublished says a run ID is already published for its date: a run
// never overwrites a published run.
var ErrPublished = errors.New("already published")

// RunDir is where a run of date with the given ID is published under root.
func RunDir(root string, date time.Time, runID string) string {
	return filepath.Join(root, "date="+date.Format("2006-01-02"), "run="+runID)
}

// NewStaging creates the staging directory of a run. It fails if the run was
// already published or is being staged, so two runs never share a directory.
func NewStaging(root string, date time.Time, runID string) (*Staging, error) {
	return newStaging(root, date, runID, false)
}

// NewReplacement creates the staging directory of a run that replaces the
// published run of the same date and ID (a forced redo). Publish swaps
// the two directories in one atomic exchange, so a reader sees the old
// run or the new one, whole, and then removes the old one.
func NewReplacement(root string, date time.Time, runID string) (*Staging, error) {
	return newStaging(root, date, runID, true)
}

// newStaging checks that the final directory is free (or, to replace it,
// published) and creates the staging directory.
func newStaging(root string, date time.Time, runID string, replace bool) (*Staging, error) {
	if err := ValidRunID(runID); err != nil {
		return nil, err
	}
	s := &Staging{root: root, name: stagingPrefix + runID, final: RunDir(root, date, runID), replace: replace}
	s.Dir = filepath.Join(root, s.name)
	if replace {
		if _, err := os.Stat(filepath.Join(s.final, ManifestName)); err != nil {
			return nil, fmt.Errorf("replace run %s: %w", runID, err)
		}
	} else if _, err := os.Stat(s.final); err == nil {
		return nil, fmt.Errorf("run %s is already published at %s: %w", runID, s.final, ErrPublished)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	if err := os.Mkdir(s.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create staging directory: %w", err)
	}
	return s, nil
}

// Path returns the path of a file in the staging directory.
func (s *Staging) Path(name string) string { return filepath.Join(s.Dir, name) }

// Abort removes the staging directory and everything in it.
func (s *Staging) Abort() error { return removeScratch(s.root, s.name) }

// Describe checksums the named files in the staging directory; rows gives
// each file's row count.
func (s *Staging) Describe(rows map[string]int64) ([]FileEntry, error) {
	var out []FileEntry
	for _, name := range slices.Sorted(maps.Keys(rows)) {
		f, err := os.Open(s.Path(name))
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		n, err := io.Copy(h, f)
		err = errors.Join(err, f.Close())
		if err != nil {
			return nil, fmt.Errorf("checksum %s: %w", name, err)
		}
		out = append(out, FileEntry{Name: name, Rows: rows[name], Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))})
	}
	return out, nil
}

// Publish writes manifest (as indented JSON) last, fsyncs the staging
// directory, and renames it to the run's final directory in one step. The
// rename is the one commit point: before it only the staging directory
// exists, which readers ignore; after it the run is complete. Publish
// returns the final directory exactly when the rename happened, even with
// an error (fsyncing the parent directories afterwards can still fail):
// then the run is visible, and the caller must not report it unpublished.
func (s *Staging) Publish(manifest any) (string, error) {
	b, err := EncodeJSON(manifest)
	if err != nil {
		return "", fmt.Errorf("encode manifest: %w", err)
	}
	if err := writeSynced(s.Path(ManifestName), b); err != nil {
		return "", err
	}
	if err := syncDir(s.Dir); err != nil {
		return "", err
	}
	parent := filepath.Dir(s.final)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	if s.replace {
		// One atomic exchange: the new run takes the published name and
		// the old one the staging name, which is then removed.
		if err := unix.Renameat2(unix.AT_FDCWD, s.Dir, unix.AT_FDCWD, s.final, unix.RENAME_EXCHANGE); err != nil {
			return "", fmt.Errorf("publish run over %s: %w", s.final, err)
		}
		err := errors.Join(syncDir(parent), syncDir(filepath.Dir(s.Dir)))
		if rerr := removeScratch(s.root, s.name); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove the replaced run (the next run removes it): %w", rerr))
		}
		if err != nil {
			return s.final, err
		}
		return s.final, nil
	}
	if err := os.Rename(s.Dir, s.final); err != nil {
		return "", fmt.Errorf("publish run: %w", err)
	}
	if err := errors.Join(syncDir(parent), syncDir(filepath.Dir(s.Dir))); err != nil {
		return s.final, fmt.Errorf("sync published run: %w", err)
	}
	return s.final, nil
}

// EncodeJSON encodes v as indented JSON with a final newline: the form of
// every manifest and pointer, local or on an object store.
func EncodeJSON(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
