package jobs

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"circles/data"
	"circles/features"
	"circles/models"
	"circles/output"
	"circles/pipeline"
)

// Stage names a run can recompute on top of a base run (-stages).
const (
	StageInterests = "interests"
	StageGroups    = "groups" // group and activity suggestions
	StageFriends   = "friends"
)

// ParseUserList reads one user ID per line; blank lines and lines starting
// with # are skipped. An error names the line.
func ParseUserList(r io.Reader) ([]int64, error) {
	var ids []int64
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, err := strconv.ParseInt(line, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: %q is not a user ID", n, line)
		}
		ids = append(ids, id)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return ids, nil
}

// ReadUserList reads a user list file for -users.
func ReadUserList(path string) ([]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, UsageError("-users: %v", err)
	}
	ids, err := ParseUserList(f)
	if err := errors.Join(err, f.Close()); err != nil {
		return nil, UsageError("-users %s: %v", path, err)
	}
	if len(ids) == 0 {
		return nil, UsageError("-users %s: no user IDs", path)
	}
	return ids, nil
}

// A baseRun is the published run a rerun builds on (RunConfig.Base). The
// stages consult it to reuse or merge what they would otherwise compute;
// a nil *baseRun is a fresh run, for which every method says so.
type baseRun struct {
	dir    string
	m      output.Manifest
	stages []string       // the stages recomputed; empty: all
	listed map[int64]bool // the users recomputed (external IDs); nil: all
}

// openBase reads the base run of cfg, nil when there is none.
func openBase(cfg RunConfig) (*baseRun, error) {
	if cfg.Base == "" {
		return nil, nil
	}
	m, err := output.ReadManifest(cfg.Base)
	if err != nil {
		return nil, UsageError("-base: %v", err)
	}
	if date := cfg.Date.Format(data.DateLayout); m.Date != date {
		return nil, UsageError("-base %s is a run of %s, not of -date %s", cfg.Base, m.Date, date)
	}
	b := &baseRun{dir: cfg.Base, m: m, stages: cfg.Stages}
	if cfg.Users != nil {
		b.listed = make(map[int64]bool, len(cfg.Users))
		for _, id := range cfg.Users {
			b.listed[id] = true
		}
	}
	return b, nil
}

// reuses reports whether stage's outputs are copied from the base run:
// the run names the stages it recomputes, and not this one.
func (b *baseRun) reuses(stage string) bool {
	return b != nil && len(b.stages) > 0 && !slices.Contains(b.stages, stage)
}

// subset reports whether only some users are recomputed.
func (b *baseRun) subset() bool { return b != nil && b.listed != nil }

// only marks the users recomputed by dense index; nil when all are.
func (b *baseRun) only(d *data.Dims) []bool {
	if !b.subset() {
		return nil
	}
	only := make([]bool, d.Users.Len())
	for id := range b.listed {
		if u := d.Users.Lookup(id); u >= 0 {
			only[u] = true
		}
	}
	return only
}

// factors loads the base run's interest model into this run's
// dense indices: user vectors from user_interests.parquet, item vectors
// from item_factors.parquet. Users and items the base run did not have get
// zero vectors.
func (b *baseRun) factors(d *data.Dims, f *features.Features, k int) (*models.ALS, error) {
	dir := b.dir
	users, err := data.ReadParquet[data.UserInterest](filepath.Join(dir, output.FileInterests))
	if err != nil {
		return nil, err
	}
	items, err := data.ReadParquet[data.ItemFactor](filepath.Join(dir, output.FileItemFactors))
	if err != nil {
		return nil, err
	}
	m := models.NewALS(d.Users.Len(), int(f.Items.N), k)
	for _, r := range users {
		if len(r.Vector) != k {
			return nil, UsageError("-base %s has %d factors, this run %d; set -factors to match", dir, len(r.Vector), k)
		}
		if u := d.Users.Lookup(r.UserID); u >= 0 {
			copyVector(m.Users.RawRowView(int(u)), r.Vector)
		}
	}
	for _, r := range items {
		if len(r.Vector) != k {
			return nil, UsageError("-base %s has %d factors, this run %d; set -factors to match", dir, len(r.Vector), k)
		}
		if i := itemIndex(d, f, r.Kind, r.ItemID); i >= 0 {
			copyVector(m.Items.RawRowView(int(i)), r.Vector)
		}
	}
	return m, nil
}

func copyVector(dst []float64, src []float32) {
	for j, v := range src {
		dst[j] = float64(v)
	}
}

