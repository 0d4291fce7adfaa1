package night

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"path/filepath"
	"slices"

	"circles/data"
	"circles/jobs"
)

// Writing on Beam: each output is written in shards, one file per shard
// by the worker that holds it, rows sorted by ID within a shard. Shard
// files go straight into the run's staging directory; nothing is visible
// until the driver publishes it.

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

// factorRow is one row of a factor output.
type factorRow struct {
	Kind byte
	ID   int64
	Vec  []float32
}

// writeUsersFn writes one shard of user_factors.
type writeUsersFn struct {
	Dir    string
	Shards int
}

func (f *writeUsersFn) ProcessElement(shard int, rows func(*factorRow) bool, done func(written)) error {
	var out []data.UserInterest
	var r factorRow
	for rows(&r) {
		out = append(out, data.UserInterest{UserID: r.ID, Vector: r.Vec})
	}
	slices.SortFunc(out, func(a, b data.UserInterest) int { return cmp.Compare(a.UserID, b.UserID) })
	name := ShardName(FileUserFactors, shard, f.Shards)
	if err := data.WriteParquet(filepath.Join(f.Dir, name), out); err != nil {
		return err
	}
	done(written{Name: name, Rows: int64(len(out))})
	return nil
}

// writeItemsFn writes one shard of item_factors.
type writeItemsFn struct {
	Dir    string
	Shards int
}

func (f *writeItemsFn) ProcessElement(shard int, rows func(*factorRow) bool, done func(written)) error {
	var out []data.ItemFactor
	var r factorRow
	for rows(&r) {
		out = append(out, data.ItemFactor{Kind: targetKind(r.Kind).String(), ItemID: r.ID, Vector: r.Vec})
	}
	slices.SortFunc(out, func(a, b data.ItemFactor) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.ItemID, b.ItemID))
	})
	name := ShardName(FileItemFactors, shard, f.Shards)
	if err := data.WriteParquet(filepath.Join(f.Dir, name), out); err != nil {
		return err
	}
	done(written{Name: name, Rows: int64(len(out))})
	return nil
}

// written is one file a step wrote, with its rows.
type written struct {
	Name string
	Rows int64
}

// writeRejectsFn writes rejects.parquet in the local driver's order.
type writeRejectsFn struct {
	Dir string
}

func (f *writeRejectsFn) ProcessElement(_ int, rows func(*rejectRec) bool, done func(written)) error {
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
	if err := data.WriteParquet(filepath.Join(f.Dir, "rejects.parquet"), out); err != nil {
		return err
	}
	done(written{Name: "rejects.parquet", Rows: int64(len(out))})
	return nil
}

// Summary is what the pipeline hands the driver for the manifest: the
// input tables' counts in the local driver's order, the files written,
// and the model's shape.
type Summary struct {
	Stats        []data.TableStats
	Files        []written
	Users, Items int
	Observations int64
}

// part is one piece of the summary: a file's counts, a duplicate, a file
// written, or a side's rows and observations.
type part struct {
	File    *fileStats
	Dup     *dupCount
	Written *written
	Users   int
	Items   int
	NNZ     int64
}

// summaryFn sums the event files' counts, less their duplicates, per table
// in read order, adds the snapshots' and writes the summary for the
// driver.
type summaryFn struct {
	Path  string // where the summary is written, outside the staging directory
	Input string
	Date  int64
}

func (f *summaryFn) ProcessElement(ctx context.Context, _ int, parts func(*part) bool) error {
	d, err := loadDims(ctx, f.Input, f.Date)
	if err != nil {
		return err
	}
	sum := Summary{Stats: slices.Clone(d.Stats)}
	var files []fileStats
	dups := map[dupCount]int64{}
	var p part
	for parts(&p) {
		switch {
		case p.File != nil:
			files = append(files, *p.File)
		case p.Dup != nil:
			dups[*p.Dup]++
		case p.Written != nil:
			sum.Files = append(sum.Files, *p.Written)
		}
		sum.Users += p.Users
		sum.Items += p.Items
		sum.Observations += p.NNZ
		p = part{}
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
	jobs.RelativeToInput(f.Input, sum.Stats, nil)
	slices.SortFunc(sum.Files, func(a, b written) int { return cmp.Compare(a.Name, b.Name) })
	return data.CreateSynced(f.Path, func(w io.Writer) error { return json.NewEncoder(w).Encode(sum) })
}

func fileStatsPart(x fileStats) part   { return part{File: &x} }
func dupPart(x dupCount) part          { return part{Dup: &x} }
func writtenPart(x written) part       { return part{Written: &x} }
func usersPart(c shapeCount) part      { return part{Users: c.Rows} }
func itemsPart(c shapeCount) part      { return part{Items: c.Rows} }
func nnzPart(_ string, _ float64) part { return part{NNZ: 1} }
func keyZero(p part) (int, part)       { return 0, p }
