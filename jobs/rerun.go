package jobs

import (
	"bufio"
	"cmp"
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
		return nil, usageError("-users: %v", err)
	}
	defer f.Close()
	ids, err := ParseUserList(f)
	if err != nil {
		return nil, usageError("-users %s: %v", path, err)
	}
	if len(ids) == 0 {
		return nil, usageError("-users %s: no user IDs", path)
	}
	return ids, nil
}

// baseFactors loads a published run's interest model into this run's
// dense indices: user vectors from user_interests.parquet, item vectors
// from item_factors.parquet. Users and items the base run did not have get
// zero vectors.
func baseFactors(dir string, d *data.Dims, f *features.Features, k int) (*models.ALS, error) {
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
			return nil, usageError("-base %s has %d factors, this run %d; set -factors to match", dir, len(r.Vector), k)
		}
		if u := d.Users.Lookup(r.UserID); u >= 0 {
			copyVector(m.Users.RawRowView(int(u)), r.Vector)
		}
	}
	for _, r := range items {
		if len(r.Vector) != k {
			return nil, usageError("-base %s has %d factors, this run %d; set -factors to match", dir, len(r.Vector), k)
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

// mergeWithBase reads a base output and merges fresh rows over it.
func mergeWithBase[T any](base, name string, fresh []T, user func(T) int64, listed map[int64]bool) ([]T, error) {
	old, err := data.ReadParquet[T](filepath.Join(base, name))
	if err != nil {
		return nil, err
	}
	return mergeUsers(old, fresh, user, listed), nil
}

// copyFromBase copies a base run's output files into the staging
// directory byte for byte, with the row counts its manifest records.
func copyFromBase(st *pipeline.Staging, rows map[string]int64, base *output.Manifest, baseDir string, names ...string) error {
	for _, name := range names {
		i := slices.IndexFunc(base.Outputs, func(o pipeline.FileEntry) bool { return o.Name == name })
		if i < 0 {
			return fmt.Errorf("base run %s has no %s to reuse", baseDir, name)
		}
		src, err := os.Open(filepath.Join(baseDir, name))
		if err != nil {
			return err
		}
		err = data.CreateSynced(st.Path(name), func(w io.Writer) error {
			_, err := io.Copy(w, src)
			return err
		})
		src.Close()
		if err != nil {
			return fmt.Errorf("copy %s from base: %w", name, err)
		}
		rows[name] = base.Outputs[i].Rows
	}
	return nil
}
