package jobs

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"circles/data"
	"circles/data/datatest"
	"circles/datasets"
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
	cfg := RunConfig{Input: in, Output: filepath.Join(root, "out"), Date: "2026-11-20", RunID: "a", Params: testParams()}
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

// TestFriendsOnlyTuningSkipsTheInterestGrid: on a dataset whose only task
// is friends, the interest-model grid cannot change any evaluated score,
// so tuning skips it and says so rather than "choosing" one of 24 equal
// settings.
func TestFriendsOnlyTuningSkipsTheInterestGrid(t *testing.T) {
	root := t.TempDir()
	w := datatest.New(runDate, 1)
	for u := int64(1); u <= 60; u++ {
		w.User(u, "hangzhou")
	}
	for u := int64(1); u <= 60; u++ {
		for v := u + 1; v <= 60; v++ {
			if u%3 == v%3 && (u+v)%4 != 0 {
				w.Friend(u, v)
			}
		}
	}
	in := filepath.Join(root, "in")
	w.Write(t, in)
	rep, err := Eval(t.Context(), EvalConfig{Dataset: in, Work: filepath.Join(root, "work"), Tune: true, Seed: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 1 || rep.Results[0].Task != datasets.TaskFriends {
		t.Fatalf("results %v, want friends only", rep.Results)
	}
	for _, tr := range rep.Tuning {
		if strings.HasPrefix(tr.Setting, "als ") {
			t.Errorf("an interest-model setting was tried: %s", tr.Setting)
		}
	}
	if !slices.ContainsFunc(rep.TuningNotes, func(n string) bool { return strings.Contains(n, "interest-model grid was skipped") }) {
		t.Errorf("tuning notes %v do not say the interest grid was skipped", rep.TuningNotes)
	}
}
