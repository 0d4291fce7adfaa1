package models

import (
	"math"
	"slices"

	"circles/data"
)

// The group and activity scores as kernels of one user's neighbourhood:
// everything they read of a candidate is in a [GroupEvidence] or an
// [ActivityEvidence], and [GroupScorer] turns a user's evidence into
// ranked suggestions with their reasons. The
// local driver fills the evidence from its dense arrays; a partitioned
// driver fills it from joins keyed by external IDs. Both rank with the
// same scorer, and the small rules the evidence is made by
// ([GroupHealth], [RecentActivities], [Upcoming], [ActivityPopularity],
// [BestTopic], [CandidateTopics], [CoReasonBefore], [CompareDesc]) are
// functions both call.

// GroupEvidence is what the group score reads of one candidate group for
// one user.
type GroupEvidence struct {
	Group     int64   // external ID
	Interest  float64 // x_u·y_g, the interest model's
	TopicSum  float64 // the user's summed topic weight on the group's topics
	BestTopic int32   // the group's topic the user weighs most, −1 if none
	Friends   int32   // the user's eligible friends in the group
	Links     int32   // friendships among those friends
	Health    float64 // GroupHealth of the group
	Recent    int32   // the group's activities in the health window
	// CoShare is the summed co-membership share of the group over the
	// user's own groups (not yet averaged); CoFrom and CoCount name the
	// user's group that contributed the most (CoReasonBefore) and how
	// many of its members are in the candidate.
	CoShare float64
	CoFrom  int64
	CoCount int32
}

// Density is the share of pairs of the user's friends in the group who
// are friends themselves, 0 with fewer than two.
func (e *GroupEvidence) Density() float64 {
	n := int(e.Friends)
	if n < 2 {
		return 0
	}
	return float64(e.Links) / float64(n*(n-1)/2)
}

// ActivityEvidence is what the activity score reads of one candidate
// activity for one user.
type ActivityEvidence struct {
	Activity   int64   // external ID
	Interest   float64 // the larger of x_u·y_a and x_u·y_g of its group
	TopicSum   float64 // the user's summed topic weight on its group's topics
	BestTopic  int32   // of those topics, the one the user weighs most, −1 if none
	Going      int32   // the user's eligible friends signed up
	Signups    int32   // eligible users signed up
	Popularity float64 // ActivityPopularity of Signups
	OwnGroup   bool    // the activity is of one of the user's groups
	StartsDays int32   // whole days from the end of the run date to its start
}

// GroupScorer scores and ranks one user's candidate groups or activities
// at a time. It is not safe for concurrent use: each worker has its own.
type GroupScorer struct {
	p      GroupParams
	social *countCurve
	top    *TopK
}

// NewGroupScorer returns a scorer for p.
func NewGroupScorer(p GroupParams) *GroupScorer {
	return &GroupScorer{p: p, social: socialProof(p.SocialScale), top: NewTopK(p.MaxPerUser)}
}

// groupScore is the group score of one candidate for a user in own
// groups: a sum of terms each in [0, 1] times its weight.
func (s *GroupScorer) groupScore(e *GroupEvidence, own int) float64 {
	p := s.p
	v := p.InterestWeight*clip01(e.Interest) +
		p.TopicWeight*clip01(e.TopicSum) +
		p.SocialWeight*s.social.at(e.Friends)*(1+p.DensityBonus*e.Density()) +
		p.HealthWeight*e.Health
	if e.CoShare > 0 {
		v += p.CoMemberWeight * e.CoShare / float64(own)
	}
	return v
}

// RankGroups appends to out the user's suggestions among cands: the
// MaxPerUser best scoring at least MinScore, best first (ties by group
// ID), with their reasons; topics names the topic vocabulary. Each
// candidate must appear once, and none the user may not be shown.
func (s *GroupScorer) RankGroups(user int64, own int, cands []GroupEvidence, topics []string, out []data.GroupSuggestion) []data.GroupSuggestion {
	for j := range cands {
		if v := s.groupScore(&cands[j], own); v >= s.p.MinScore {
			s.top.Push(Scored{ID: cands[j].Group, Index: int32(j), Score: v})
		}
	}
	for rank, sc := range s.top.Sorted() {
		e := &cands[sc.Index]
		var reasons []data.Reason
		if e.Friends > 0 {
			reasons = append(reasons, data.Reason{Code: data.ReasonFriendsInGroup, Count: e.Friends})
		}
		if e.CoShare > 0 {
			reasons = append(reasons, data.Reason{Code: data.ReasonMembersAlsoJoined, Count: e.CoCount, RefID: e.CoFrom})
		}
		if e.BestTopic >= 0 && e.TopicSum >= 0.05 {
			reasons = append(reasons, data.Reason{Code: data.ReasonMatchesInterest, Topic: topics[e.BestTopic]})
		}
		if e.Recent > 0 {
			reasons = append(reasons, data.Reason{Code: data.ReasonActiveGroup, Count: e.Recent})
		}
		out = append(out, data.GroupSuggestion{UserID: user, GroupID: sc.ID, Rank: int32(rank + 1), Score: float32(sc.Score), Reasons: reasons})
	}
	return out
}

