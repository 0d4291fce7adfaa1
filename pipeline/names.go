package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// MaxRunIDBytes bounds a run ID, so that a run directory's path stays well
// under every file system's name limit.
const MaxRunIDBytes = 128

// ValidRunID checks a run ID before it touches the file system: 1 to
// MaxRunIDBytes bytes of ASCII letters, digits, '-', '_' and '+'. That
// rules out path separators, "." and "..", '=' (which would break the
// date=/run= path scheme), spaces and control characters (a newline would
// break every listing of runs).
func ValidRunID(id string) error {
	if id == "" || len(id) > MaxRunIDBytes {
		return fmt.Errorf("run id %q: want 1 to %d bytes", id, MaxRunIDBytes)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '+') {
			return fmt.Errorf("run id %q: byte %d (%q) is not a letter, digit, '-', '_' or '+'", id, i, c)
		}
	}
	return nil
}

// Scratch names: the only entries directly under an output root that a run
// creates besides published runs, latest and the lock. Each is a prefix
// followed by a name a run derived from a valid run ID or run directory.
const (
	stagingPrefix = ".staging-" // a run being written
	trashPrefix   = ".trash-"   // a pruned run being removed
	linkPrefix    = ".latest-"  // a latest link being switched
)

var scratchPrefixes = []string{stagingPrefix, trashPrefix, linkPrefix}

// isScratch reports whether name, an entry directly under an output root,
// is one of the scratch entries a run makes.
func isScratch(name string) bool {
	if strings.ContainsAny(name, `/\`) {
		return false
	}
	for _, p := range scratchPrefixes {
		if rest, ok := strings.CutPrefix(name, p); ok && rest != "" {
			return true
		}
	}
	return false
}

// removeScratch removes root/name, which must be a scratch entry (see
// isScratch): it is the only way this package removes anything but a
// published run, so nothing outside the output root, and nothing circles
// did not make, is ever removed. A symbolic link is removed, never
// followed. A missing entry is not an error.
func removeScratch(root, name string) error {
	if !isScratch(name) {
		return fmt.Errorf("refusing to remove %q under %s: not a directory a run makes", name, root)
	}
	err := os.RemoveAll(filepath.Join(root, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Leftovers lists the scratch entries under root, by name: staging
// directories of runs that crashed or failed, and the remains of an
// interrupted prune or switch of latest. While no run holds the lock,
// every one of them is an orphan. A missing root has none.
func Leftovers(root string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if isScratch(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// ClearLeftovers removes every scratch entry under root and returns their
// names. Call it only while holding root's lock: then no other run is
// writing any of them.
func ClearLeftovers(root string) ([]string, error) {
	names, err := Leftovers(root)
	if err != nil {
		return nil, err
	}
	for i, name := range names {
		if err := removeScratch(root, name); err != nil {
			return names[:i], fmt.Errorf("remove leftover %s: %w", filepath.Join(root, name), err)
		}
	}
	return names, nil
}
