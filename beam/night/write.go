package night

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"slices"

	"circles/data"
	"circles/jobs"
	"circles/output"
	"circles/pipeline"
)

// Writing on Beam: each output is written in shards, one file per shard
// by the worker that holds it, rows sorted by ID within a shard. Shard
// files go straight into the run's staging directory, or its attempt's
// prefix on an object store (store.go); nothing is visible until the
// driver publishes it.

// shardOf is the shard of a key.
func shardOf(key string, shards int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key)) // a hash's Write never fails
	return int(h.Sum32() % uint32(shards))
}

// ShardName is the name of shard i of n of an output named base.parquet.
func ShardName(base string, i, n int) string {
	return fmt.Sprintf("%s-%05d-of-%05d.parquet", base, i, n)
}

// shardFn keys a factor row by its shard.
type shardFn struct {
	Shards int
}

func (f *shardFn) ProcessElement(key string, x []float32, emit func(int, factorRow)) {
	kind, id := keyID(key)
	emit(shardOf(key, f.Shards), factorRow{Kind: kind, ID: id, Vec: x})
}

// factorRow is one row of a factor output, or the top topics of a user
// (Vec nil), which the user's shard merges with the user's vector.
type factorRow struct {
	Kind byte
	ID   int64
	Vec  []float32
	Top  []data.TopicWeight
}

// writeUsersFn writes one shard of user_factors: each user's vector and
// top topics in one row.
type writeUsersFn struct {
	Dir    string
	Shards int
}

func (f *writeUsersFn) ProcessElement(ctx context.Context, shard int, rows func(*factorRow) bool, done func(pipeline.FileEntry)) error {
	var all []data.UserInterest
	var r factorRow
	for rows(&r) {
		all = append(all, data.UserInterest{UserID: r.ID, Vector: r.Vec, TopTopics: r.Top})
		r = factorRow{}
	}
	slices.SortFunc(all, func(a, b data.UserInterest) int { return cmp.Compare(a.UserID, b.UserID) })
	var out []data.UserInterest
	for _, u := range all {
		if n := len(out); n > 0 && out[n-1].UserID == u.UserID {
			if u.Vector != nil {
				out[n-1].Vector = u.Vector
			}
			if u.TopTopics != nil {
				out[n-1].TopTopics = u.TopTopics
			}
			continue
		}
		out = append(out, u)
	}
	e, err := putParquet(ctx, f.Dir, ShardName(FileUserFactors, shard, f.Shards), out)
	if err != nil {
		return err
	}
	done(e)
	return nil
}

// writeItemsFn writes one shard of item_factors.
type writeItemsFn struct {
	Dir    string
	Shards int
}

func (f *writeItemsFn) ProcessElement(ctx context.Context, shard int, rows func(*factorRow) bool, done func(pipeline.FileEntry)) error {
	var out []data.ItemFactor
	var r factorRow
	for rows(&r) {
		out = append(out, data.ItemFactor{Kind: targetKind(r.Kind).String(), ItemID: r.ID, Vector: r.Vec})
	}
	slices.SortFunc(out, func(a, b data.ItemFactor) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.ItemID, b.ItemID))
	})
	e, err := putParquet(ctx, f.Dir, ShardName(FileItemFactors, shard, f.Shards), out)
	if err != nil {
		return err
	}
	done(e)
	return nil
}

// putParquet writes rows as the Parquet file name under dir.
func putParquet[T any](ctx context.Context, dir, name string, rows []T) (pipeline.FileEntry, error) {
	return putFile(ctx, dir, name, int64(len(rows)), func(w io.Writer) error { return data.EncodeParquet(w, rows) })
}

// writeRejectsFn writes rejects.parquet in the local driver's order.
type writeRejectsFn struct {
	Dir string
}

func (f *writeRejectsFn) ProcessElement(ctx context.Context, _ int, rows func(*rejectRec) bool, done func(pipeline.FileEntry)) error {
	var all []rejectRec
	var r rejectRec
	for rows(&r) {
		all = append(all, r)
	}
	slices.SortFunc(all, func(a, b rejectRec) int {
		return cmp.Or(cmp.Compare(a.Table, b.Table), cmp.Compare(a.Order, b.Order), cmp.Compare(a.Class, b.Class), cmp.Compare(a.Seq, b.Seq))
	})
	out := make([]data.Reject, len(all))
	for i, r := range all {
		out[i] = r.R
	}
	e, err := putParquet(ctx, f.Dir, "rejects.parquet", out)
	if err != nil {
		return err
	}
	done(e)
	return nil
}

