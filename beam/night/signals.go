package night

import (
	"context"
	"encoding/binary"

	"circles/data"
	"circles/features"
)

// Interest signals on Beam: each kept event becomes at most one signal of a
// (user, item) pair by features.InteractionSignal or PaymentSignal, the
// memberships of a pair are resolved by its snapshot row and its join and
// leave events (features.MemberFact), and the signals of a pair are summed
// — what features.Build does, keyed by external IDs.

// signalFn turns kept events into signals and membership facts.
type signalFn struct {
	Input        string
	Date         int64
	Now          int64 // end of the run date, millis
	FeatureStart int64
	Params       features.Params
}

func (f *signalFn) ProcessElement(ctx context.Context, r rowRec, signal func(string, float64), fact func(string, features.MemberFact)) error {
	d, err := loadDims(ctx, f.Input, f.Date)
	if err != nil {
		return err
	}
	eligible := func(id int64) bool {
		u := d.Users.Lookup(id)
		return u >= 0 && d.Eligible(u)
	}
	if r.Table == tableTxns {
		t := data.Txn{TimeMillis: r.Time, Kind: data.TxKind(r.Kind), PayeeType: data.PayeeType(r.Sub)}
		if t.PayeeType == data.PayeeMerchant && eligible(r.A) {
			signal(pairKey(r.A, data.TargetMerchant, r.B), features.PaymentSignal(t, f.Params, f.Now))
		}
		return nil
	}
	kind, act := data.TargetKind(r.Kind), data.Action(r.Sub)
	if kind == data.TargetUser || !eligible(r.A) {
		return nil
	}
	if kind == data.TargetGroup && (act == data.ActJoin || act == data.ActLeave) {
		fact(pairKey(r.A, kind, r.B), features.MemberFact{At: r.Time, Member: act == data.ActJoin})
	}
	if r.Time < f.FeatureStart {
		return nil
	}
	e := data.Event{TimeMillis: r.Time, TargetKind: kind, Action: act, Weight: r.Weight}
	if w := features.InteractionSignal(e, f.Params, f.Now); w != 0 {
		signal(pairKey(r.A, kind, r.B), w)
	}
	return nil
}

// snapshotMembersFn emits the snapshot's memberships of eligible users,
// keyed by pair, with the time each was joined.
type snapshotMembersFn struct {
	Input string
	Date  int64
}

func (f *snapshotMembersFn) ProcessElement(ctx context.Context, _ []byte, member func(string, int64)) error {
	d, err := loadDims(ctx, f.Input, f.Date)
	if err != nil {
		return err
	}
	for _, m := range d.Members {
		if d.Eligible(m.User) {
			member(pairKey(d.Users.ID(m.User), data.TargetGroup, d.Groups.ID(m.Group)), m.JoinedAtMillis)
		}
	}
	return nil
}

// membershipFn resolves one pair's membership and emits its signal and,
// for a member, the (user, group) pair: features.Build's Members.
type membershipFn struct {
	Weight float64 // features.Weights.Member
}

func (f *membershipFn) ProcessElement(key string, facts func(*features.MemberFact) bool, snapshot func(*int64) bool, signal func(string, float64), member func(int64, int64)) {
	var decider, x features.MemberFact
	seen := false
	for facts(&x) {
		if !seen || x.Decides(decider) {
			decider, seen = x, true
		}
	}
	var joined int64
	rows, is := 0, false
	for snapshot(&joined) {
		rows++
		if !seen || features.SnapshotStands(joined, decider) {
			signal(key, f.Weight)
			is = true
		}
	}
	if rows == 0 && seen && decider.Member {
		signal(key, f.Weight)
		is = true
	}
	if is {
		u, item := splitPair(key)
		_, uid := keyID(u)
		_, g := keyID(item)
		member(uid, g)
	}
}

// pairKey is the shuffle key of a (user, item) pair.
func pairKey(user int64, kind data.TargetKind, item int64) string {
	var b [17]byte
	binary.BigEndian.PutUint64(b[:8], uint64(user))
	copy(b[8:], itemKey(kind, item))
	return string(b[:])
}

// itemKey is the key of an item: its table and ID.
func itemKey(kind data.TargetKind, id int64) string {
	var b [9]byte
	b[0] = byte(kind)
	binary.BigEndian.PutUint64(b[1:], uint64(id))
	return string(b[:])
}

// userKey is the key of a user as a row of the factorisation.
func userKey(id int64) string {
	var b [9]byte
	b[0] = userKind
	binary.BigEndian.PutUint64(b[1:], uint64(id))
	return string(b[:])
}

// splitPair is the user and item keys of a pair key.
func splitPair(k string) (user, item string) {
	id := int64(binary.BigEndian.Uint64([]byte(k[:8])))
	return userKey(id), k[8:]
}

// userKind is the kind byte of a user key.
const userKind = 0xff

// graphSignal is a friendship as an observation of the friend-graph
// embedding: user u's row, user v's column.
func graphSignal(pair string, _ int64) (string, float64) {
	u, v := splitDirected(pair)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(u))
	return string(b[:]) + userKey(v), 1
}

// keyID is the kind byte and ID of a user or item key.
func keyID(k string) (byte, int64) {
	return k[0], int64(binary.BigEndian.Uint64([]byte(k[1:])))
}
