package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportDirection enforces the layering in docs/architecture.md: each
// package may import only the module packages and third-party modules
// listed for it. Test files are not checked.
func TestImportDirection(t *testing.T) {
	allowed := map[string]struct{ module, thirdParty []string }{
		"circles/data":              {nil, []string{"github.com/parquet-go/parquet-go", "github.com/apache/arrow-go", "github.com/klauspost/compress", "github.com/pierrec/lz4/v4"}},
		"circles/data/datatest":     {[]string{"circles/data"}, nil},
		"circles/datasets":          {[]string{"circles/data"}, nil},
		"circles/quality":           {[]string{"circles/pipeline"}, nil},
		"circles/features":          {[]string{"circles/data"}, nil},
		"circles/models":            {[]string{"circles/data", "circles/features", "circles/models/f32", "circles/pipeline"}, []string{"gonum.org/v1/gonum"}},
		"circles/models/f32":        {nil, []string{"golang.org/x/sys/cpu"}},
		"circles/pipeline":          {nil, []string{"golang.org/x/sync/errgroup", "golang.org/x/sys/unix"}},
		"circles/synth":             {[]string{"circles/data", "circles/pipeline"}, nil},
		"circles/report":            {[]string{"circles/output"}, nil},
		"circles/output/outputtest": {[]string{"circles/output", "circles/pipeline"}, []string{"github.com/santhosh-tekuri/jsonschema"}},
		"circles/output":            {[]string{"circles/data", "circles/features", "circles/models", "circles/pipeline"}, nil},
		// jobs is the nightly family (run, rerun, backfill, schedule) and must
		// not import eval: offline evaluation builds on the jobs, never the
		// other way round.
		"circles/jobs":        {[]string{"circles/data", "circles/datasets", "circles/features", "circles/models", "circles/output", "circles/pipeline", "circles/report", "circles/synth"}, []string{"github.com/robfig/cron/v3", "github.com/prometheus/client_golang", "github.com/prometheus/common"}},
		"circles/eval":        {[]string{"circles/data", "circles/datasets", "circles/features", "circles/jobs", "circles/models", "circles/output", "circles/quality", "circles/synth"}, []string{"gonum.org/v1/gonum"}},
		"circles/cmd/circles": {[]string{"circles/data", "circles/datasets", "circles/eval", "circles/jobs", "circles/output", "circles/pipeline", "circles/synth"}, []string{"golang.org/x/term"}},
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "circles/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, imports := fields[0], fields[1:]
		rule, ok := allowed[pkg]
		if !ok {
			t.Errorf("package %s has no place in the layering; add it to docs/architecture.md and this test", pkg)
			continue
		}
		for _, imp := range imports {
			if !strings.Contains(strings.Split(imp, "/")[0], ".") && !strings.HasPrefix(imp, "circles") {
				continue // standard library
			}
			list := rule.thirdParty
			if strings.HasPrefix(imp, "circles") {
				list = rule.module
			}
			if !hasPrefixIn(imp, list) {
				t.Errorf("%s imports %s, which the layering forbids", pkg, imp)
			}
		}
	}
}

func hasPrefixIn(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if s == p || strings.HasPrefix(s, p+"/") {
			return true
		}
	}
	return false
}
