// Package outputtest checks published runs against the output contract,
// for tests: the manifest against its JSON Schema, as a consumer in any
// language would validate it.
package outputtest

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"circles/output"
	"circles/pipeline"
)

// CheckManifest fails t unless the manifest.json of the run in dir
// conforms to output.ManifestSchema.
func CheckManifest(t testing.TB, dir string) {
	t.Helper()
	schema, err := jsonschema.UnmarshalJSON(bytes.NewReader(output.ManifestSchema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("manifest.schema.json", schema); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("manifest.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, pipeline.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(f)
	if err := errors.Join(err, f.Close()); err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(doc); err != nil {
		t.Errorf("%s does not conform to output.ManifestSchema: %v", filepath.Join(dir, pipeline.ManifestName), err)
	}
}
