package features

import (
	"cmp"
	"slices"

	"circles/data"
)

// Tie strength, after RealGraph (Kamath et al., 2014) in spirit: each pair's
// decayed evidence per direction, with a bonus when it flows both ways.
//
//	strength(a, b) = (w_ab + w_ba) · (1 + reciprocity · min(w_ab, w_ba) / max(w_ab, w_ba))

// TieKind is what a tie event is made of.
type TieKind uint8

// The kinds of tie events.
const (
	TieTransfer TieKind = iota
	TieSplit
	TieRedPacket
	TieFund
	TieFamily
	TieInteraction
)

// TieEvent is one piece of evidence of a tie between two users: its
// kind, its decayed weight, whether it fell in working hours, and Back,
// set when it flows from the pair's second user to its first. Only the
// two directions' sums matter to a tie, and which user is first does
// not: the strength is symmetric in them.
type TieEvent struct {
	Kind TieKind
	W    float32
	Work bool
	Back bool
}

// tieEvent is a TieEvent between users from and to (dense indices).
type tieEvent struct {
	from, to int32
	TieEvent
}

// MaxCoParticipants caps the payers of one split or fund that are tied
// pairwise, in their order of appearance, so that one huge fund cannot
// dominate the graph.
const MaxCoParticipants = 50

// MoneyTie is the tie event of a transaction from one user to another
// (eligible both; payer first), or false for a kind that is not a tie.
func MoneyTie(t data.Txn, p Params, now int64) (TieEvent, bool) {
	dec := decay(now, t.TimeMillis, p.HalfLifeDays)
	work := workHours(t.TimeMillis, p.UTCOffsetHours)
	switch t.Kind {
	case data.TxTransfer:
		return TieEvent{Kind: TieTransfer, W: float32(p.Ties.Transfer * dec), Work: work}, true
	case data.TxRedPacket:
		return TieEvent{Kind: TieRedPacket, W: float32(p.Ties.RedPacket * dec), Work: work}, true
	case data.TxAASplit:
		return TieEvent{Kind: TieSplit, W: float32(p.Ties.AASplit * dec), Work: work}, true
	case data.TxFundGroup:
		return TieEvent{Kind: TieFund, W: float32(p.Ties.FundGroup * dec)}, true
	}
	return TieEvent{}, false
}

// CoLeg reports whether a transaction is a leg of a split or a fund,
// whose payers are tied to each other (CoLegTie).
func CoLeg(t data.Txn) bool { return t.Kind == data.TxAASplit || t.Kind == data.TxFundGroup }

// CoLegTie is the tie event between the payers of two legs a and b of one
// split or fund (CoLeg), from a's payer to b's.
func CoLegTie(a, b data.Txn, p Params, now int64) TieEvent {
	kind, w := TieSplit, p.Ties.CoSplit
	if a.Kind == data.TxFundGroup {
		kind, w = TieFund, p.Ties.FundGroup
	}
	at := max(a.TimeMillis, b.TimeMillis)
	return TieEvent{Kind: kind, W: float32(w * decay(now, at, p.HalfLifeDays)), Work: kind == TieSplit && workHours(at, p.UTCOffsetHours)}
}

// FamilyTie is the tie event of a family account two users share.
func FamilyTie(p Params) TieEvent { return TieEvent{Kind: TieFamily, W: float32(p.Ties.Family)} }

// InteractionTie is the tie event of a positive interaction of the
// feature window by one eligible user with another.
func InteractionTie(e data.Event, p Params, now int64) TieEvent {
	return TieEvent{Kind: TieInteraction, W: float32(p.Ties.Interaction * decay(now, e.TimeMillis, p.HalfLifeDays))}
}

