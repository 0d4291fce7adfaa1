// Package output is the contract of a published run, for the feed-ranking
// service and any other reader: the file names of a run directory, the
// manifest and the settings it records, and the reference wording of the
// reasons a suggestion carries. The rows in those files, and the reason
// codes, are data's types (data/rows.go); docs/contract.md describes
// both. A consumer imports output and data, never jobs.
package output

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"circles/data"
	"circles/features"
	"circles/pipeline"
)

// Output file names of a published run.
const (
	FileInterests  = "user_interests.parquet"
	FileGroups     = "group_suggestions.parquet"
	FileActivities = "activity_suggestions.parquet"
	FileFriends    = "friend_suggestions.parquet"
	FileRejects    = "rejects.parquet"
	// FileItemFactors holds the interest model's item vectors, so that a
	// later run can rank, or re-solve some users, in the same latent space.
	FileItemFactors = "item_factors.parquet"

	// The feed export: the same suggestions as Arrow IPC files.
	FileGroupsArrow     = "group_suggestions.arrow"
	FileActivitiesArrow = "activity_suggestions.arrow"
	FileFriendsArrow    = "friend_suggestions.arrow"

	// FileReport is the run's page for people: one self-contained HTML
	// file. It records times, so unlike the data files it differs between
	// two runs of the same inputs.
	FileReport = "report.html"
)

// ManifestVersion is the version of the manifest and output layout.
// Version 2 renamed two columns of rejects.parquet (source_table,
// column_name) and added started_at and input_digest.
const ManifestVersion = 2

// Manifest describes one published run. It is written last; a run
// directory without it is incomplete and must be ignored. Its JSON Schema
// is [ManifestSchema].
type Manifest struct {
	// Version is ManifestVersion when the run was published.
	Version int `json:"manifest_version"`
	// RunID names the run directory, run=<run_id>.
	RunID string `json:"run_id"`
	// Stamp holds the run's date and when it was published: runs are
	// ordered by them (latest, retention, listings), never by run ID.
	pipeline.Stamp
	// StartedAt is when the run started (UTC); published_at is when it
	// finished.
	StartedAt time.Time `json:"started_at"`
	// CodeVersion names the build: module version and VCS revision.
	CodeVersion string `json:"code_version"`
	// ConfigDigest is the hex SHA-256 of config's canonical JSON.
	ConfigDigest string `json:"config_digest"`
	// InputDigest fingerprints the input files the run read (paths, sizes,
	// modification times). A run of the same date with the same input,
	// config and code digests is the same run (see docs/contract.md).
	InputDigest string `json:"input_digest"`
	// Config holds every setting that shapes the outputs.
	Config Params `json:"config"`
	// Settings names the tuned settings file Config came from, if any.
	Settings *SettingsRef `json:"settings,omitempty"`
	// Inputs counts, per input table, the files and rows read, used and
	// quarantined.
	Inputs []data.TableStats `json:"inputs"`
	// Features counts what the features stage built and excluded.
	Features features.Summary `json:"features"`
	// Model summarises the interest model.
	Model ModelMetrics `json:"model"`
	// Relations summarises the relation-type model of friend suggestions.
	Relations RelationMetrics `json:"relations"`
	// Suggestions says how many users got suggestions, and how many each.
	Suggestions SuggestionStats `json:"suggestions"`
	// Outputs lists every file of the run with its rows, bytes and SHA-256.
	Outputs []pipeline.FileEntry `json:"outputs"`
	// Report names the run's HTML page in the run directory (FileReport).
	Report string `json:"report"`
	// Base, Stages and UsersRecomputed describe a run built on another
	// published run: the stages recomputed (all when empty) and the number
	// of users a subset run recomputed (0: every user).
	Base            string   `json:"base,omitempty"`
	Stages          []string `json:"stages,omitempty"`
	UsersRecomputed int      `json:"users_recomputed,omitempty"`
	// Timings holds the seconds of each stage, publish included up to the
	// manifest itself. Pointing latest comes after the commit point, so
	// its time is in the log and the metrics only.
	Timings []pipeline.StageTiming `json:"timings"`
}

// DataFiles lists the outputs but the report: the files that two runs of
// the same inputs, settings and code write byte for byte alike.
func (m Manifest) DataFiles() []pipeline.FileEntry {
	var out []pipeline.FileEntry
	for _, o := range m.Outputs {
		if o.Name != FileReport {
			out = append(out, o)
		}
	}
	return out
}

// ModelMetrics summarises the interest model.
type ModelMetrics struct {
	Users        int       `json:"users"`
	Items        int       `json:"items"`
	Observations int       `json:"observations"`
	Factors      int       `json:"factors"`
	Loss         []float64 `json:"loss_per_iteration"`
	// ColdUsers counts the users given the cold-start prior.
	ColdUsers int `json:"cold_start_users"`
}

// RelationMetrics summarises the relation-type model: the labelled
// friendships it learned from, per type, and its accuracy on them; or,
// when Trained is false, why friend suggestions carry no type.
type RelationMetrics struct {
	Trained       bool           `json:"trained"`
	Labels        int            `json:"labelled_friendships"`
	Examples      map[string]int `json:"examples_per_type,omitempty"`
	TrainAccuracy float64        `json:"train_accuracy,omitempty"`
	Note          string         `json:"note,omitempty"`
}

// SuggestionStats counts what a run suggested.
type SuggestionStats struct {
	EligibleUsers     int     `json:"eligible_users"`
	UsersWithGroups   int     `json:"users_with_group_suggestions"`
	UsersWithActivity int     `json:"users_with_activity_suggestions"`
	UsersWithFriends  int     `json:"users_with_friend_suggestions"`
	GroupsPerUser     float64 `json:"group_suggestions_per_eligible_user"`
	ActivitiesPerUser float64 `json:"activity_suggestions_per_eligible_user"`
	FriendsPerUser    float64 `json:"friend_suggestions_per_eligible_user"`
}

// ReadManifest reads the manifest of the published run in dir.
func ReadManifest(dir string) (Manifest, error) {
	path := filepath.Join(dir, pipeline.ManifestName)
	b, err := os.ReadFile(path)
	if err != nil {
		return Manifest{}, fmt.Errorf("read manifest: %w (is it a published run directory?)", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Manifest{}, fmt.Errorf("read manifest %s: %w", path, err)
	}
	return m, nil
}
