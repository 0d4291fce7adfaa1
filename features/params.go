package features

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"circles/data"
)

// Weights is the signal, before decay, that one event contributes to a
// user's affinity for an item. Negative weights are explicit negatives.
// Values are unitless; only their ratios matter to ranking, and alpha in the
// interest model scales them into confidences.
type Weights struct {
	View     float64 `json:"view"`
	Like     float64 `json:"like"`
	Comment  float64 `json:"comment"`
	Favorite float64 `json:"favorite"`
	Share    float64 `json:"share"`
	Join     float64 `json:"join"`
	Leave    float64 `json:"leave"`
	Post     float64 `json:"post"`
	Signup   float64 `json:"signup"`
	Attend   float64 `json:"attend"`
	Dismiss  float64 `json:"dismiss"`
	Hide     float64 `json:"hide"`
	Report   float64 `json:"report"`
	Payment  float64 `json:"payment"` // a payment to a merchant
	Refund   float64 `json:"refund"`  // a refund from a merchant
	Member   float64 `json:"member"`  // being a member (memberships snapshot), not decayed
}

// TieWeights is what one money event or relation adds to a tie between two
// users, before decay.
type TieWeights struct {
	Transfer    float64 `json:"transfer"`
	AASplit     float64 `json:"aa_split"` // payer and payee of one split leg
	CoSplit     float64 `json:"co_split"` // two payers of the same split
	RedPacket   float64 `json:"red_packet"`
	FundGroup   float64 `json:"fund_group"`  // two members of the same fund
	Family      float64 `json:"family"`      // a family account relation, not decayed
	Interaction float64 `json:"interaction"` // a positive interaction with the other's profile or content
	Reciprocity float64 `json:"reciprocity"` // bonus factor in [0, 4] for money flowing both ways
}

// Params tunes feature building. The zero value is not useful; start from
// [DefaultParams].
type Params struct {
	HalfLifeDays   float64           `json:"half_life_days"`   // exponential decay half-life of events, 0.1..3650
	DismissTTLDays int               `json:"dismiss_ttl_days"` // how long a dismissal or hide holds, 1..3650
	Weights        Weights           `json:"weights"`
	Ties           TieWeights        `json:"ties"`
	CategoryTopics map[string]string `json:"category_topics"` // merchant category → interest topic
	TopTopics      int               `json:"top_topics"`      // interpretable topics kept per user, 1..32
	// UTCOffsetHours is the users' local time zone, for the time of day
	// of money events (working hours tell colleagues apart), -12..14.
	UTCOffsetHours int `json:"utc_offset_hours"`
}

// DefaultParams returns the production defaults. The ratios follow the
// usual ordering of implicit signals (view < like < comment/share <
// sign-up/join/attend/payment); payments are weighted near joins because
// spending is the strongest interest evidence a wallet has.
func DefaultParams() Params {
	return Params{
		HalfLifeDays:   90,
		DismissTTLDays: 90,
		Weights: Weights{
			View: 1, Like: 2, Comment: 3, Favorite: 3, Share: 3, Join: 6, Leave: -6, Post: 3,
			Signup: 5, Attend: 6, Dismiss: -4, Hide: -4, Report: -8, Payment: 3, Refund: -2, Member: 4,
		},
		Ties:           TieWeights{Transfer: 3, AASplit: 4, CoSplit: 2, RedPacket: 2, FundGroup: 2, Family: 6, Interaction: 0.5, Reciprocity: 1},
		CategoryTopics: data.DefaultCategoryTopics(),
		TopTopics:      5,
		UTCOffsetHours: 8,
	}
}

// Validate checks every field and names the first bad one.
func (p Params) Validate() error {
	switch {
	case !(p.HalfLifeDays >= 0.1 && p.HalfLifeDays <= 3650):
		return fmt.Errorf("features.half_life_days = %v: want 0.1..3650", p.HalfLifeDays)
	case p.DismissTTLDays < 1 || p.DismissTTLDays > 3650:
		return fmt.Errorf("features.dismiss_ttl_days = %d: want 1..3650", p.DismissTTLDays)
	case p.TopTopics < 1 || p.TopTopics > 32:
		return fmt.Errorf("features.top_topics = %d: want 1..32", p.TopTopics)
	case p.UTCOffsetHours < -12 || p.UTCOffsetHours > 14:
		return fmt.Errorf("features.utc_offset_hours = %d: want -12..14", p.UTCOffsetHours)
	case p.Ties.Reciprocity < 0 || p.Ties.Reciprocity > 4:
		return fmt.Errorf("features.ties.reciprocity = %v: want 0..4", p.Ties.Reciprocity)
	}
	w := p.Weights
	weights := map[string]float64{"view": w.View, "like": w.Like, "comment": w.Comment, "favorite": w.Favorite, "share": w.Share,
		"join": w.Join, "leave": w.Leave, "post": w.Post, "signup": w.Signup, "attend": w.Attend, "dismiss": w.Dismiss, "hide": w.Hide,
		"report": w.Report, "payment": w.Payment, "refund": w.Refund, "member": w.Member}
	for _, name := range slices.Sorted(maps.Keys(weights)) {
		v := weights[name]
		if !(v >= -100 && v <= 100) {
			return fmt.Errorf("features.weights.%s = %v: want -100..100", name, v)
		}
	}
	ties := map[string]float64{"transfer": p.Ties.Transfer, "aa_split": p.Ties.AASplit, "co_split": p.Ties.CoSplit,
		"red_packet": p.Ties.RedPacket, "fund_group": p.Ties.FundGroup, "family": p.Ties.Family, "interaction": p.Ties.Interaction}
	for _, name := range slices.Sorted(maps.Keys(ties)) {
		v := ties[name]
		if v < 0 || v > 100 || math.IsNaN(v) {
			return fmt.Errorf("features.ties.%s = %v: want 0..100", name, v)
		}
	}
	return nil
}

// actionWeight is the weight of an action on a non-user target.
func (w *Weights) action(a data.Action) float64 {
	switch a {
	case data.ActView:
		return w.View
	case data.ActLike:
		return w.Like
	case data.ActComment:
		return w.Comment
	case data.ActFavorite:
		return w.Favorite
	case data.ActShare:
		return w.Share
	case data.ActJoin:
		return w.Join
	case data.ActLeave:
		return w.Leave
	case data.ActPost:
		return w.Post
	case data.ActSignup:
		return w.Signup
	case data.ActAttend:
		return w.Attend
	case data.ActDismiss:
		return w.Dismiss
	case data.ActHide:
		return w.Hide
	case data.ActReport:
		return w.Report
	}
	return 0
}

// strength scales an action by its row weight w (a play count, a rating):
// log2(1 + w), so that the default weight 1 leaves the action as it is and
// a play count of 1023 counts ten times, not a thousand.
func strength(w float32) float64 {
	return math.Log2(1 + float64(w))
}

// decay is 2^(-age/halfLife) for an event at t (millis), measured from now;
// events in the future of now (impossible after ingest) count fully.
func decay(now, t int64, halfLifeDays float64) float64 {
	age := float64(now-t) / (halfLifeDays * 86_400_000)
	if age <= 0 {
		return 1
	}
	return math.Exp2(-age)
}
