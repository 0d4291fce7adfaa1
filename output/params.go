package output

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"circles/features"
	"circles/models"
)

// Params are the settings that shape a run's output. The manifest records
// them with their SHA-256 digest, so a consumer can tell which settings
// produced a file.
type Params struct {
	WindowDays        int                    `json:"window_days"`          // days of events that shape interests and ties, 1..36500 (imported public datasets span years)
	MaxBadRowFraction float64                `json:"max_bad_row_fraction"` // a table with more bad (non-duplicate) rows fails the run, 0..1
	Features          features.Params        `json:"features"`
	ALS               models.ALSParams       `json:"als"`
	ColdStart         models.ColdStartParams `json:"cold_start"`
	Groups            models.GroupParams     `json:"groups"`
	Friends           models.FriendParams    `json:"friends"`
	Relations         models.RelationParams  `json:"relations"`
}

// DefaultParams returns the production defaults.
func DefaultParams() Params {
	return Params{
		WindowDays:        60,
		MaxBadRowFraction: 0.05,
		Features:          features.DefaultParams(),
		ALS:               models.DefaultALSParams(),
		ColdStart:         models.DefaultColdStartParams(),
		Groups:            models.DefaultGroupParams(),
		Friends:           models.DefaultFriendParams(),
		Relations:         models.DefaultRelationParams(),
	}
}

// Validate checks every field, naming the first bad one and its range.
func (p Params) Validate() error {
	if p.WindowDays < 1 || p.WindowDays > 36500 {
		return fmt.Errorf("window_days = %d: want 1..36500", p.WindowDays)
	}
	if !(p.MaxBadRowFraction >= 0 && p.MaxBadRowFraction <= 1) {
		return fmt.Errorf("max_bad_row_fraction = %v: want 0..1", p.MaxBadRowFraction)
	}
	for _, err := range []error{p.Features.Validate(), p.ALS.Validate(), p.ColdStart.Validate(), p.Groups.Validate(), p.Friends.Validate(), p.Relations.Validate()} {
		if err != nil {
			return err
		}
	}
	return nil
}

// Digest is the hex SHA-256 of the params' canonical JSON (struct fields in
// declaration order, map keys sorted).
func (p Params) Digest() string {
	b, err := json.Marshal(p)
	if err != nil {
		panic(fmt.Sprintf("params are not JSON-encodable: %v", err)) // a programmer error
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