// PairTie is the tie of one pair from all its events: its strength (0
// when none) and what it is made of. It sorts evs first, so that the
// result depends on the events alone, never on the order they came in:
// a partitioned driver sums the same numbers in the same order.
func PairTie(evs []TieEvent, p Params) (float32, TieInfo) {
	slices.SortFunc(evs, func(x, y TieEvent) int {
		return cmp.Or(cmp.Compare(b2i(x.Back), b2i(y.Back)), cmp.Compare(x.Kind, y.Kind), cmp.Compare(x.W, y.W), cmp.Compare(b2i(x.Work), b2i(y.Work)))
	})
	var wab, wba float64 // first→second and second→first
	var info TieInfo
	for _, e := range evs {
		if e.Back {
			wba += float64(e.W)
		} else {
			wab += float64(e.W)
		}
		if e.Work {
			info.WorkHours = satInc(info.WorkHours)
		}
		switch e.Kind {
		case TieTransfer:
			info.Transfers = satInc(info.Transfers)
		case TieSplit:
			info.Splits = satInc(info.Splits)
		case TieRedPacket:
			info.RedPackets = satInc(info.RedPackets)
		case TieFund:
			info.Funds = satInc(info.Funds)
		case TieFamily:
			info.Family = true
		}
	}
	s := wab + wba
	if hiW := max(wab, wba); hiW > 0 {
		s *= 1 + p.Ties.Reciprocity*min(wab, wba)/hiW
	}
	return float32(s), info
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// workHours reports whether a time falls on a weekday between 09:00 and
// 18:00 at the given offset from UTC.
func workHours(millis int64, utcOffsetHours int) bool {
	secs := millis/1000 + int64(utcOffsetHours)*3600
	day, sec := secs/86400, secs%86400
	if sec < 0 {
		day, sec = day-1, sec+86400
	}
	weekday := (day%7 + 7 + 4) % 7 // 1970-01-01 was a Thursday (4); Sunday is 0
	hour := sec / 3600
	return weekday >= 1 && weekday <= 5 && hour >= 9 && hour < 18
}

func (f *Features) buildTies(events []tieEvent, p Params) {
	events = sortByPair(len(f.Eligible), events)
	key := func(e tieEvent) uint64 { return pairKey(e.from, e.to) }
	var ts []Triple
	var infos []TieInfo
	var evs []TieEvent
	for lo := 0; lo < len(events); {
		hi := lo + 1
		for hi < len(events) && key(events[hi]) == key(events[lo]) {
			hi++
		}
		a := min(events[lo].from, events[lo].to)
		evs = evs[:0]
		for _, e := range events[lo:hi] {
			ev := e.TieEvent
			ev.Back = e.from != a
			evs = append(evs, ev)
		}
		s, info := PairTie(evs, p)
		if s > 0 {
			b := max(events[lo].from, events[lo].to)
			ts = append(ts, Triple{a, b, float32(s)}, Triple{b, a, float32(s)})
			infos = append(infos, info, info)
		}
		lo = hi
	}
	// ts is in ascending (min, max) pair order, so bucketing by row keeps
	// each row's columns ascending; infos are placed alongside.
	col := make([]int32, len(ts))
	val := make([]float32, len(ts))
	info := make([]TieInfo, len(ts))
	start := bucketByRow(len(f.Eligible), len(ts), func(i int) int32 { return ts[i].Row }, func(i int, j int64) {
		col[j], val[j], info[j] = ts[i].Col, ts[i].Val, infos[i]
	})
	f.Ties = CSR{Start: start, Col: col, Val: val}
	f.TieInfo = info
	f.Summary.TieEdges = len(ts) / 2
}

// sortByPair returns the events of users 0..n−1 in a stable order by
// pair: bucketed by the pair's smaller member (a stable counting sort),
// then each bucket stably by the larger. It is the order of a stable sort
// by pairKey, in linear time but for the small buckets' sorts.
func sortByPair(n int, events []tieEvent) []tieEvent {
	out := make([]tieEvent, len(events))
	start := bucketByRow(n, len(events), func(i int) int32 { return min(events[i].from, events[i].to) }, func(i int, j int64) {
		out[j] = events[i]
	})
	for a := range n {
		slices.SortStableFunc(out[start[a]:start[a+1]], func(x, y tieEvent) int { return cmp.Compare(max(x.from, x.to), max(y.from, y.to)) })
	}
	return out
}

func satInc(x uint16) uint16 {
	if x == ^uint16(0) {
		return x
	}
	return x + 1
}

// Tie returns the strength of the tie between a and b (0 when none) and
// what it is made of.
func (f *Features) Tie(a, b int32) (float32, TieInfo) {
	cols, vals := f.Ties.Row(a)
	if i, ok := slices.BinarySearch(cols, b); ok {
		return vals[i], f.TieInfo[f.Ties.Start[a]+int64(i)]
	}
	return 0, TieInfo{}
}
