package models

import (
	"math"

	"circles/data"
	"circles/features"
)

// The friend ranker's kernels: what both drivers compute of one pair
// (u, c) from the evidence they gather for it, the local driver from its
// dense arrays and the Beam driver from records joined by external IDs.

// FriendReach is how candidate c is reached from user u: through mutual
// friends (their count and the pair's Adamic–Adar and resource-allocation
// indices, the fan-out through a super-node capped), a money tie, u's own
// address book, and small groups and activities in common.
type FriendReach struct {
	Mutual   int32
	AA, RA   float32
	Tie      float32 // the money tie's strength, 0 when none
	CoMember uint8   // shared small groups and activities, at most MaxCoMember
	Contact  bool    // in u's own address book
}

// MaxCoMember caps the small groups and activities a pair's co-member
// feature counts.
const MaxCoMember = 3

// Reached reports whether the reach makes c a candidate: any source but
// friends of friends, or at least p.MinMutualForFoF mutual friends.
func (r *FriendReach) Reached(p FriendParams) bool {
	return r.Tie != 0 || r.Contact || r.CoMember != 0 || int(r.Mutual) >= p.MinMutualForFoF
}

// GraphFeatures fills the features read off the reach and the friend
// graph, given log(1 + mutual friends), log(1 + c's friends) and the
// friend-graph embedding's predicted tie; the profile features stay 0.
func (r *FriendReach) GraphFeatures(logMutual, logDegree, graph float64) (x [NumFriendFeatures]float64) {
	x[FeatMutual] = logMutual
	x[FeatAdamicAdar], x[FeatResourceAllocation] = float64(r.AA), float64(r.RA)
	if r.Tie != 0 {
		x[FeatTie] = math.Log1p(float64(r.Tie))
	}
	x[FeatCoMember] = float64(r.CoMember)
	x[FeatDegree] = logDegree
	if r.Contact {
		x[FeatContact] = 1
	}
	x[FeatGraph] = graph
	return x
}

// ProfileBounds is the least and the most that a candidate's profile
// features (the interest and latent cosines, the shared items) can add to
// its score under the weights w, for a user and a candidate with nu and nc
// items with positive signal. A ranker that knows a candidate's other
// features can skip the profile of one whose most cannot reach the list.
func ProfileBounds(w *[NumFriendFeatures]float64, nu, nc int) (lo, hi float64) {
	add := func(w, a, b float64) {
		lo, hi = lo+min(w*a, w*b), hi+max(w*a, w*b)
	}
	add(w[FeatInterest], 0, 1)
	add(w[FeatLatent], -1, 1)
	if nu > 0 && nc > 0 {
		add(w[FeatSharedItems], 0, math.Sqrt(float64(min(nu, nc))/float64(max(nu, nc))))
	}
	return lo, hi
}

// FriendScore is the linear score of a candidate's features under the
// weights w.
func FriendScore(w, x *[NumFriendFeatures]float64) float64 {
	v := 0.0
	for i, xi := range x {
		v += w[i] * xi
	}
	return v
}

// ItemSetCosine is the cosine of two users' sets of items with positive
// signal, of sizes nu and nc, that share both: |I_u ∩ I_c| / √(|I_u|·|I_c|).
func ItemSetCosine(both, nu, nc int) float64 {
	if nu == 0 || nc == 0 {
		return 0
	}
	return float64(both) / math.Sqrt(float64(nu)*float64(nc))
}

// MinorsMayMeet is the minor rule of the friend policy for a pair with
// the tie info: a minor and an adult are suggested to each other only
// when they are not strangers, which here means a direct money tie or a
// family account between them.
func MinorsMayMeet(minorU, minorC bool, info features.TieInfo) bool {
	return minorU == minorC || info.Family || info.Transfers+info.Splits+info.RedPackets+info.Funds > 0
}

// FriendWhy is what a friend suggestion's reasons read of the pair: its
// reach, the money behind its tie, the shared group and activity with
// the smallest IDs (when InGroup and InActivity), and the topic both have
// through groups they joined ("" when none).
type FriendWhy struct {
	Reach               FriendReach
	Info                features.TieInfo
	Group, Activity     int64
	InGroup, InActivity bool
	Topic               string
}

// FriendReasons explains a friend suggestion using only what u took part
// in (money u moved, groups u is in) or aggregates (mutual friend counts).
func FriendReasons(w *FriendWhy) []data.Reason {
	var rs []data.Reason
	if w.Reach.Contact {
		rs = append(rs, data.Reason{Code: data.ReasonInContacts})
	}
	if w.Reach.Mutual > 0 {
		rs = append(rs, data.Reason{Code: data.ReasonMutualFriends, Count: w.Reach.Mutual})
	}
	for _, r := range []struct {
		code string
		n    uint16
	}{{data.ReasonSplitBill, w.Info.Splits}, {data.ReasonTransfer, w.Info.Transfers}, {data.ReasonRedPacket, w.Info.RedPackets}, {data.ReasonFundGroup, w.Info.Funds}} {
		if r.n > 0 {
			rs = append(rs, data.Reason{Code: r.code, Count: int32(r.n)})
		}
	}
	if w.Info.Family {
		rs = append(rs, data.Reason{Code: data.ReasonFamily})
	}
	if w.InGroup {
		rs = append(rs, data.Reason{Code: data.ReasonSameGroup, RefID: w.Group})
	}
	if w.InActivity {
		rs = append(rs, data.Reason{Code: data.ReasonSameActivity, RefID: w.Activity})
	}
	if w.Topic != "" {
		rs = append(rs, data.Reason{Code: data.ReasonSimilarInterest, Topic: w.Topic})
	}
	return rs
}

// FriendGraphParams are the friend-graph embedding's ALS settings: its
// own, not the interest model's, since a friendship is a binary signal
// and graph_weight is only meaningful for one embedding.
func FriendGraphParams(p FriendParams, workers int) ALSParams {
	return ALSParams{Factors: p.GraphFactors, Iterations: 8, CGSteps: 3, Alpha: 10, Lambda: 0.05, RegExponent: 1, Seed: 42, Workers: workers}
}

// GraphKeys are the row keys of the friend-graph embedding: users on both
// sides, by their ID (UserKey).
func GraphKeys(d *data.Dims) RowKeys {
	k := make([]uint64, d.Users.Len())
	for u := range k {
		k[u] = UserKey(d.Users.ID(int32(u)))
	}
	return RowKeys{Users: k, Items: k}
}
