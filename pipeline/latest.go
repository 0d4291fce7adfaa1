package pipeline

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// LatestName is the symbolic link under an output root that points at the
// newest complete run (relative: date=YYYY-MM-DD/run=ID). A
// reader that follows it always finds a whole run.
const LatestName = "latest"

// PointLatest switches root/latest to runDir (a run directory under root)
// in one step: a new link is made under a temporary name and renamed over
// the old one, so a reader sees either the old run or the new, never
// neither.
func PointLatest(root, runDir string) error {
	rel, err := filepath.Rel(root, runDir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("point latest: %s is not under %s", runDir, root)
	}
	tmp := linkPrefix + filepath.Base(runDir)
	if err := removeScratch(root, tmp); err != nil {
		return fmt.Errorf("point latest: %w", err)
	}
	if err := os.Symlink(rel, filepath.Join(root, tmp)); err != nil {
		return fmt.Errorf("point latest: %w", err)
	}
	if err := os.Rename(filepath.Join(root, tmp), filepath.Join(root, LatestName)); err != nil {
		return errors.Join(fmt.Errorf("point latest: %w", err), removeScratch(root, tmp))
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

// Stamp is what this package reads back from a run's manifest: the run's
// date and when it was published. A manifest type embeds it.
type Stamp struct {
	Date        string    `json:"date"`         // YYYY-MM-DD
	PublishedAt time.Time `json:"published_at"` // set just before the manifest is written
	// Covers names the stages a partial run computed — a run of the
	// Beam driver, whose sharded layout the output contract does not
	// describe yet — and is empty for a whole run. latest never points
	// at a partial run.
	Covers []string `json:"covers,omitempty"`
}

// Run is a published run directory.
type Run struct {
	Dir string
	Stamp
}

// newer orders runs by date, then by when they were published; the run
// ID never decides (a fix-up run named "a" after "nightly-b" is newer).
func newer(a, b Run) int {
	return cmp.Or(cmp.Compare(a.Date, b.Date), a.PublishedAt.Compare(b.PublishedAt), cmp.Compare(a.Dir, b.Dir))
}

// PublishedRuns lists the run directories under root that hold a
// manifest, oldest first: by date, then by publication time. A manifest
// without published_at (written before it was recorded) counts as
// published when the manifest file was last modified. Directories without
// a manifest are incomplete and left out.
func PublishedRuns(root string) ([]Run, error) {
	dates, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var runs []Run
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
			path := filepath.Join(dir, ManifestName)
			b, err := os.ReadFile(path)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, err
			}
			r := Run{Dir: dir}
			if err := json.Unmarshal(b, &r.Stamp); err != nil {
				return nil, fmt.Errorf("read manifest %s: %w", path, err)
			}
			if r.PublishedAt.IsZero() {
				if st, err := os.Stat(path); err == nil {
					r.PublishedAt = st.ModTime().UTC()
				}
			}
			runs = append(runs, r)
		}
	}
	slices.SortFunc(runs, newer)
	return runs, nil
}

// UpdateLatest points root/latest at the newest published whole run (see
// [PublishedRuns]; partial runs never count) unless it already points there, and returns that run's
// directory and whether latest moved. A backfill of an older date never
// moves latest back, and a root whose latest was lost (a crash between
// publishing and switching) gets it back.
func UpdateLatest(root string) (dir string, moved bool, err error) {
	runs, err := PublishedRuns(root)
	runs = slices.DeleteFunc(runs, func(r Run) bool { return len(r.Covers) > 0 })
	if err != nil || len(runs) == 0 {
		return "", false, err
	}
	newest := runs[len(runs)-1].Dir
	cur, err := Latest(root)
	if err != nil || cur == newest {
		return newest, false, err
	}
	return newest, true, PointLatest(root, newest)
}

// Prune removes all but the keep newest published runs under root (see
// [PublishedRuns] for the order), never the one latest points to nor
// protect (the run just published), and removes date directories left
// empty. Directories without a manifest are left alone: they may belong to
// a run being published. keep ≤ 0 keeps everything. Each run is first
// renamed out of its date directory, so no reader ever sees a
// half-deleted run. It returns the directories removed.
func Prune(root string, keep int, protect string) ([]string, error) {
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
	for _, r := range runs[:max(0, len(runs)-keep)] {
		dir := r.Dir
		if dir == latest || dir == protect {
			continue
		}
		trash := trashPrefix + strings.ReplaceAll(strings.TrimPrefix(dir, root+string(filepath.Separator)), string(filepath.Separator), "-")
		if err := os.Rename(dir, filepath.Join(root, trash)); err != nil {
			return removed, fmt.Errorf("prune %s: %w", dir, err)
		}
		if err := removeScratch(root, trash); err != nil {
			return removed, fmt.Errorf("prune %s: %w", dir, err)
		}
		removed = append(removed, dir)
		// The date directory goes too once it is empty; while it holds
		// another run, the remove fails and it stays.
		if err := os.Remove(filepath.Dir(dir)); err != nil && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
			return removed, fmt.Errorf("prune %s: %w", filepath.Dir(dir), err)
		}
	}
	return removed, nil
}
