package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// LatestName is the symbolic link under an output root that points at the
// newest complete, verified run (relative: date=YYYY-MM-DD/run=ID). A
// reader that follows it always finds a whole run.
const LatestName = "latest"

// Verify re-reads every file of a published run and checks its size and
// SHA-256 against files (the manifest's list).
func Verify(dir string, files []FileEntry) error {
	for _, fe := range files {
		f, err := os.Open(filepath.Join(dir, fe.Name))
		if err != nil {
			return fmt.Errorf("verify run: %w", err)
		}
		h := sha256.New()
		n, err := io.Copy(h, f)
		err = errors.Join(err, f.Close())
		if err != nil {
			return fmt.Errorf("verify %s: %w", fe.Name, err)
		}
		if sum := hex.EncodeToString(h.Sum(nil)); n != fe.Bytes || sum != fe.SHA256 {
			return fmt.Errorf("verify %s: %d bytes with sha256 %s, manifest says %d bytes with %s", fe.Name, n, sum, fe.Bytes, fe.SHA256)
		}
	}
	return nil
}

// PointLatest switches root/latest to runDir (a run directory under root)
// in one step: a new link is made under a temporary name and renamed over
// the old one, so a reader sees either the old run or the new, never
// neither.
func PointLatest(root, runDir string) error {
	rel, err := filepath.Rel(root, runDir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("point latest: %s is not under %s", runDir, root)
	}
	tmp := filepath.Join(root, ".latest-"+filepath.Base(runDir))
	os.Remove(tmp)
	if err := os.Symlink(rel, tmp); err != nil {
		return fmt.Errorf("point latest: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(root, LatestName)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("point latest: %w", err)
	}
	return syncDir(root)
}

// Latest returns the run directory root/latest points to, or "" when there
// is none.
func Latest(root string) (string, error) {
	rel, err := os.Readlink(filepath.Join(root, LatestName))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return filepath.Join(root, rel), nil
}

// PublishedRuns lists the run directories under root that hold a
// manifest, sorted by date and then run ID (the order of their paths,
// date=YYYY-MM-DD/run=ID). Directories without a manifest are incomplete
// and left out.
func PublishedRuns(root string) ([]string, error) {
	dates, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var runs []string
	for _, d := range dates {
		if !d.IsDir() || !strings.HasPrefix(d.Name(), "date=") {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(root, d.Name()))
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			dir := filepath.Join(root, d.Name(), e.Name())
			if _, err := os.Stat(filepath.Join(dir, ManifestName)); err == nil {
				runs = append(runs, dir)
			}
		}
	}
	slices.Sort(runs)
	return runs, nil
}

// Prune removes all but the keep newest published runs under root (by date,
// then run ID), never the one latest points to, and removes date
// directories left empty. Directories without a manifest are left alone:
// they may belong to a run being published. keep ≤ 0 keeps everything.
// Each run is first renamed out of its date directory, so no reader ever
// sees a half-deleted run. It returns the directories removed.
func Prune(root string, keep int) ([]string, error) {
	if keep <= 0 {
		return nil, nil
	}
	latest, err := Latest(root)
	if err != nil {
		return nil, err
	}
	runs, err := PublishedRuns(root)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, dir := range runs[:max(0, len(runs)-keep)] {
		if dir == latest {
			continue
		}
		trash := filepath.Join(root, ".trash-"+strings.ReplaceAll(strings.TrimPrefix(dir, root+string(filepath.Separator)), string(filepath.Separator), "-"))
		if err := os.Rename(dir, trash); err != nil {
			return removed, fmt.Errorf("prune %s: %w", dir, err)
		}
		if err := os.RemoveAll(trash); err != nil {
			return removed, fmt.Errorf("prune %s: %w", dir, err)
		}
		removed = append(removed, dir)
		os.Remove(filepath.Dir(dir)) // only succeeds when the date directory is now empty
	}
	return removed, nil
}