// itemKinds names the item tables in item-space order.
var itemKinds = [...]string{"group", "activity", "content", "merchant"}

func itemIndex(d *data.Dims, f *features.Features, kind string, id int64) int32 {
	it := f.Items
	switch kind {
	case itemKinds[0]:
		if g := d.Groups.Lookup(id); g >= 0 {
			return it.Group(g)
		}
	case itemKinds[1]:
		if a := d.Activities.Lookup(id); a >= 0 {
			return it.Activity(a)
		}
	case itemKinds[2]:
		if c := d.Contents.Lookup(id); c >= 0 {
			return it.Content(c)
		}
	case itemKinds[3]:
		if m := d.Merchants.Lookup(id); m >= 0 {
			return it.Merchant(m)
		}
	}
	return -1
}

// itemFactors lists every item's vector, in item-space order.
func itemFactors(d *data.Dims, f *features.Features, als *models.ALS) []data.ItemFactor {
	it := f.Items
	out := make([]data.ItemFactor, 0, it.N)
	add := func(kind string, id int64, i int32) {
		row := als.Items.RawRowView(int(i))
		v := make([]float32, len(row))
		for j, x := range row {
			v[j] = float32(x)
		}
		out = append(out, data.ItemFactor{Kind: kind, ItemID: id, Vector: v})
	}
	for g := range int32(d.Groups.Len()) {
		add(itemKinds[0], d.Groups.ID(g), it.Group(g))
	}
	for a := range int32(d.Activities.Len()) {
		add(itemKinds[1], d.Activities.ID(a), it.Activity(a))
	}
	for c := range int32(d.Contents.Len()) {
		add(itemKinds[2], d.Contents.ID(c), it.Content(c))
	}
	for m := range int32(d.Merchants.Len()) {
		add(itemKinds[3], d.Merchants.ID(m), it.Merchant(m))
	}
	return out
}

// mergeUsers keeps base's rows of users not in listed and fresh's rows of
// users in listed, ordered by user ID; each user's rows stay in rank order.
func mergeUsers[T any](base, fresh []T, user func(T) int64, listed map[int64]bool) []T {
	out := make([]T, 0, len(base)+len(fresh))
	for _, r := range base {
		if !listed[user(r)] {
			out = append(out, r)
		}
	}
	for _, r := range fresh {
		if listed[user(r)] {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b T) int { return cmp.Compare(user(a), user(b)) })
	return out
}

// withBase is rank for every run but a subset run, which ranks only the
// users it recomputes: for it, the fresh rows are merged over the base
// run's output name and handed on as one chunk.
func withBase[T any](b *baseRun, name string, rank func(emit func([]T) error) error, user func(T) int64) func(emit func([]T) error) error {
	if !b.subset() {
		return rank
	}
	return func(emit func([]T) error) error {
		var fresh []T
		if err := rank(func(rows []T) error {
			fresh = append(fresh, rows...)
			return nil
		}); err != nil {
			return err
		}
		rows, err := mergeWithBase(b, name, fresh, user)
		if err != nil {
			return err
		}
		return emit(rows)
	}
}

// mergeWithBase merges the fresh rows of the users a subset run
// recomputes over the base run's output name; other runs keep fresh.
func mergeWithBase[T any](b *baseRun, name string, fresh []T, user func(T) int64) ([]T, error) {
	if !b.subset() {
		return fresh, nil
	}
	old, err := data.ReadParquet[T](filepath.Join(b.dir, name))
	if err != nil {
		return nil, err
	}
	return mergeUsers(old, fresh, user, b.listed), nil
}

// copy copies the base run's output files into the staging directory
// byte for byte, with the row counts its manifest records.
func (b *baseRun) copy(st *pipeline.Staging, names ...string) (written, error) {
	files := written{}
	for _, name := range names {
		i := slices.IndexFunc(b.m.Outputs, func(o pipeline.FileEntry) bool { return o.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("base run %s has no %s to reuse", b.dir, name)
		}
		src, err := os.Open(filepath.Join(b.dir, name))
		if err != nil {
			return nil, err
		}
		err = data.CreateSynced(st.Path(name), func(w io.Writer) error {
			_, err := io.Copy(w, src)
			return err
		})
		if err := errors.Join(err, src.Close()); err != nil {
			return nil, fmt.Errorf("copy %s from base: %w", name, err)
		}
		files[name] = b.m.Outputs[i].Rows
	}
	return files, nil
}
