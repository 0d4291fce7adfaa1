package output_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"circles/data"
	"circles/output"
)

func TestSettingsRoundTripAndTampering(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "settings.json")
	s := &output.Settings{CreatedAt: time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC), Date: "2026-11-28", HoldoutDays: 7, Params: output.DefaultParams()}
	s.Params.Friends.GraphWeight = 4.5
	if err := output.WriteSettings(path, s); err != nil {
		t.Fatal(err)
	}
	got, err := output.ReadSettings(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Params.Digest() != s.Params.Digest() || got.Digest != s.Digest || got.ParamsDigest != s.Params.Digest() {
		t.Errorf("read back %+v, wrote %+v", got, s)
	}
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, from, to string }{
		{"an edited setting", `"graph_weight": 4.5`, `"graph_weight": 9`},
		{"an edited field of the validation", `"holdout_days": 7`, `"holdout_days": 6`},
		{"another kind", `"kind": "circles.settings"`, `"kind": "circles.config"`},
		{"a newer version", `"settings_version": 1`, `"settings_version": 2`},
		{"an unknown field", `"holdout_days": 7`, `"holdout_days": 7, "extra": 1`},
		{"a cut-short file", `"digest"`, ``},
	} {
		b := strings.Replace(string(orig), c.from, c.to, 1)
		if c.to == "" {
			b = string(orig)[:strings.LastIndex(string(orig), c.from)]
		}
		if b == string(orig) {
			t.Fatalf("%s: the file has no %q", c.name, c.from)
		}
		p := filepath.Join(dir, "bad.json")
		if err := os.WriteFile(p, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := output.ReadSettings(p); !errors.Is(err, data.ErrBadInput) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: err = %v, want bad input naming the file", c.name, err)
		}
	}
	if _, err := output.ReadSettings(filepath.Join(dir, "none.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: err = %v, want fs.ErrNotExist", err)
	}
	s.Params.Friends.MaxPerUser = 0
	if err := output.WriteSettings(filepath.Join(dir, "invalid.json"), s); err == nil {
		t.Error("settings out of range were written")
	}
}

func TestCheckSettingsPath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "elsewhere"), filepath.Join(dir, "link.json")); err != nil {
		t.Fatal(err)
	}
	for path, ok := range map[string]bool{
		filepath.Join(dir, "settings.json"):     true,
		filepath.Join(dir, "sub"):               false, // a directory
		filepath.Join(dir, "link.json"):         false, // not a regular file
		filepath.Join(dir, "missing", "s.json"): false,
		"":                                      false,
		filepath.Join(dir, ".."):                false,
		filepath.Join(dir, "sub") + string(os.PathSeparator): false,
	} {
		if err := output.CheckSettingsPath(path); (err == nil) != ok {
			t.Errorf("CheckSettingsPath(%q) = %v, want ok %v", path, err, ok)
		}
	}
}
