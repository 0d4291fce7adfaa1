package pipeline

import (
	"strings"
	"testing"
	"time"
)

func TestValidObjectRoot(t *testing.T) {
	for root, ok := range map[string]bool{
		"gs://bucket":               true,
		"s3://bucket/circles/":      true,
		"memfs://b/out/nightly":     true,
		"gs://":                     false,
		"gs:///x":                   false,
		"s3://bucket//x":            false,
		"s3://bucket/./x":           false,
		"s3://bucket/x/..":          false,
		"gs://bucket/x*":            false,
		"gs://bucket/a\nb":          false,
		"hdfs://namenode/x":         false,
		"file:///tmp/x":             false,
		"gs://bucket/dt=2026-12-01": true,
	} {
		if err := ValidObjectRoot(root); (err == nil) != ok {
			t.Errorf("ValidObjectRoot(%q) = %v, want ok %v", root, err, ok)
		}
	}
}

// FuzzValidObjectRoot checks that an accepted root keeps every run under
// it: a run's prefix starts with the root and has no "." or ".." segment
// a store or a reader could resolve upwards.
func FuzzValidObjectRoot(f *testing.F) {
	for _, s := range []string{"gs://b", "s3://b/x/", "memfs://b/../x", "gs://b//x", "s3://"} {
		f.Add(s)
	}
	date := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, root string) {
		if ValidObjectRoot(root) != nil {
			return
		}
		run := ObjectRun(root, date, "nightly")
		if !strings.HasPrefix(run, strings.TrimSuffix(root, "/")+"/") {
			t.Fatalf("run %s is not under root %s", run, root)
		}
		_, rest, _ := strings.Cut(run, "://")
		for seg := range strings.SplitSeq(rest, "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("run %s of root %q has segment %q", run, root, seg)
			}
		}
	})
}
