package data

import (
	"errors"
	"io"

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
	return CreateSynced(path, func(out io.Writer) error {
		schema := SuggestionSchema(target)
		mem := memory.NewGoAllocator()
		w, err := ipc.NewFileWriter(out, ipc.WithSchema(schema), ipc.WithAllocator(mem))
		if err != nil {
			return err
		}
		b := array.NewRecordBuilder(mem, schema)
		defer b.Release()
		users := b.Field(0).(*array.Int64Builder)
		targets := b.Field(1).(*array.Int64Builder)
		ranks := b.Field(2).(*array.Int32Builder)
		scores := b.Field(3).(*array.Float32Builder)
		reasons := b.Field(4).(*array.ListBuilder)
		rs := reasons.ValueBuilder().(*array.StructBuilder)
		code := rs.FieldBuilder(0).(*array.BinaryDictionaryBuilder)
		count := rs.FieldBuilder(1).(*array.Int32Builder)
		ref := rs.FieldBuilder(2).(*array.Int64Builder)
		topic := rs.FieldBuilder(3).(*array.BinaryDictionaryBuilder)
		if err := errors.Join(fixDictionary(mem, code, ReasonCodes()), fixDictionary(mem, topic, topics)); err != nil {
			return err
		}
		var (
			relation *array.BinaryDictionaryBuilder
			probs    [4]*array.Float32Builder
		)
		if target == FriendTarget {
			relation = b.Field(5).(*array.BinaryDictionaryBuilder)
			if err := fixDictionary(mem, relation, RelationNames()); err != nil {
				return err
			}
			for k := range probs {
				probs[k] = b.Field(6 + k).(*array.Float32Builder)
			}
		}
		flush := func() error {
			rec := b.NewRecordBatch()
			defer rec.Release()
			return w.Write(rec)
		}
		for i := range n {
			r := row(i)
			users.Append(r.UserID)
			targets.Append(r.TargetID)
			ranks.Append(r.Rank)
			scores.Append(r.Score)
			reasons.Append(true)
			for _, x := range r.Reasons {
				rs.Append(true)
				if err := code.AppendString(x.Code); err != nil {
					return err
				}
				count.Append(x.Count)
				ref.Append(x.RefID)
				if x.Topic == "" {
					topic.AppendNull()
				} else if err := topic.AppendString(x.Topic); err != nil {
					return err
				}
			}
			if relation != nil {
				if r.Relation == "" {
					relation.AppendNull()
				} else if err := relation.AppendString(r.Relation); err != nil {
					return err
				}
				for k, p := range probs {
					p.Append(r.RelationProbs[k])
				}
			}
			if (i+1)%ArrowBatchRows == 0 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if n%ArrowBatchRows != 0 || n == 0 {
			if err := flush(); err != nil {
				return err
			}
		}
		return w.Close()
	})
}