// activityScore is the activity score of one candidate: the group
// score's terms, with the activity's popularity for the group's health
// and half a social term more for an activity of the user's own group.
func (s *GroupScorer) activityScore(e *ActivityEvidence) float64 {
	p := s.p
	v := p.InterestWeight*clip01(e.Interest) + p.TopicWeight*clip01(e.TopicSum) +
		p.SocialWeight*s.social.at(e.Going) + p.HealthWeight*e.Popularity
	if e.OwnGroup {
		v += p.SocialWeight * 0.5
	}
	return v
}

// RankActivities is [GroupScorer.RankGroups] for activities.
func (s *GroupScorer) RankActivities(user int64, cands []ActivityEvidence, topics []string, out []data.ActivitySuggestion) []data.ActivitySuggestion {
	for j := range cands {
		if v := s.activityScore(&cands[j]); v >= s.p.MinScore {
			s.top.Push(Scored{ID: cands[j].Activity, Index: int32(j), Score: v})
		}
	}
	for rank, sc := range s.top.Sorted() {
		e := &cands[sc.Index]
		var reasons []data.Reason
		if e.Going > 0 {
			reasons = append(reasons, data.Reason{Code: data.ReasonFriendsGoing, Count: e.Going})
		}
		if e.BestTopic >= 0 && e.TopicSum >= 0.05 {
			reasons = append(reasons, data.Reason{Code: data.ReasonMatchesInterest, Topic: topics[e.BestTopic]})
		}
		if e.Signups > 0 {
			reasons = append(reasons, data.Reason{Code: data.ReasonPopularNearby, Count: e.Signups})
		}
		reasons = append(reasons, data.Reason{Code: data.ReasonStartsSoon, Count: e.StartsDays})
		out = append(out, data.ActivitySuggestion{UserID: user, ActivityID: sc.ID, Rank: int32(rank + 1), Score: float32(sc.Score), Reasons: reasons})
	}
	return out
}

// Upcoming reports whether activity a may be suggested on a run whose
// date ends at now (millis): active, of an active group, starting within
// the horizon.
func Upcoming(d *data.Dims, a int32, now int64, horizonDays int) bool {
	s := d.ActivityStart[a]
	return d.ActivityStatus[a] == data.StatusActive && d.GroupStatus[d.ActivityGroup[a]] == data.StatusActive &&
		s >= now && s < now+int64(horizonDays)*86_400_000
}

// StartsDays is the whole days from now to activity a's start.
func StartsDays(d *data.Dims, a int32, now int64) int32 {
	return int32((d.ActivityStart[a] - now) / 86_400_000)
}

// ActivityPopularity scores an activity's eligible sign-ups in [0, 1],
// log-scaled, saturating at 50.
func ActivityPopularity(signups int) float64 {
	return math.Min(1, math.Log1p(float64(signups))/math.Log1p(50))
}

// GroupHealth scores a group in [0, 1]: half from its eligible members
// (log-scaled against cityMax, the most any group of its city has), half
// from its recent activities (see [RecentActivities]), saturating at four.
func GroupHealth(members, cityMax, recent int) float64 {
	size := 0.0
	if cityMax > 0 {
		size = math.Log1p(float64(members)) / math.Log1p(float64(cityMax))
	}
	return 0.5*size + 0.5*math.Min(1, float64(recent)/4)
}

// RecentActivities counts, per group, its active activities starting in
// the 30 days before now (the end of the run date, millis) or the
// horizon after it: the activity half of [GroupHealth].
func RecentActivities(d *data.Dims, now int64, horizonDays int) []int {
	recent := make([]int, d.Groups.Len())
	lo := now - 30*86_400_000
	hi := now + int64(horizonDays)*86_400_000
	for a := range d.Activities.Len() {
		if s := d.ActivityStart[a]; d.ActivityStatus[a] == data.StatusActive && s >= lo && s < hi {
			recent[d.ActivityGroup[a]]++
		}
	}
	return recent
}

// BestTopic returns which of topics weighs most in a user's topic row
// (the first on a tie, −1 for none), and the row's summed weight on all
// of them.
func BestTopic(row []float32, topics []int32) (best int32, sum float64) {
	best = -1
	for _, t := range topics {
		sum += float64(row[t])
		if best < 0 || row[t] > row[best] {
			best = t
		}
	}
	return best, sum
}

// CandidateTopics returns up to n of a user's topics with positive
// weight, strongest first (ties by topic): the topics whose healthiest
// groups become the user's candidates. It reuses buf.
func CandidateTopics(row []float32, n int, buf []int32) []int32 {
	buf = buf[:0]
	for t, w := range row {
		if w > 0 {
			buf = append(buf, int32(t))
		}
	}
	slices.SortStableFunc(buf, func(a, b int32) int { return CompareDesc(float64(row[a]), float64(row[b]), int64(a), int64(b)) })
	return buf[:min(n, len(buf))]
}

// CoReasonBefore reports whether the user's group a (its share of the
// candidate and its ID) names the co-membership reason rather than b:
// the larger share, then the smaller ID, so that the choice never depends
// on the order the user's groups are read in.
func CoReasonBefore(shareA float32, idA int64, shareB float32, idB int64) bool {
	if shareA != shareB {
		return shareA > shareB
	}
	return idA < idB
}

// CompareDesc orders by score descending, then ID ascending: the order
// of every ranked list, and of the candidate lists they start from.
func CompareDesc(sa, sb float64, ia, ib int64) int {
	switch {
	case sa > sb:
		return -1
	case sa < sb:
		return 1
	case ia < ib:
		return -1
	case ia > ib:
		return 1
	}
	return 0
}
