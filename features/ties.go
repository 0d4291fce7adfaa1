package features

import (
	"cmp"
	"slices"
)

// Tie strength, after RealGraph (Kamath et al., 2014) in spirit: each pair's
// decayed evidence per direction, with a bonus when it flows both ways.
//
//	strength(a, b) = (w_ab + w_ba) · (1 + reciprocity · min(w_ab, w_ba) / max(w_ab, w_ba))

type tieKind uint8

const (
	tieTransfer tieKind = iota
	tieSplit
	tieRedPacket
	tieFund
	tieFamily
	tieInteraction
)

type tieEvent struct {
	from, to int32
	kind     tieKind
	w        float32
	work     bool // during working hours (see workHours)
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
	for lo := 0; lo < len(events); {
		hi := lo + 1
		for hi < len(events) && key(events[hi]) == key(events[lo]) {
			hi++
		}
		a := min(events[lo].from, events[lo].to)
		var wab, wba float64 // a→b and b→a
		var info TieInfo
		for _, e := range events[lo:hi] {
			if e.from == a {
				wab += float64(e.w)
			} else {
				wba += float64(e.w)
			}
			if e.work {
				info.WorkHours = satInc(info.WorkHours)
			}
			switch e.kind {
			case tieTransfer:
				info.Transfers = satInc(info.Transfers)
			case tieSplit:
				info.Splits = satInc(info.Splits)
			case tieRedPacket:
				info.RedPackets = satInc(info.RedPackets)
			case tieFund:
				info.Funds = satInc(info.Funds)
			case tieFamily:
				info.Family = true
			}
		}
		s := wab + wba
		if hiW := max(wab, wba); hiW > 0 {
			s *= 1 + p.Ties.Reciprocity*min(wab, wba)/hiW
		}
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
