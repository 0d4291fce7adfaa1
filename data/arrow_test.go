package data_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/google/go-cmp/cmp"

	"circles/data"
)

// TestSuggestionsArrowRoundTrip writes suggestions across several record
// batches and reads them back with Arrow's own IPC file reader.
func TestSuggestionsArrowRoundTrip(t *testing.T) {
	t.Parallel()
	n := data.ArrowBatchRows + 3
	want := make([]data.SuggestionRow, n)
	for i := range want {
		want[i] = data.SuggestionRow{UserID: int64(i / 10), TargetID: int64(1000 + i), Rank: int32(i%10 + 1), Score: float32(n - i)}
		if i%3 == 0 {
			want[i].Reasons = []data.Reason{{Code: data.ReasonMutualFriends, Count: int32(i % 7)}, {Code: data.ReasonSameGroup, RefID: int64(i)}}
		}
		if i%5 == 0 {
			want[i].Reasons = append(want[i].Reasons, data.Reason{Code: data.ReasonMatchesInterest, Topic: []string{"hiking", "board_games"}[i%2]})
		}
		if i%4 != 0 { // friends carry a relation type, or none
			want[i].Relation = data.RelationNames()[i%4]
			want[i].RelationProbs = [4]float32{0.1, 0.2, 0.3, 0.4}
		}
	}
	path := filepath.Join(t.TempDir(), "s.arrow")
	if err := data.WriteSuggestionsArrow(path, data.FriendTarget, []string{"hiking", "food", "board_games"}, n, func(i int) data.SuggestionRow { return want[i] }); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	}()
	r, err := ipc.NewFileReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	}()
	if v, _ := r.Schema().Metadata().GetValue(data.SchemaVersionKey); v != data.SchemaVersion || r.Schema().Field(1).Name != "candidate_id" {
		t.Errorf("schema %v lacks version %s or the target column name", r.Schema(), data.SchemaVersion)
	}
	var got []data.SuggestionRow
	for b := range r.NumRecords() {
		rec, err := r.RecordBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, readBatch(rec)...)
	}
	if r.NumRecords() != 2 {
		t.Errorf("%d record batches, want 2", r.NumRecords())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func readBatch(rec arrow.RecordBatch) []data.SuggestionRow {
	users := rec.Column(0).(*array.Int64)
	targets := rec.Column(1).(*array.Int64)
	ranks := rec.Column(2).(*array.Int32)
	scores := rec.Column(3).(*array.Float32)
	reasons := rec.Column(4).(*array.List)
	rs := reasons.ListValues().(*array.Struct)
	codes, counts := rs.Field(0).(*array.Dictionary), rs.Field(1).(*array.Int32)
	refs, topics := rs.Field(2).(*array.Int64), rs.Field(3).(*array.Dictionary)
	codeDict, topicDict := codes.Dictionary().(*array.String), topics.Dictionary().(*array.String)
	topicOf := func(j int) string {
		if topics.IsNull(j) {
			return ""
		}
		return topicDict.Value(topics.GetValueIndex(j))
	}
	relation := rec.Column(5).(*array.Dictionary)
	relationDict := relation.Dictionary().(*array.String)
	out := make([]data.SuggestionRow, rec.NumRows())
	for i := range out {
		out[i] = data.SuggestionRow{UserID: users.Value(i), TargetID: targets.Value(i), Rank: ranks.Value(i), Score: scores.Value(i)}
		if !relation.IsNull(i) {
			out[i].Relation = relationDict.Value(relation.GetValueIndex(i))
		}
		for k := range out[i].RelationProbs {
			out[i].RelationProbs[k] = rec.Column(6 + k).(*array.Float32).Value(i)
		}
		lo, hi := reasons.ValueOffsets(i)
		for j := int(lo); j < int(hi); j++ {
			out[i].Reasons = append(out[i].Reasons, data.Reason{Code: codeDict.Value(codes.GetValueIndex(j)), Count: counts.Value(j), RefID: refs.Value(j), Topic: topicOf(j)})
		}
	}
	return out
}
