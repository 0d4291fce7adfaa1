package jobs

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"circles/data"
	"circles/output/outputtest"
)

// TestAbsentTablesReadAsEmpty: a tree that declares the tables it does not
// have in _CONTRACT.json runs, reads them as empty and says so in the
// manifest; without the declaration the same tree is not ready; a
// declaration that contradicts the tree is bad input naming the file.
func TestAbsentTablesReadAsEmpty(t *testing.T) {
	root := t.TempDir()
	in := filepath.Join(root, "in")
	handWorld().Write(t, in)
	absent := []string{data.TableTransactions, data.TableMerchants}
	for _, table := range absent {
		if err := os.RemoveAll(filepath.Join(in, table)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := RunConfig{Input: in, Output: filepath.Join(root, "out"), Date: runDate, RunID: "a", Params: testParams()}
	if _, err := Run(t.Context(), cfg, slog.New(slog.DiscardHandler), nil); !errors.Is(err, data.ErrNoPartition) {
		t.Fatalf("without a contract: %v, want not ready (a missing table may be late)", err)
	}
	contract := filepath.Join(in, data.ContractFile)
	if err := os.WriteFile(contract, []byte(`{"absent_tables": ["transactions", "merchants"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := inputsReady(cfg); err != nil {
		t.Errorf("inputsReady with the tables declared absent: %v", err)
	}
	res, err := Run(t.Context(), cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	outputtest.CheckManifest(t, res.Dir)
	for _, s := range res.Manifest.Inputs {
		want := strings.Contains(strings.Join(absent, " "), s.Table)
		if s.Absent != want || (want && s.Read != 0) {
			t.Errorf("%s: absent %v with %d rows read, want absent %v", s.Table, s.Absent, s.Read, want)
		}
	}
	if res.Manifest.Suggestions.UsersWithFriends == 0 {
		t.Errorf("no friend suggestions from a tree without money")
	}
	for _, bad := range []string{`{"absent_tables": ["users"]}`, `{"absent_tables": ["payments"]}`, `{"absent_tables": ["groups"]}`, `{"absent": []}`, `{`} {
		if err := os.WriteFile(contract, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg.RunID = "b"
		_, err := Run(t.Context(), cfg, slog.New(slog.DiscardHandler), nil)
		var fe *data.FileError
		if !errors.As(err, &fe) || fe.File != contract || !errors.Is(err, data.ErrBadInput) {
			t.Errorf("contract %s: %v, want bad input naming %s", bad, err, contract)
		}
	}
}
