package data

import (
	"errors"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// The feed export: suggestions as Arrow IPC files (the random-access "file"
// format), which a ranking service can memory-map and use without
// decoding. Each file holds record batches of at most ArrowBatchRows rows
// with the schema below; the schema's metadata carries SchemaVersion under
// SchemaVersionKey, as the Parquet files' key-value metadata does.

// ArrowBatchRows bounds one record batch.
const ArrowBatchRows = 1 << 16

// Reason codes and topics are dictionary-encoded: a handful of distinct
// strings repeated tens of millions of times. The IPC file format needs one
// dictionary per column for the whole file, so the dictionaries are fixed
// up front: every reason code, and the run's topics. An empty topic is
// null.
var reasonType = arrow.ListOf(arrow.StructOf(
	arrow.Field{Name: "code", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}},
	arrow.Field{Name: "count", Type: arrow.PrimitiveTypes.Int32},
	arrow.Field{Name: "ref_id", Type: arrow.PrimitiveTypes.Int64},
	arrow.Field{Name: "topic", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: arrow.BinaryTypes.String}, Nullable: true},
))

// ReasonCodes lists every reason code, in the order of the export's code
// dictionary.
func ReasonCodes() []string {
	return []string{ReasonMutualFriends, ReasonSplitBill, ReasonTransfer, ReasonRedPacket, ReasonFundGroup, ReasonFamily,
		ReasonSameGroup, ReasonSameActivity, ReasonSimilarInterest, ReasonFriendsInGroup, ReasonFriendsGoing, ReasonMatchesInterest,
		ReasonActiveGroup, ReasonPopularNearby, ReasonStartsSoon, ReasonInContacts,
		ReasonMayBeFamily, ReasonMayBeColleagues, ReasonMayBeClassmates, ReasonMayShareCircle,
		ReasonMembersAlsoJoined}
}

// fixDictionary seeds a dictionary builder with values.
func fixDictionary(mem memory.Allocator, b array.Builder, values []string) error {
	sb := array.NewStringBuilder(mem)
	defer sb.Release()
	sb.AppendValues(values, nil)
	arr := sb.NewStringArray()
	defer arr.Release()
	return b.(*array.BinaryDictionaryBuilder).InsertStringDictValues(arr)
}

// FriendTarget is the target column of friend suggestions, whose export
// also carries the relation type: a dictionary-encoded relation (null when
// unknown) and its four probabilities, as in the Parquet file.
const FriendTarget = "candidate_id"

// RelationColumns name the relation probabilities, in the order of
// SuggestionRow.RelationProbs.
var RelationColumns = [4]string{"p_family", "p_colleague", "p_classmate", "p_interest"}

// SuggestionSchema is the Arrow schema of a suggestions export whose target
// column is named target (group_id, activity_id or FriendTarget).
func SuggestionSchema(target string) *arrow.Schema {
	md := arrow.NewMetadata([]string{SchemaVersionKey}, []string{SchemaVersion})
	fields := []arrow.Field{
		{Name: "user_id", Type: arrow.PrimitiveTypes.Int64},
		{Name: target, Type: arrow.PrimitiveTypes.Int64},
		{Name: "rank", Type: arrow.PrimitiveTypes.Int32},
		{Name: "score", Type: arrow.PrimitiveTypes.Float32},
		{Name: "reasons", Type: reasonType},
	}
	if target == FriendTarget {
		fields = append(fields, arrow.Field{Name: "relation", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}, Nullable: true})
		for _, name := range RelationColumns {
			fields = append(fields, arrow.Field{Name: name, Type: arrow.PrimitiveTypes.Float32})
		}
	}
	return arrow.NewSchema(fields, &md)
}

// SuggestionRow is the common shape of the three suggestion outputs; the
// relation fields are written for friend suggestions only.
type SuggestionRow struct {
	UserID, TargetID int64
	Rank             int32
	Score            float32
	Reasons          []Reason
	Relation         string
	RelationProbs    [4]float32
}

// RelationNames lists the relation types a suggestion can carry, in the
// order of the export's relation dictionary.
func RelationNames() []string {
	out := make([]string, 0, NumRelationTypes-1)
	for t := RelTypeFamily; t < NumRelationTypes; t++ {
		out = append(out, t.String())
	}
	return out
}

// WriteSuggestionsArrow writes n suggestions, row(i) giving the i-th, as an
// Arrow IPC file at path. topics must hold every topic the reasons name.
// The file is fsynced; on error it is removed.
func WriteSuggestionsArrow(path, target string, topics []string, n int, row func(i int) SuggestionRow) error {
	w, err := CreateSuggestionsArrow(path, target, topics)
	if err != nil {
		return err
	}
	for i := range n {
		if err := w.Append(row(i)); err != nil {
			return errors.Join(err, w.Abort())
		}
	}
	return w.Close()
}

