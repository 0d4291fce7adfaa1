package data

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
)

// ContractFile is the optional file at an input root in which the tree
// says what it holds. Its name starts with _, like every file of a writer's
// own.
const ContractFile = "_CONTRACT.json"

// AllTables lists every input table: the snapshots, then the event tables.
var AllTables = append(slices.Clone(SnapshotTables), TableTransactions, TableInteractions)

// InputContract is what an input tree declares of itself. The zero value,
// used when the tree has no ContractFile, declares nothing: every table is
// expected, and a missing one is not ready.
type InputContract struct {
	// AbsentTables names the tables the source does not have at all (a
	// dataset without money has no transactions). A run reads each as
	// empty, needs no partition of it, and records it in the manifest.
	// Every table but users may be absent.
	AbsentTables []string `json:"absent_tables"`
}

// Absent reports whether the contract declares table absent.
func (c InputContract) Absent(table string) bool { return slices.Contains(c.AbsentTables, table) }

// ReadInputContract reads root's ContractFile; a tree without one declares
// nothing. An unreadable or invalid file is bad input naming the file and
// the field; so is a table declared absent whose directory exists, since
// the two facts contradict each other.
func ReadInputContract(tree Tree, root string) (InputContract, error) {
	path := tree.Join(root, ContractFile)
	var c InputContract
	b, err := tree.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, &FileError{File: path, Err: err}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, &FileError{File: path, Err: fmt.Errorf("%v; want {\"absent_tables\": [\"transactions\", ...]} (docs/contract.md)", err)}
	}
	for _, t := range c.AbsentTables {
		switch {
		case t == TableUsers:
			return c, &FileError{File: path, Err: errors.New("absent_tables: users cannot be absent, every run needs them")}
		case !slices.Contains(AllTables, t):
			return c, &FileError{File: path, Err: fmt.Errorf("absent_tables: unknown table %q; want one of %v", t, AllTables)}
		}
		// Anything at the table's path, even a file, contradicts it.
		dir := tree.Join(root, t)
		if _, err := tree.ReadDir(dir, "table"); !errors.Is(err, ErrNoPartition) {
			return c, &FileError{File: path, Err: fmt.Errorf("absent_tables: declares %s absent, but %s exists", t, dir)}
		}
	}
	return c, nil
}
