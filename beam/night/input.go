package night

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"

	"circles/data"
	"circles/pipeline"
)

// Reading the input from an object store. The driver lists the tree
// through Beam's file system registry under the rules of a local tree
// (data.Tree): the same partitions are found, and the same layouts
// refused. A worker copies each event file it scans to its local
// temporary directory, scans the copy with the project's column scanner
// and removes it: the scanner reads column chunks at offsets, which an
// object reader does not offer, and a copy on disk costs no memory. The
// snapshots a worker loads (loadDims) are copied the same way, into a
// temporary tree laid out as the input is, loaded and removed. Every path
// the outputs record names the object, never the copy.

// objectTree is an input tree on an object store, as data.Tree: a key's
// segments are its directories, and nothing is a link.
type objectTree struct {
	ctx context.Context
	fs  filesystem.Interface
}

// withInputTree calls use with the tree that input lies on: the local file
// system, or the object store its URL names.
func withInputTree(ctx context.Context, input string, use func(data.Tree) error) error {
	if !pipeline.IsURL(input) {
		return use(data.Local{})
	}
	return withFileSystem(ctx, input, func(fs filesystem.Interface) error { return use(objectTree{ctx, fs}) })
}

func (t objectTree) Join(dir, name string) string { return joinPath(dir, name) }

// ReadDir lists the keys one and two segments below dir: a name with keys
// below it is a directory, any other a file. Keys deeper than two segments
// are not listed, so a partition's nested "directory" is seen, and
// refused, by its first level.
func (t objectTree) ReadDir(dir, what string) ([]data.Entry, error) {
	kinds := map[string]data.EntryKind{}
	for _, glob := range []string{dir + "/*", dir + "/*/*"} {
		keys, err := t.fs.List(t.ctx, glob)
		if err != nil {
			return nil, &data.FileError{File: dir, Err: fmt.Errorf("cannot list the %s directory (%v); let the account circles runs as list the bucket", what, err)}
		}
		for _, k := range keys {
			rel, ok := strings.CutPrefix(k, dir+"/")
			name, _, nested := strings.Cut(rel, "/")
			switch {
			case !ok || name == "":
			case nested:
				kinds[name] = data.EntryDir
			case kinds[name] != data.EntryDir:
				kinds[name] = data.EntryFile
			}
		}
	}
	if len(kinds) == 0 {
		if ok, err := t.exists(dir); err == nil && ok {
			return nil, &data.FileError{File: dir, Err: fmt.Errorf("is an object; want a %s directory (a key prefix)", what)}
		}
		return nil, fmt.Errorf("%s: %w", dir, data.ErrNoPartition)
	}
	entries := make([]data.Entry, 0, len(kinds))
	for name, kind := range kinds {
		entries = append(entries, data.Entry{Name: name, Kind: kind})
	}
	return entries, nil
}

func (t objectTree) ReadFile(path string) ([]byte, error) {
	ok, err := t.exists(path)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s: %w", path, fs.ErrNotExist)
	}
	return readFrom(t.ctx, t.fs, path)
}

func (t objectTree) Stat(path string) (size int64, mod time.Time, err error) {
	ok, err := t.exists(path)
	if err != nil {
		return 0, mod, err
	}
	if !ok {
		return 0, mod, fmt.Errorf("%s: %w", path, fs.ErrNotExist)
	}
	if size, err = t.fs.Size(t.ctx, path); err != nil {
		return 0, mod, fmt.Errorf("size of %s: %w", path, err)
	}
	if lm, ok := t.fs.(filesystem.LastModifiedGetter); ok {
		if mod, err = lm.LastModified(t.ctx, path); err != nil {
			return 0, mod, fmt.Errorf("modification time of %s: %w", path, err)
		}
	}
	return size, mod, nil
}

// exists reports whether the object path exists, by listing it: a
// missing object is an empty list on every store, while a failed read
// would not tell a missing object from a denied one.
func (t objectTree) exists(path string) (bool, error) {
	names, err := t.fs.List(t.ctx, path)
	if err != nil {
		return false, fmt.Errorf("list %s: %w", path, err)
	}
	return slices.Contains(names, path), nil
}

// copyTo copies the object path to the new local file local.
func (t objectTree) copyTo(path, local string) (err error) {
	r, err := t.fs.OpenRead(t.ctx, path)
	if err != nil {
		return &data.FileError{File: path, Err: err}
	}
	defer func() { err = errors.Join(err, r.Close()) }()
	f, err := os.OpenFile(local, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		return errors.Join(&data.FileError{File: path, Err: fmt.Errorf("copy to %s: %w", local, err)}, f.Close())
	}
	return f.Close()
}

// withLocalCopy calls use with a local path holding the input file path:
// path itself when it is local, else a temporary copy of the object,
// removed after use. An error naming the copy names the object instead.
func withLocalCopy(ctx context.Context, path string, use func(local string) error) (err error) {
	if !pipeline.IsURL(path) {
		return use(path)
	}
	dir, err := os.MkdirTemp("", "circles-input-")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
	local := filepath.Join(dir, "copy"+filepath.Ext(path))
	err = withFileSystem(ctx, path, func(fs filesystem.Interface) error { return objectTree{ctx, fs}.copyTo(path, local) })
	if err == nil {
		err = use(local)
	}
	return renamed(err, func(string) string { return path })
}

// loadObjectDims loads the snapshots of the object-store input root at
// date: the input contract and the snapshot partitions a run reads are
// copied into a temporary tree of the same layout, loaded by
// data.LoadDims, and removed; the paths the snapshots' stats and rejects
// record are rewritten to name the objects.
func loadObjectDims(ctx context.Context, root string, date time.Time) (_ *data.Dims, err error) {
	local, err := os.MkdirTemp("", "circles-snapshots-")
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(local)) }()
	objectOf := func(path string) string {
		rel, err := filepath.Rel(local, path)
		if err != nil || strings.HasPrefix(rel, "..") {
			return path
		}
		return joinPath(root, filepath.ToSlash(rel))
	}
	err = withFileSystem(ctx, root, func(fsys filesystem.Interface) error {
		t := objectTree{ctx, fsys}
		c, err := data.ReadInputContract(t, root)
		if err != nil {
			return err
		}
		var copies []string
		if ok, err := t.exists(t.Join(root, data.ContractFile)); err != nil {
			return err
		} else if ok {
			copies = append(copies, data.ContractFile)
		}
		snaps, err := data.Snapshots(t, root, c, date)
		if err != nil {
			return err
		}
		for _, s := range snaps {
			dir := filepath.Join(local, relative(root, s.Dir))
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, data.SuccessMarker), nil, 0o600); err != nil {
				return err
			}
			for _, f := range s.Files {
				copies = append(copies, relative(root, f))
			}
		}
		for _, rel := range copies {
			if err := t.copyTo(t.Join(root, rel), filepath.Join(local, rel)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	d, err := data.LoadDims(ctx, local, date)
	if err != nil {
		return nil, renamed(err, objectOf)
	}
	for i := range d.Stats {
		for j, f := range d.Stats[i].Files {
			d.Stats[i].Files[j] = objectOf(f)
		}
	}
	for i := range d.Rejects {
		d.Rejects[i].File = objectOf(d.Rejects[i].File)
	}
	return d, nil
}

// renamed is err with the file its data.FileError names rewritten by name.
func renamed(err error, name func(string) string) error {
	if fe, ok := errors.AsType[*data.FileError](err); ok {
		fe.File = name(fe.File)
	}
	return err
}
