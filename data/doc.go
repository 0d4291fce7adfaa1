// Package data owns the on-disk contract (docs/contract.md): the input
// layout and what an input tree may declare of itself, the row types of
// every input and output table, column-wise Parquet scans that validate
// and quarantine rows with a reason, the checks that refuse corrupt files
// before the decoder allocates, interning of external IDs to dense
// indices, and the Parquet and Arrow writers of the outputs.
//
// It imports only the standard library, parquet-go and Arrow, and never
// logs: loaders return counts and rejects, and the job logs them.
package data
