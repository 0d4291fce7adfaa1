package output

import _ "embed"

// ManifestSchema is the JSON Schema (draft 2020-12) of manifest.json,
// generated from [Manifest] and its doc comments (see schema_test.go,
// which fails when the two drift apart and rewrites it with -update).
//
//go:embed manifest.schema.json
var ManifestSchema []byte
