package pipeline

import (
	"fmt"
	"strings"
	"time"
)

// Publishing on an object store (gs://, s3://). An object store has no
// directories to rename and no symbolic links, and a reader may list a
// prefix while objects are still arriving in it. A run is therefore
// published in three steps, each a whole-object write:
//
//  1. every data file under the attempt's own prefix,
//     ROOT/date=D/run=R/attempt=A/, which no reader looks at by itself;
//  2. the manifest last, in that prefix, with every file's size and
//     SHA-256;
//  3. the run's pointer object, ROOT/date=D/run=R/PUBLISHED.json
//     ([ObjectPointer]), naming the attempt and the manifest's SHA-256.
//
// A run is published exactly when its pointer exists; a reader reads the
// pointer, then the manifest it names, then the files the manifest lists,
// and checks each checksum. An attempt killed before step 3 leaves objects
// under its own prefix that nothing points to: invisible, and removed by
// the bucket's lifecycle rule (docs/scale-out.md), never by a run. A new
// attempt of the same run gets a new prefix, so it never overwrites an
// object a reader may be reading. ROOT/latest.json, the newest whole run,
// is the same kind of pointer; no driver that publishes to an object store
// publishes a whole run yet, so none writes it (see Stamp.Covers).

// PointerName is the pointer object of a published run on an object store.
const PointerName = "PUBLISHED.json"

// PointerVersion is the version of the pointer object's format.
const PointerVersion = 1

// Pointer is the content of a run's pointer object.
type Pointer struct {
	Version        int    `json:"pointer_version"`
	RunID          string `json:"run_id"`
	Date           string `json:"date"`
	Attempt        string `json:"attempt"`         // the prefix under the run holding its files
	Manifest       string `json:"manifest"`        // the manifest's path relative to the run
	ManifestSHA256 string `json:"manifest_sha256"` // hex
}

// objectSchemes are the object stores a URL may name: Google Cloud
// Storage, S3, and Beam's in-memory file system, which tests use.
var objectSchemes = []string{"gs", "s3", "memfs"}

// IsURL reports whether path is written as a URL (scheme://…) rather than
// a local path.
func IsURL(path string) bool {
	scheme, _, ok := strings.Cut(path, "://")
	return ok && scheme != "" && !strings.ContainsAny(scheme, `/\`)
}

// ValidObjectRoot checks an output root on an object store before anything
// is written under it: a known scheme, a bucket, and a key prefix of plain
// segments (no empty, "." or ".." segment, no control characters), so
// that every object a run writes lies under the root.
func ValidObjectRoot(root string) error {
	scheme, rest, _ := strings.Cut(root, "://")
	known := false
	for _, s := range objectSchemes {
		known = known || scheme == s
	}
	if !known {
		return fmt.Errorf("%s: unknown object store %q; want one of %s", root, scheme, strings.Join(objectSchemes, ", "))
	}
	rest = strings.TrimSuffix(rest, "/")
	if rest == "" {
		return fmt.Errorf("%s: no bucket", root)
	}
	for seg := range strings.SplitSeq(rest, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%s: empty, \".\" or \"..\" segment in the path", root)
		}
		for _, r := range seg {
			if r < 0x20 || r == 0x7f || r == '\\' || r == '*' || r == '?' || r == '[' {
				return fmt.Errorf("%s: character %q not allowed in an object-store path", root, r)
			}
		}
	}
	return nil
}

// ObjectRun is where a run of date with the given ID lives under an object
// store root: the prefix its attempts and its pointer go under.
func ObjectRun(root string, date time.Time, runID string) string {
	return strings.TrimSuffix(root, "/") + "/date=" + date.Format("2006-01-02") + "/run=" + runID
}

// NewAttempt names a new attempt of a run: its start time and a random
// suffix, so that two attempts never share a prefix.
func NewAttempt(started time.Time, random uint32) string {
	return fmt.Sprintf("attempt=%s-%08x", started.UTC().Format("20060102T150405.000000000Z"), random)
}
