package output_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path"
	"reflect"
	"strings"
	"testing"

	"github.com/invopop/jsonschema"

	"circles/output"
)

var update = flag.Bool("update", false, "rewrite manifest.schema.json from the Manifest type")

// TestManifestSchemaIsCurrent regenerates the manifest's JSON Schema from
// the Go type and its doc comments and checks that the checked-in file,
// which output.ManifestSchema embeds, is the same.
func TestManifestSchemaIsCurrent(t *testing.T) {
	t.Chdir("..") // the comments are read from the module's source, named by import path
	r := &jsonschema.Reflector{
		ExpandedStruct: true,
		// Types of different packages share names (features.Params and
		// output.Params): name each definition by package and type.
		Namer: func(t reflect.Type) string {
			if t.PkgPath() == "" || t.Name() == "" {
				return "" // unnamed: the default
			}
			pkg := path.Base(t.PkgPath())
			return strings.ToUpper(pkg[:1]) + pkg[1:] + t.Name()
		},
	}
	if err := r.AddGoComments("circles", "./"); err != nil {
		t.Fatal(err)
	}
	s := r.Reflect(&output.Manifest{})
	s.ID = "https://circles.invalid/schemas/manifest.schema.json"
	s.Title = "circles run manifest"
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	if *update {
		if err := os.WriteFile("output/manifest.schema.json", b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(b, output.ManifestSchema) {
		t.Error("manifest.schema.json is not what the Manifest type generates; run go test ./output -run TestManifestSchemaIsCurrent -update")
	}
}
