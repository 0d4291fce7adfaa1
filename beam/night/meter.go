package night

import (
	"context"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
)

// Bytes shuffled per stage: every collection that enters a shuffle (a
// GroupByKey, a CoGroupByKey or a CombinePerKey) passes through a meter,
// which adds the payload of each element to its stage's counter. A meter
// fuses with the step before it, so it adds no shuffle of its own.
//
// The payload is what the element holds: 8 bytes per 64-bit number, 4 per
// 32-bit one, 1 per byte or bool, a string's or slice's contents. A
// runner's wire encoding adds length prefixes and packs small integers
// as varints, so it differs from the payload by some tens of percent
// either way; the payload is the figure that scales with the data. What
// enters a CombinePerKey is counted before combining: a runner combines
// each bundle's values first, so it moves less.

// The stages whose shuffles are metered, as counter names.
const (
	shuffleIngest    = "shuffle_bytes_ingest"     // rows by event ID, rejects
	shuffleSignals   = "shuffle_bytes_signals"    // membership facts, signals by pair
	shuffleTopics    = "shuffle_bytes_topics"     // signals by user, users per topic
	shuffleFriends   = "shuffle_bytes_friends"    // friendships, degrees, fan-out samples, paths by pair
	shuffleALSBlocks = "shuffle_bytes_als_blocks" // observations into in- and out-blocks
	shuffleALSSweeps = "shuffle_bytes_als_sweeps" // every sweep's blocks, messages and rows
	shuffleColdStart = "shuffle_bytes_cold_start" // cold users' records, friends' groups, the re-solve's blocks
	shuffleGroups    = "shuffle_bytes_groups"     // the groups' records, lists, co-membership, friends in groups, users' records
	shuffleWrite     = "shuffle_bytes_write"      // factor rows and suggestions into shards
)

// metered is col, a collection of key–value pairs, with its payload added
// to the counter of stage.
func metered(s beam.Scope, stage string, col beam.PCollection) beam.PCollection {
	return beam.ParDo(s, &meterFn{Stage: stage}, col)
}

// meterFn passes pairs through, counting their payload.
type meterFn struct {
	Stage string
	bytes beam.Counter
}

func (f *meterFn) Setup() { f.bytes = beam.NewCounter("circles", f.Stage) }

func (f *meterFn) ProcessElement(ctx context.Context, k beam.X, v beam.Y, emit func(beam.X, beam.Y)) {
	f.bytes.Inc(ctx, payload(reflect.ValueOf(k))+payload(reflect.ValueOf(v)))
	emit(k, v)
}

// payload is the number of bytes v holds (see above).
func payload(v reflect.Value) int64 {
	switch v.Kind() {
	case reflect.Bool, reflect.Int8, reflect.Uint8:
		return 1
	case reflect.Int16, reflect.Uint16:
		return 2
	case reflect.Int32, reflect.Uint32, reflect.Float32:
		return 4
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64, reflect.Float64:
		return 8
	case reflect.String:
		return int64(v.Len())
	case reflect.Slice, reflect.Array:
		if n := fixedSize(v.Type().Elem()); n > 0 {
			return int64(v.Len()) * n
		}
		var n int64
		for i := range v.Len() {
			n += payload(v.Index(i))
		}
		return n
	case reflect.Map:
		var n int64
		for it := v.MapRange(); it.Next(); {
			n += payload(it.Key()) + payload(it.Value())
		}
		return n
	case reflect.Struct:
		var n int64
		for i := range v.NumField() {
			n += payload(v.Field(i))
		}
		return n
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return 0
		}
		return payload(v.Elem())
	}
	return 0
}

// fixedSize is the payload of a number of type t, or 0 for other types.
func fixedSize(t reflect.Type) int64 {
	switch t.Kind() {
	case reflect.Bool, reflect.Int8, reflect.Uint8, reflect.Int16, reflect.Uint16, reflect.Int32, reflect.Uint32,
		reflect.Float32, reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64, reflect.Float64:
		return int64(t.Size())
	}
	return 0
}
