package output

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"circles/data"
)

// A settings file is what circles tune chose on the production inputs:
// the settings a nightly run loads (circles run -settings, the
// scheduler's settings field), the validation that chose them, and a
// digest over the whole file, so that a run never uses settings that were
// edited or cut short since tuning wrote them.

// SettingsKind and SettingsVersion identify a settings file.
const (
	SettingsKind    = "circles.settings"
	SettingsVersion = 1
)

// Settings is a tuned settings file.
type Settings struct {
	Kind    string `json:"kind"`
	Version int    `json:"settings_version"`
	// CreatedAt is when tuning finished (UTC); CodeVersion the build that
	// tuned.
	CreatedAt   time.Time `json:"created_at"`
	CodeVersion string    `json:"code_version"`
	// Date is the run date of the inputs tuned on; the last HoldoutDays
	// days up to it were the validation, everything before them training.
	Date        string `json:"date"`
	HoldoutDays int    `json:"holdout_days"`
	// InputDigest fingerprints the input files read (as a manifest's).
	InputDigest string `json:"input_digest"`
	// Params are the settings; ParamsDigest is Params.Digest(), the
	// config digest of every run that loads them.
	Params       Params `json:"params"`
	ParamsDigest string `json:"params_digest"`
	// Validation compares, per task, the tuned settings with the base
	// settings tuning started from, on the held-out days.
	Validation []TaskValidation `json:"validation"`
	// Notes say which steps tuning skipped or cut short.
	Notes []string `json:"notes,omitempty"`
	// Digest is the hex SHA-256 of the file's JSON with this field empty.
	Digest string `json:"digest"`
}

// TaskValidation is one task's validation of the tuned settings against
// the base settings. Concentration is guarded: Accepted is false when the
// tuned settings would win by suggesting a few popular users or groups to
// many (lower coverage, or a larger share of suggestions going to the top
// 1% of candidates), and then the task keeps the base settings.
type TaskValidation struct {
	Task   string  `json:"task"`
	Metric string  `json:"metric"`
	Users  int     `json:"users"`
	Tuned  float64 `json:"tuned"`
	Base   float64 `json:"base"`
	// CoverageTuned and CoverageBase are the shares of the catalogue in
	// anyone's top 20; Top1Tuned and Top1Base the shares of all
	// suggestions that go to the 1% most suggested candidates.
	CoverageTuned float64 `json:"coverage_tuned"`
	CoverageBase  float64 `json:"coverage_base"`
	Top1Tuned     float64 `json:"top1_share_tuned"`
	Top1Base      float64 `json:"top1_share_base"`
	Accepted      bool    `json:"accepted"`
	Reason        string  `json:"reason"`
}

// SettingsRef is how a manifest names the settings file a run loaded.
type SettingsRef struct {
	File      string    `json:"file"` // base name
	Digest    string    `json:"digest"`
	CreatedAt time.Time `json:"created_at"`
}

// digest is the hex SHA-256 of s's JSON with Digest empty.
func (s Settings) digest() string {
	s.Digest = ""
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("settings are not JSON-encodable: %v", err)) // a programmer error
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// WriteSettings stamps s (kind, version, params digest, digest) and
// replaces the file at path with it whole: a reader sees the old file or
// the new one, never part of one.
func WriteSettings(path string, s *Settings) error {
	if err := s.Params.Validate(); err != nil {
		return fmt.Errorf("settings %s: %w", path, err)
	}
	s.Kind, s.Version, s.ParamsDigest = SettingsKind, SettingsVersion, s.Params.Digest()
	s.Digest = s.digest()
	return data.ReplaceSynced(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	})
}

// ReadSettings reads and checks a settings file: its kind and version, its
// digest, its params' digest and their ranges. A file that fails a check
// is bad input naming it; a missing file wraps fs.ErrNotExist.
func ReadSettings(path string) (*Settings, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("settings %s: %w", path, err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("settings %s: %s (%w)", path, fmt.Sprintf(format, args...), data.ErrBadInput)
	}
	var s Settings
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, bad("%v", err)
	}
	switch {
	case s.Kind != SettingsKind:
		return nil, bad("kind %q, want %q", s.Kind, SettingsKind)
	case s.Version != SettingsVersion:
		return nil, bad("settings_version %d, want %d", s.Version, SettingsVersion)
	case s.Digest != s.digest():
		return nil, bad("digest %q does not match the file's content: it was changed after tuning wrote it", s.Digest)
	case s.ParamsDigest != s.Params.Digest():
		return nil, bad("params_digest %q does not match its params", s.ParamsDigest)
	}
	if err := s.Params.Validate(); err != nil {
		return nil, bad("%v", err)
	}
	return &s, nil
}

// CheckSettingsPath checks a settings file path before anything is
// written there: a file name in an existing directory, not a directory or
// anything but a regular file.
func CheckSettingsPath(path string) error {
	name := filepath.Base(path)
	if path == "" || name == "." || name == ".." || name == string(filepath.Separator) {
		return fmt.Errorf("%q: want a file path, like /etc/circles/settings.json", path)
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
		return fmt.Errorf("%q: its directory does not exist", path)
	}
	if st, err := os.Lstat(path); err == nil && !st.Mode().IsRegular() {
		return fmt.Errorf("%q: exists and is not a regular file", path)
	}
	return nil
}

// Ref is how a manifest names s, read from path.
func (s *Settings) Ref(path string) *SettingsRef {
	return &SettingsRef{File: filepath.Base(path), Digest: s.Digest, CreatedAt: s.CreatedAt}
}
