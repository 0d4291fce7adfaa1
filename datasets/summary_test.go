package datasets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadSummaryNamesTheFileAndField(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if s, err := ReadSummary(dir); s != nil || err != nil {
		t.Fatalf("a tree without %s: %v, %v; want nil, nil (it is optional)", SummaryFile, s, err)
	}
	for field, body := range map[string]string{
		"date":        `{"date": "2011/12/31", "window_days": 1, "days": 90, "tasks": ["friends"]}`,
		"window_days": `{"date": "2011-12-31", "days": 90, "tasks": ["friends"]}`,
		"days":        `{"date": "2011-12-31", "window_days": 100, "days": 90, "tasks": ["friends"]}`,
		"tasks":       `{"date": "2011-12-31", "window_days": 1, "days": 90, "tasks": ["movies"]}`,
	} {
		path := filepath.Join(dir, SummaryFile)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadSummary(dir)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "field "+field) {
			t.Errorf("%s: err = %v, want one naming %s and field %s", body, err, path, field)
		}
	}
}
