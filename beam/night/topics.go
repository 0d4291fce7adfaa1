package night

import (
	"cmp"
	"context"
	"slices"

	"circles/data"
	"circles/features"
)

// Topics on Beam: a user's topic weights are the local driver's, from the
// same kernels. The positive signals are grouped by user; each user's raw
// row is features.AddTopicShares over them in item order; a combined count
// of users per topic gives features.TopicIDF, a side input (one number per
// topic of the vocabulary); features.NormaliseTopics and
// features.TopTopics finish each user's row, which is written with the
// user's factors.

// itemSig is one of a user's signals: the item's key and the summed
// signal.
type itemSig struct {
	Item string
	Val  float32
}

// topicRow is a user's raw topic row, sparse: topic indices ascending.
type topicRow struct {
	Topics  []int32
	Weights []float32
}

// userSignal keys a positive signal by its user.
func userSignal(pair string, v float64, emit func(string, itemSig)) {
	if s := float32(v); s > 0 {
		u, i := splitPair(pair)
		emit(u, itemSig{Item: i, Val: s})
	}
}

// topicTable is the topic vocabulary and each item's topics, as
// features.ItemTopicsOf makes them from the snapshots, and the item
// space to find an item in.
type topicTable struct {
	d      *data.Dims
	items  features.Items
	names  []string
	topics [][]int32
}

// loadTopics builds a DoFn instance's topic table on first use.
func loadTopics(ctx context.Context, t **topicTable, input string, date int64, p features.Params) (*topicTable, error) {
	if *t != nil {
		return *t, nil
	}
	d, err := loadDims(ctx, input, date)
	if err != nil {
		return nil, err
	}
	it := features.NewItems(d)
	names, topics := features.ItemTopicsOf(d, it, p)
	*t = &topicTable{d: d, items: it, names: names, topics: topics}
	return *t, nil
}

// index is the item index of an item key, or -1 for an item the
// snapshots do not hold (validation has dropped its events).
func (t *topicTable) index(key string) int32 {
	kind, id := keyID(key)
	switch data.TargetKind(kind) {
	case data.TargetGroup:
		if g := t.d.Groups.Lookup(id); g >= 0 {
			return t.items.Group(g)
		}
	case data.TargetActivity:
		if a := t.d.Activities.Lookup(id); a >= 0 {
			return t.items.Activity(a)
		}
	case data.TargetContent:
		if c := t.d.Contents.Lookup(id); c >= 0 {
			return t.items.Content(c)
		}
	case data.TargetMerchant:
		if m := t.d.Merchants.Lookup(id); m >= 0 {
			return t.items.Merchant(m)
		}
	}
	return -1
}

// userTopicsFn builds one user's raw topic row and counts the user once
// for each topic in it.
type userTopicsFn struct {
	Input  string
	Date   int64
	Params features.Params
	t      *topicTable
}

func (f *userTopicsFn) ProcessElement(ctx context.Context, user string, sigs func(*itemSig) bool, emit func(string, topicRow), has func(int32, int64)) error {
	t, err := loadTopics(ctx, &f.t, f.Input, f.Date, f.Params)
	if err != nil {
		return err
	}
	type sig struct {
		item int32
		val  float32
	}
	var all []sig
	var s itemSig
	for sigs(&s) {
		if i := t.index(s.Item); i >= 0 {
			all = append(all, sig{i, s.Val})
		}
	}
	slices.SortFunc(all, func(a, b sig) int { return cmp.Compare(a.item, b.item) }) // the local row's order
	row := make([]float32, len(t.names))
	for _, s := range all {
		features.AddTopicShares(row, t.topics[s.item], s.val)
	}
	var out topicRow
	for topic, w := range row {
		if w > 0 {
			out.Topics = append(out.Topics, int32(topic))
			out.Weights = append(out.Weights, w)
			has(int32(topic), 1)
		}
	}
	if len(out.Topics) > 0 {
		emit(user, out)
	}
	return nil
}

// topTopicsFn weighs and normalises one user's raw row and keeps its top
// topics, as a row of the user's shard of user_factors; the normalised
// row goes on to the group ranking.
type topTopicsFn struct {
	Input  string
	Date   int64
	Params features.Params
	Shards int
	t      *topicTable
	idf    []float32
}

func (f *topTopicsFn) ProcessElement(ctx context.Context, user string, raw topicRow, counts func(*int32, *int64) bool, emit func(int, factorRow), rows func(int64, topicRow)) error {
	t, err := loadTopics(ctx, &f.t, f.Input, f.Date, f.Params)
	if err != nil {
		return err
	}
	if f.idf == nil {
		usersWith := make([]int, len(t.names))
		var topic int32
		var n int64
		for counts(&topic, &n) {
			usersWith[topic] = int(n)
		}
		f.idf = features.TopicIDF(t.d.Users.Len(), usersWith)
	}
	row := make([]float32, len(t.names))
	for j, topic := range raw.Topics {
		row[topic] = raw.Weights[j]
	}
	features.NormaliseTopics(row, f.idf)
	kind, id := keyID(user)
	emit(shardOf(user, f.Shards), factorRow{Kind: kind, ID: id, Top: features.TopTopics(row, t.names, f.Params.TopTopics)})
	var sparse topicRow
	for topic, w := range row {
		if w > 0 {
			sparse.Topics = append(sparse.Topics, int32(topic))
			sparse.Weights = append(sparse.Weights, w)
		}
	}
	rows(id, sparse)
	return nil
}
