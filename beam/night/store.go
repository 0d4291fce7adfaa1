package night

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"

	"circles/data"
	"circles/pipeline"
)

// Where the Beam driver's files go: a local (or mounted) directory, or an
// object-store prefix through Beam's file system registry, which the
// binary fills with gs:// and s3:// and tests with memfs://. Workers write
// their shards there themselves, so on a cluster the output must be a
// place every worker and the driver reach: an object store, or a shared
// mount.

// joinPath is name under dir, for either kind of dir.
func joinPath(dir, name string) string {
	if pipeline.IsURL(dir) {
		return strings.TrimSuffix(dir, "/") + "/" + name
	}
	return filepath.Join(dir, name)
}

// putFile writes the file name under dir whole, through write, and returns
// its entry: rows, bytes and the SHA-256 of exactly what was written. A
// local file is created (never overwritten) and fsynced; an object is
// committed when its writer closes. On error a local file is removed; an
// object store may keep a partial object, which lies under an attempt's
// prefix that no pointer names.
func putFile(ctx context.Context, dir, name string, rows int64, write func(io.Writer) error) (pipeline.FileEntry, error) {
	h := sha256.New()
	var n countWriter
	tee := func(w io.Writer) error { return write(io.MultiWriter(w, h, &n)) }
	path := joinPath(dir, name)
	var err error
	if pipeline.IsURL(dir) {
		err = putObject(ctx, path, tee)
	} else {
		err = data.CreateSynced(path, tee)
	}
	if err != nil {
		return pipeline.FileEntry{}, err
	}
	return pipeline.FileEntry{Name: name, Rows: rows, Bytes: int64(n), SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// putObject writes one object through a buffer and commits it by closing.
func putObject(ctx context.Context, path string, write func(io.Writer) error) error {
	return withFileSystem(ctx, path, func(fs filesystem.Interface) error {
		w, err := fs.OpenWrite(ctx, path)
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		bw := bufio.NewWriterSize(w, 1<<20)
		err = write(bw)
		if err == nil {
			err = bw.Flush()
		}
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	})
}

// readFile reads a whole file written by putFile: a local file or an
// object.
func readFile(ctx context.Context, path string) ([]byte, error) {
	if pipeline.IsURL(path) {
		return readObject(ctx, path)
	}
	return os.ReadFile(path)
}

// readObject reads a whole object.
func readObject(ctx context.Context, path string) (b []byte, err error) {
	err = withFileSystem(ctx, path, func(fs filesystem.Interface) error {
		b, err = readFrom(ctx, fs, path)
		return err
	})
	return b, err
}

// readFrom reads the whole object path of fs.
func readFrom(ctx context.Context, fs filesystem.Interface, path string) ([]byte, error) {
	r, err := fs.OpenRead(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	b, err := io.ReadAll(r)
	if err = errors.Join(err, r.Close()); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// objectExists reports whether the object path exists (objectTree.exists).
func objectExists(ctx context.Context, path string) (found bool, err error) {
	err = withFileSystem(ctx, path, func(fs filesystem.Interface) error {
		found, err = objectTree{ctx, fs}.exists(path)
		return err
	})
	return found, err
}

// withFileSystem opens Beam's file system for path's scheme, calls use
// with it and closes it, joining the close's error to use's.
func withFileSystem(ctx context.Context, path string, use func(filesystem.Interface) error) (err error) {
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, fs.Close()) }()
	return use(fs)
}

// countWriter counts the bytes written through it.
type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

// ReadObjectRun reads a run published on an object store under root: its
// pointer, then the manifest the pointer names, checked against the
// pointer's checksum. It returns the manifest and the attempt's prefix the
// manifest's files lie under; a run without a pointer is not published,
// whatever objects its attempts left.
func ReadObjectRun(ctx context.Context, runPrefix string) (Manifest, string, error) {
	var m Manifest
	b, err := readObject(ctx, runPrefix+"/"+pipeline.PointerName)
	if err != nil {
		return m, "", fmt.Errorf("run %s is not published: %w", runPrefix, err)
	}
	var p pipeline.Pointer
	if err := json.Unmarshal(b, &p); err != nil {
		return m, "", fmt.Errorf("pointer of %s: %w", runPrefix, err)
	}
	if p.Version != pipeline.PointerVersion || !strings.HasPrefix(p.Attempt, "attempt=") || strings.ContainsAny(p.Attempt, "/\\") || p.Manifest != p.Attempt+"/"+pipeline.ManifestName {
		return m, "", fmt.Errorf("pointer of %s: version %d, attempt %q, manifest %q: not a pointer this build reads", runPrefix, p.Version, p.Attempt, p.Manifest)
	}
	mb, err := readObject(ctx, runPrefix+"/"+p.Manifest)
	if err != nil {
		return m, "", err
	}
	if sum := sha256.Sum256(mb); hex.EncodeToString(sum[:]) != p.ManifestSHA256 {
		return m, "", fmt.Errorf("manifest of %s does not match its pointer's checksum", runPrefix)
	}
	if err := json.NewDecoder(bytes.NewReader(mb)).Decode(&m); err != nil {
		return m, "", fmt.Errorf("manifest of %s: %w", runPrefix, err)
	}
	return m, runPrefix + "/" + p.Attempt, nil
}