// SuggestionsArrowWriter writes one suggestions file of the feed export
// as its rows arrive: [CreateSuggestionsArrow], Append for every row, then
// Close, or Abort to give up. Rows are flushed in record batches of
// ArrowBatchRows, so the file is the one [WriteSuggestionsArrow] writes
// from the same rows, byte for byte.
type SuggestionsArrowWriter struct {
	f              *SyncedFile
	ipc            *ipc.FileWriter
	b              *array.RecordBuilder
	rows           int
	users, targets *array.Int64Builder
	ranks          *array.Int32Builder
	scores         *array.Float32Builder
	reasons        *array.ListBuilder
	reason         *array.StructBuilder
	code, topic    *array.BinaryDictionaryBuilder
	count          *array.Int32Builder
	ref            *array.Int64Builder
	relation       *array.BinaryDictionaryBuilder // friend suggestions only
	probs          [4]*array.Float32Builder
}

// CreateSuggestionsArrow creates path, which must not exist, for the
// suggestions of target (a [SuggestionSchema] target). topics must hold
// every topic the reasons will name.
func CreateSuggestionsArrow(path, target string, topics []string) (w *SuggestionsArrowWriter, err error) {
	f, err := CreateSyncedFile(path)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, f.Remove())
		}
	}()
	schema := SuggestionSchema(target)
	mem := memory.NewGoAllocator()
	iw, err := ipc.NewFileWriter(f, ipc.WithSchema(schema), ipc.WithAllocator(mem))
	if err != nil {
		return nil, err
	}
	b := array.NewRecordBuilder(mem, schema)
	w = &SuggestionsArrowWriter{f: f, ipc: iw, b: b,
		users: b.Field(0).(*array.Int64Builder), targets: b.Field(1).(*array.Int64Builder),
		ranks: b.Field(2).(*array.Int32Builder), scores: b.Field(3).(*array.Float32Builder),
		reasons: b.Field(4).(*array.ListBuilder)}
	w.reason = w.reasons.ValueBuilder().(*array.StructBuilder)
	w.code = w.reason.FieldBuilder(0).(*array.BinaryDictionaryBuilder)
	w.count = w.reason.FieldBuilder(1).(*array.Int32Builder)
	w.ref = w.reason.FieldBuilder(2).(*array.Int64Builder)
	w.topic = w.reason.FieldBuilder(3).(*array.BinaryDictionaryBuilder)
	err = errors.Join(fixDictionary(mem, w.code, ReasonCodes()), fixDictionary(mem, w.topic, topics))
	if err == nil && target == FriendTarget {
		w.relation = b.Field(5).(*array.BinaryDictionaryBuilder)
		err = fixDictionary(mem, w.relation, RelationNames())
		for k := range w.probs {
			w.probs[k] = b.Field(6 + k).(*array.Float32Builder)
		}
	}
	if err != nil {
		b.Release()
		return nil, err
	}
	return w, nil
}

// Append adds one row, writing a record batch when one is full.
func (w *SuggestionsArrowWriter) Append(r SuggestionRow) error {
	w.users.Append(r.UserID)
	w.targets.Append(r.TargetID)
	w.ranks.Append(r.Rank)
	w.scores.Append(r.Score)
	w.reasons.Append(true)
	for _, x := range r.Reasons {
		w.reason.Append(true)
		if err := w.code.AppendString(x.Code); err != nil {
			return err
		}
		w.count.Append(x.Count)
		w.ref.Append(x.RefID)
		if x.Topic == "" {
			w.topic.AppendNull()
		} else if err := w.topic.AppendString(x.Topic); err != nil {
			return err
		}
	}
	if w.relation != nil {
		if r.Relation == "" {
			w.relation.AppendNull()
		} else if err := w.relation.AppendString(r.Relation); err != nil {
			return err
		}
		for k, p := range w.probs {
			p.Append(r.RelationProbs[k])
		}
	}
	if w.rows++; w.rows%ArrowBatchRows == 0 {
		return w.flush()
	}
	return nil
}

func (w *SuggestionsArrowWriter) flush() error {
	rec := w.b.NewRecordBatch()
	defer rec.Release()
	return w.ipc.Write(rec)
}

// Close writes the last batch (an empty file has one empty batch) and the
// footer, fsyncs and closes the file; on error the file is removed.
func (w *SuggestionsArrowWriter) Close() error {
	defer w.b.Release()
	var err error
	if w.rows%ArrowBatchRows != 0 || w.rows == 0 {
		err = w.flush()
	}
	if err == nil {
		err = w.ipc.Close()
	}
	return w.f.Finish(err)
}

// Abort closes and removes the partial file.
func (w *SuggestionsArrowWriter) Abort() error {
	w.b.Release()
	return w.f.Remove()
}
