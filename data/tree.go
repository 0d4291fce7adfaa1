package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// A Tree is the store an input tree lies on, as the listing rules of
// PartitionFiles, SnapshotDir and WindowFiles see it: the local file
// system ([Local]), or a driver's view of an object store, whose keys are
// files and whose key prefixes are directories. The rules are the same on
// every store, so a tree is refused or read alike wherever it lies.
type Tree interface {
	// ReadDir lists the directory dir, in any order; what names what dir
	// is ("table", "partition") in messages. A missing directory is an
	// error wrapping ErrNoPartition (it may not have landed yet); one that
	// is not a directory, or cannot be listed, is bad input naming it.
	ReadDir(dir, what string) ([]Entry, error)
	// ReadFile reads a whole small file; a missing one is an error
	// wrapping fs.ErrNotExist.
	ReadFile(path string) ([]byte, error)
	// Stat returns a file's size and modification time (zero when the
	// store keeps none), which the input digest records.
	Stat(path string) (size int64, mod time.Time, err error)
	// Join names the entry name of the directory dir.
	Join(dir, name string) string
}

// An Entry is one name in a directory.
type Entry struct {
	Name string
	Kind EntryKind
}

// EntryKind is what an entry is: only files and directories belong in an
// input tree.
type EntryKind uint8

const (
	EntryFile  EntryKind = iota // a regular file
	EntryDir                    // a directory
	EntryLink                   // a symbolic link
	EntryOther                  // a device, a pipe, a socket
)

// Local is the local (or mounted) file system. It reads no links: a link
// anywhere in the tree is refused, not followed.
type Local struct{}

func (Local) ReadDir(dir, what string) ([]Entry, error) {
	if err := checkDir(dir, what); err != nil {
		return nil, err
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, layoutError(dir, "cannot list the %s directory (%v); make it readable by the user circles runs as", what, unwrapPath(err))
	}
	entries := make([]Entry, len(des))
	for i, e := range des {
		kind := EntryOther
		switch t := e.Type(); {
		case t&fs.ModeSymlink != 0:
			kind = EntryLink
		case t.IsDir():
			kind = EntryDir
		case t.IsRegular():
			kind = EntryFile
		}
		entries[i] = Entry{Name: e.Name(), Kind: kind}
	}
	return entries, nil
}

func (Local) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

func (Local) Stat(path string) (int64, time.Time, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, time.Time{}, err
	}
	return st.Size(), st.ModTime(), nil
}

func (Local) Join(dir, name string) string { return filepath.Join(dir, name) }

// checkDir checks that path, a table or partition directory of an input
// tree, is a directory and not a symbolic link. A missing one wraps
// [ErrNoPartition] (it may not have landed yet); any other problem is bad
// input naming path.
func checkDir(path, what string) error {
	st, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: %w", path, ErrNoPartition)
	case err != nil:
		return layoutError(path, "cannot read the %s directory (%v)", what, unwrapPath(err))
	case st.Mode()&fs.ModeSymlink != 0:
		return layoutError(path, "is a symbolic link; circles reads no links inside an input tree (make the %s a directory)", what)
	case !st.IsDir():
		return layoutError(path, "is a file; want a %s directory", what)
	}
	return nil
}
