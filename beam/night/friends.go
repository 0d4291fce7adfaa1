package night

import (
	"cmp"
	"context"
	"encoding/binary"
	"slices"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"circles/data"
	"circles/models"
)

// Friends of friends on Beam: the two-hop join that friend suggestions
// start from, partitioned by user, with the fan-out through a super-node
// capped as the local driver caps it. No step holds a hub's friend list:
//
//  1. the friendships between eligible users, both directions, made
//     distinct by a CombinePerKey on the directed pair;
//  2. per user, its degree (a count) and its fan-out sample, the
//     MaxFanout friends with the smallest models.UserKey (a bounded
//     combine, models' fanoutSample);
//  3. per mutual friend, a CoGroupByKey of its friends (streamed), its
//     degree and its sample: each friend u gets one path to each sampled
//     c, weighted by models.PathWeights;
//  4. the paths summed per pair (CombinePerKey); rankFriends drops the
//     pairs that are friendships already.

// pathRec is what paths add to a pair.
type pathRec struct {
	Mutual int32
	AA, RA float32
}

func addPaths(a, b pathRec) pathRec { return pathRec{a.Mutual + b.Mutual, a.AA + b.AA, a.RA + b.RA} }

// directedKey is the key of the directed pair (u, v) of users.
func directedKey(u, v int64) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(u))
	binary.BigEndian.PutUint64(b[8:], uint64(v))
	return string(b[:])
}

// splitDirected is the two users of a directed pair key.
func splitDirected(k string) (u, v int64) {
	return int64(binary.BigEndian.Uint64([]byte(k[:8]))), int64(binary.BigEndian.Uint64([]byte(k[8:])))
}

// friendshipsFn emits the snapshot's friendships between eligible users in
// both directions, as features.Build counts them.
type friendshipsFn struct {
	Input string
	Date  int64
}

func (f *friendshipsFn) ProcessElement(ctx context.Context, _ []byte, emit func(string, int64)) error {
	d, err := loadDims(ctx, f.Input, f.Date)
	if err != nil {
		return err
	}
	for _, r := range d.Relations {
		if r.Kind == data.RelFriend && d.Eligible(r.User) && d.Eligible(r.Other) {
			a, b := d.Users.ID(r.User), d.Users.ID(r.Other)
			emit(directedKey(a, b), 1)
			emit(directedKey(b, a), 1)
		}
	}
	return nil
}

// friendOf keys a friendship by its first user.
func friendOf(pair string, _ int64) (string, int64) {
	u, v := splitDirected(pair)
	return userKey(u), v
}

func degreeOne(user string, _ int64) (string, int64) { return user, 1 }

// fanoutFn keeps the Max friends with the smallest models.UserKey: the
// local driver's fan-out sample, in at most 2·Max IDs per accumulator.
type fanoutFn struct {
	Max int
}

func (f *fanoutFn) CreateAccumulator() []int64 { return nil }

func (f *fanoutFn) AddInput(acc []int64, id int64) []int64 { return f.trim(append(acc, id), 2*f.Max) }

func (f *fanoutFn) MergeAccumulators(a, b []int64) []int64 { return f.trim(append(a, b...), 2*f.Max) }

func (f *fanoutFn) ExtractOutput(acc []int64) []int64 { return f.trim(acc, f.Max) }

// trim sorts ids by key and keeps the first Max once there are more than
// at.
func (f *fanoutFn) trim(ids []int64, at int) []int64 {
	if len(ids) <= at {
		return ids
	}
	slices.SortFunc(ids, func(a, b int64) int { return cmp.Compare(models.UserKey(a), models.UserKey(b)) })
	return ids[:f.Max]
}

// pathsFn emits, for one mutual friend, a path from each of its friends
// to each friend in its sample.
func pathsFn(ctx context.Context, _ string, friends func(*int64) bool, degrees func(*int64) bool, samples func(*[]int64) bool, emit func(string, pathRec)) {
	var deg int64
	var sample []int64
	if !degrees(&deg) || !samples(&sample) {
		return // unreachable: a user with friends has a degree and a sample
	}
	aa, ra := models.PathWeights(int(deg))
	var u int64
	n := int64(0)
	for friends(&u) {
		for _, c := range sample {
			if c != u {
				emit(directedKey(u, c), pathRec{1, aa, ra})
				n++
			}
		}
	}
	friendPaths.Inc(ctx, n)
}

// friendsOfFriends is the two-hop join on the friendships (directed pair
// → 1, each pair once), with at most maxFanout paths through each mutual
// friend; it returns the paths summed per directed pair, friendships
// among them.
func friendsOfFriends(s beam.Scope, friendships beam.PCollection, maxFanout int) beam.PCollection {
	adj := beam.ParDo(s, friendOf, friendships)
	deg := beam.CombinePerKey(s, addCount, metered(s, shuffleFriends, beam.ParDo(s, degreeOne, adj)))
	sample := beam.CombinePerKey(s, &fanoutFn{Max: maxFanout}, metered(s, shuffleFriends, adj))
	paths := beam.ParDo(s, pathsFn, beam.CoGroupByKey(s, metered(s, shuffleFriends, adj), metered(s, shuffleFriends, deg), metered(s, shuffleFriends, sample)))
	return beam.CombinePerKey(s, addPaths, metered(s, shuffleFriends, paths))
}