// Summary is what the pipeline hands the driver for the manifest: the
// input tables' counts in the local driver's order, the files written,
// the model's shape and the relation-type model's metrics.
type Summary struct {
	Stats        []data.TableStats
	Files        []pipeline.FileEntry
	Users, Items int
	Observations int64
	// Loss is each sweep's loss, as the local driver's manifest reports
	// it (models.ALS.Loss).
	Loss      []float64
	Relations output.RelationMetrics
}

// part is one piece of the summary: a file's counts, a duplicate, a file
// written, a side's rows and observations, a sweep's loss, or the
// relation-type model's metrics.
type part struct {
	File      *fileStats
	Dup       *dupCount
	Written   *pipeline.FileEntry
	Users     int
	Items     int
	NNZ       int64
	Loss      *sweepLoss
	Relations *output.RelationMetrics
}

// sweepLoss is one sweep's loss, summed over blocks.
type sweepLoss struct {
	Sweep int
	L     lossRec
}

// summaryFn sums the event files' counts, less their duplicates, per table
// in read order, adds the snapshots' and writes the summary for the
// driver.
type summaryFn struct {
	Dir   string // the run's staging directory or attempt prefix
	Input string
	Date  int64
}

func (f *summaryFn) ProcessElement(ctx context.Context, _ int, parts func(*part) bool) error {
	d, err := loadDims(ctx, f.Input, f.Date)
	if err != nil {
		return err
	}
	sum := Summary{Stats: slices.Clone(d.Stats)}
	// The snapshots' paths; the event files' are relative already
	// (fileTask.Rel), and a second pass would climb out of a relative root.
	jobs.RelativeToInput(f.Input, sum.Stats, nil)
	var files []fileStats
	dups := map[dupCount]int64{}
	var losses []sweepLoss
	var p part
	for parts(&p) {
		switch {
		case p.File != nil:
			files = append(files, *p.File)
		case p.Dup != nil:
			dups[*p.Dup]++
		case p.Written != nil:
			sum.Files = append(sum.Files, *p.Written)
		case p.Loss != nil:
			losses = append(losses, *p.Loss)
		case p.Relations != nil:
			sum.Relations = *p.Relations
		}
		sum.Users += p.Users
		sum.Items += p.Items
		sum.Observations += p.NNZ
		p = part{}
	}
	slices.SortFunc(losses, func(a, b sweepLoss) int { return cmp.Compare(a.Sweep, b.Sweep) })
	for _, l := range losses {
		v := 0.0
		if l.L.Den > 0 {
			v = l.L.Num / l.L.Den
		}
		sum.Loss = append(sum.Loss, v)
	}
	slices.SortFunc(files, func(a, b fileStats) int { return cmp.Or(cmp.Compare(a.Table, b.Table), cmp.Compare(a.Order, b.Order)) })
	for _, t := range []uint8{tableTxns, tableInts} {
		st := data.NewStats(tableName(t))
		st.Absent = d.Contract.Absent(tableName(t))
		for _, x := range files {
			if x.Table != t {
				continue
			}
			if n := dups[dupCount{Table: t, Order: x.Order}]; n > 0 {
				x.S.Used -= n
				x.S.Quarantined[data.QDuplicate] += n
			}
			st.Add(x.S)
		}
		sum.Stats = append(sum.Stats, st)
	}
	slices.SortFunc(sum.Files, func(a, b pipeline.FileEntry) int { return cmp.Compare(a.Name, b.Name) })
	_, err = putFile(ctx, f.Dir, summaryName, 1, func(w io.Writer) error { return json.NewEncoder(w).Encode(sum) })
	return err
}

func fileStatsPart(x fileStats) part        { return part{File: &x} }
func dupPart(x dupCount) part               { return part{Dup: &x} }
func writtenPart(x pipeline.FileEntry) part { return part{Written: &x} }
func usersPart(c shapeCount) part           { return part{Users: c.Rows} }
func itemsPart(c shapeCount) part           { return part{Items: c.Rows} }
func nnzPart(n int64) part                  { return part{NNZ: n} }
func lossPart(sweep int, l lossRec) part    { return part{Loss: &sweepLoss{sweep, l}} }
func keyZero(p part) (int, part)            { return 0, p }
