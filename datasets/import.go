// Package datasets imports public research datasets into the pipeline's
// own input tables (docs/contract.md), so that offline evaluation exercises
// the real ingest path on data nobody on this project wrote. Each importer
// maps what the dataset has and says, in its summary, what it lacks.
package datasets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"circles/data"
)

// Formats, as named on the command line.
const (
	FormatLastFM      = "hetrec-lastfm"
	FormatTang        = "tang"
	FormatBlogCatalog = "blogcatalog"
)

// Formats lists the importable formats.
func Formats() []string { return []string{FormatLastFM, FormatTang, FormatBlogCatalog} }

// Evaluation tasks a dataset can support.
const (
	TaskInterests = "interests" // held-out interactions with content
	// TaskMerchantInterests is held-out interactions with merchants, for
	// datasets whose items are businesses (the merchant table, which may
	// carry topics like content).
	TaskMerchantInterests = "merchant_interests"
	TaskFriends           = "friends" // held-out friendships
	TaskGroups            = "groups"  // held-out group memberships
)

// City is the one city every imported user and group is in: none of the
// datasets has locations, so the same-city rule holds but is vacuous.
const City = "unknown"

// minEventDays is the fewest daily event partitions an import writes: the
// default dismiss_ttl_days, which a run reads however short its window.
const minEventDays = 90

// SummaryFile is the import summary written at the root of an imported tree.
const SummaryFile = "import.json"

// Summary describes one import: what was written, what was skipped and
// why, and how the dataset was mapped where it lacks what the contract has.
type Summary struct {
	Format string `json:"format"`
	Source string `json:"source"`
	// Date is the run date of the imported tree: the last day with events
	// when the interactions are timed, else the stated import date.
	Date string `json:"date"`
	// WindowDays is the number of days with events, ending at Date: the
	// window_days of a run that uses every row.
	WindowDays int `json:"window_days"`
	// Days is the number of daily event partitions written, ending at Date:
	// WindowDays, and at least the default dismissal horizon of 90 days, so
	// that a run with default settings finds every day it reads.
	Days int `json:"days"`
	// Timed says the interactions carry their real times, so an evaluation
	// can split them by time; otherwise every row is dated Date.
	Timed   bool                      `json:"timed"`
	Rows    map[string]int            `json:"rows"`          // rows written per table
	Skipped map[string]map[string]int `json:"skipped_lines"` // source file → reason → lines
	Tasks   []string                  `json:"tasks"`         // evaluation tasks the data supports
	Notes   []string                  `json:"notes"`         // mapping decisions and what the data lacks
}

func (s *Summary) skip(file, reason string) {
	if s.Skipped[file] == nil {
		s.Skipped[file] = map[string]int{}
	}
	s.Skipped[file][reason]++
}

func (s *Summary) note(format string, args ...any) {
	s.Notes = append(s.Notes, fmt.Sprintf(format, args...))
}

// ErrOptions marks an import asked for wrongly (an unknown format, a
// destination that exists), as opposed to a source that cannot be read.
var ErrOptions = errors.New("bad import options")

// Options tune an import.
type Options struct {
	// Date is the stated date of rows the dataset does not date.
	Date time.Time
	// MaxBadLineFraction is the share of a file's lines that may be
	// skipped before the import fails: beyond it the file is more likely
	// in another format than dirty. Default 0.05.
	MaxBadLineFraction float64
}

// Import converts the dataset in src (in format) into an input tree at dst,
// which must not exist. The tree is written beside dst and renamed into
// place, so dst is either complete or absent.
func Import(ctx context.Context, format, src, dst string, opt Options) (*Summary, error) {
	var build func(b *builder) error
	switch format {
	case FormatLastFM:
		build = importLastFM
	case FormatTang:
		build = importTang
	case FormatBlogCatalog:
		build = importBlogCatalog
	default:
		return nil, fmt.Errorf("%w: unknown format %q; want one of %v", ErrOptions, format, Formats())
	}
	if _, err := os.Stat(dst); !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: destination %s exists; choose a new directory", ErrOptions, dst)
	}
	if opt.MaxBadLineFraction == 0 {
		opt.MaxBadLineFraction = 0.05
	}
	b := newBuilder(format, src, opt)
	if err := build(b); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sum := b.finish()
	tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".importing")
	if err := os.RemoveAll(tmp); err != nil {
		return nil, err
	}
	day, _ := data.ParseDate(sum.Date)
	if err := b.t.Write(tmp, day, sum.Days); err != nil {
		return nil, errors.Join(err, os.RemoveAll(tmp))
	}
	err := data.CreateSynced(filepath.Join(tmp, SummaryFile), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	})
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(tmp))
	}
	return sum, nil
}

// builder accumulates the tables of one import.
type builder struct {
	t       data.Tables
	src     string
	maxBad  float64   // see Options.MaxBadLineFraction
	date    time.Time // stated date of undated rows (midnight UTC)
	sum     *Summary
	users   map[int64]bool
	content map[int64]int // content id → index in t.Content
	pairs   map[[2]int64]bool
	// first and last are the UTC days of the earliest and latest timed
	// interaction; zero when none is timed.
	first, last time.Time
}

func newBuilder(format, src string, opt Options) *builder {
	return &builder{src: src, date: opt.Date, maxBad: opt.MaxBadLineFraction,
		sum:   &Summary{Format: format, Source: src, Rows: map[string]int{}, Skipped: map[string]map[string]int{}},
		users: map[int64]bool{}, content: map[int64]int{}, pairs: map[[2]int64]bool{}}
}

// user adds an active user of unknown age in City, once.
func (b *builder) user(id int64) {
	if !b.users[id] {
		b.users[id] = true
		b.t.Users = append(b.t.Users, data.UserRow{UserID: id, City: City, Status: "active"})
	}
}

// item adds a content item, once, and returns its row.
func (b *builder) item(id int64) *data.ContentRow {
	i, ok := b.content[id]
	if !ok {
		i = len(b.t.Content)
		b.content[id] = i
		b.t.Content = append(b.t.Content, data.ContentRow{ContentID: id, Topics: []string{}})
	}
	return &b.t.Content[i]
}

// friend adds a friendship between two users once per unordered pair and
// reports whether it was new.
func (b *builder) friend(u, v int64, at int64) bool {
	key := [2]int64{min(u, v), max(u, v)}
	if b.pairs[key] {
		return false
	}
	b.pairs[key] = true
	b.user(u)
	b.user(v)
	b.t.Relations = append(b.t.Relations, data.RelationRow{UserID: key[0], OtherID: key[1], Kind: "friend", CreatedAtMillis: at})
	return true
}

// interact adds an interaction with content at time ms.
func (b *builder) interact(u, item int64, action string, weight float32, ms int64) {
	b.user(u)
	b.item(item)
	w := weight
	b.t.Interactions = append(b.t.Interactions, data.Interaction{EventID: int64(len(b.t.Interactions) + 1), TimeMillis: ms,
		UserID: u, TargetKind: "content", TargetID: item, Action: action, Weight: &w})
}

// timed records that an interaction happened at ms.
func (b *builder) timed(ms int64) {
	day := time.UnixMilli(ms).UTC().Truncate(24 * time.Hour)
	if b.first.IsZero() || day.Before(b.first) {
		b.first = day
	}
	if day.After(b.last) {
		b.last = day
	}
}

// finish fills in the summary: the run date and window, row counts, and
// the caveats every import shares.
func (b *builder) finish() *Summary {
	s := b.sum
	s.Date, s.WindowDays, s.Timed = b.date.Format(data.DateLayout), 1, !b.first.IsZero()
	if s.Timed {
		s.Date = b.last.Format(data.DateLayout)
		s.WindowDays = int(b.last.Sub(b.first).Hours()/24) + 1
		s.note("interactions keep their real times, from %s to %s: a run that uses them all needs window_days = %d", b.first.Format(data.DateLayout), s.Date, s.WindowDays)
	} else {
		s.note("the dataset has no interaction times: every row is dated %s, so time decay is a no-op and evaluation splits at random", s.Date)
	}
	s.Days = max(s.WindowDays, minEventDays)
	s.note("no locations: every user and group is in city %q, so the same-city rule holds but is vacuous", City)
	s.note("no ages, opt-outs or account states: every user is active and not opted out, and of unknown age (which the policy treats as a minor, so every pair is minor–minor and allowed)")
	s.note("no money: the transactions table is empty, so there are no money ties")
	s.Rows[data.TableUsers], s.Rows[data.TableContent], s.Rows[data.TableRelations] = len(b.t.Users), len(b.t.Content), len(b.t.Relations)
	s.Rows[data.TableInteractions], s.Rows[data.TableGroups], s.Rows[data.TableMemberships] = len(b.t.Interactions), len(b.t.Groups), len(b.t.Memberships)
	for _, file := range slices.Sorted(maps.Keys(s.Skipped)) {
		for _, reason := range slices.Sorted(maps.Keys(s.Skipped[file])) {
			s.note("%s: %d lines skipped (%s)", file, s.Skipped[file][reason], reason)
		}
	}
	return s
}

// importLastFM maps HetRec 2011 Last.fm: an artist is a content item whose
// topics are its three most-applied tags, a play count is a weighted view,
// and a friendship is a friend relation.
func importLastFM(b *builder) error {
	at := b.date.UnixMilli()
	artists := delimited{name: "artists.dat", sep: '\t', header: true, cols: []column{{names: []string{"id"}}}}
	if err := artists.read(b, func(f [][]byte) string {
		id, ok := parseID(f[0])
		if !ok {
			return "bad_id"
		}
		b.item(id)
		return ""
	}); err != nil {
		return err
	}
	known := len(b.t.Content)
	plays := delimited{name: "user_artists.dat", sep: '\t', header: true, cols: []column{{names: []string{"userid"}}, {names: []string{"artistid"}}, {names: []string{"weight"}}}}
	if err := plays.read(b, func(f [][]byte) string {
		var u, a int64
		n, ok := parseFloat(f[2])
		switch {
		case !parseIDs(f, &u, &a) || !ok:
			return "bad_number"
		case !(n > 0 && n <= data.MaxWeight):
			return "play_count_not_positive"
		}
		b.interact(u, a, "view", float32(n), at)
		return ""
	}); err != nil {
		return err
	}
	if extra := len(b.t.Content) - known; extra > 0 {
		b.sum.note("user_artists.dat: %d artists missing from artists.dat were added to the catalogue", extra)
	}
	friends := delimited{name: "user_friends.dat", sep: '\t', header: true, cols: []column{{names: []string{"userid"}}, {names: []string{"friendid"}}}}
	listed := 0
	if err := friends.read(b, func(f [][]byte) string {
		var u, v int64
		switch {
		case !parseIDs(f, &u, &v):
			return "bad_number"
		case u == v:
			return "self_reference"
		}
		listed++
		b.friend(u, v, at)
		return ""
	}); err != nil {
		return err
	}
	b.sum.note("user_friends.dat: %d directed lines made %d friendships (the file lists both directions)", listed, len(b.t.Relations))
	names := map[int64]string{}
	tags := delimited{name: "tags.dat", sep: '\t', header: true, cols: []column{{names: []string{"tagid"}}, {names: []string{"tagvalue"}}}}
	if err := tags.read(b, func(f [][]byte) string {
		id, ok := parseID(f[0])
		if !ok {
			return "bad_id"
		}
		names[id] = lenient(f[1])
		return ""
	}); err != nil {
		return err
	}
	// users per (artist, tag): an artist's topics are its three tags
	// applied by the most users, ties to the lower tag ID
	type key struct{ artist, tag int64 }
	users := map[key]map[int64]bool{}
	tagged := delimited{name: "user_taggedartists.dat", sep: '\t', header: true, cols: []column{{names: []string{"userid"}}, {names: []string{"artistid"}}, {names: []string{"tagid"}}}}
	if err := tagged.read(b, func(f [][]byte) string {
		var u, a, t int64
		switch {
		case !parseIDs(f, &u, &a, &t):
			return "bad_number"
		case names[t] == "":
			return "unknown_tag"
		}
		k := key{a, t}
		if users[k] == nil {
			users[k] = map[int64]bool{}
		}
		users[k][u] = true
		return ""
	}); err != nil {
		return err
	}
	perArtist := map[int64][]key{}
	for k := range users {
		perArtist[k.artist] = append(perArtist[k.artist], k)
	}
	for _, a := range slices.Sorted(maps.Keys(perArtist)) {
		ks := perArtist[a]
		slices.SortFunc(ks, func(x, y key) int {
			if c := len(users[y]) - len(users[x]); c != 0 {
				return c
			}
			return int(x.tag - y.tag)
		})
		row := b.item(a)
		for _, k := range ks[:min(3, len(ks))] {
			row.Topics = append(row.Topics, names[k.tag])
		}
	}
	b.sum.note("user_taggedartists.dat: tags became artist topics (the three most-applied per artist); the tagging dates (years %s) are not used as interaction times because the play counts, the signal evaluated, have none", "1956–2011 in the file, some implausible")
	b.sum.Tasks = []string{TaskInterests, TaskFriends}
	return nil
}

// importTang maps the Ciao/Epinions release of Tang et al.: a product is a
// content item whose topic is its category, a rating is a weighted comment
// (every rating there is a written review), and a trust edge is a friend
// relation (the contract's friendships are undirected).
func importTang(b *builder) error {
	type rating struct {
		u, item, cat int64
		r            float64
		t            int64
	}
	var rs []rating
	ratings := delimited{name: "rating.tsv", sep: '\t', header: true, cols: []column{
		{names: []string{"user_id", "userid"}}, {names: []string{"item_id", "itemid", "product_id", "productid"}},
		{names: []string{"category_id", "categoryid"}}, {names: []string{"rating"}},
		{names: []string{"timestamp", "time_point", "timepoint"}}}}
	if err := ratings.read(b, func(f [][]byte) string {
		var u, it, c int64
		r, ok1 := parseFloat(f[3])
		t, ok2 := parseID(f[4])
		switch {
		case !parseIDs(f, &u, &it, &c) || !ok1 || !ok2:
			return "bad_number"
		case !(r > 0 && r <= 5):
			return "rating_outside_1_5"
		}
		rs = append(rs, rating{u, it, c, r, t})
		return ""
	}); err != nil {
		return err
	}
	type edge struct{ u, v, t int64 }
	var es []edge
	timedTrust := false
	trust := delimited{name: "trust.tsv", sep: '\t', header: true, cols: []column{
		{names: []string{"truster_id", "trusterid", "user_id"}}, {names: []string{"trustee_id", "trusteeid", "other_id"}},
		{names: []string{"time_point", "timepoint", "timestamp"}, optional: true}}}
	if err := trust.read(b, func(f [][]byte) string {
		var u, v, t int64
		ok := true
		if f[2] != nil {
			t, ok = parseID(f[2])
			timedTrust = true
		}
		switch {
		case !parseIDs(f, &u, &v) || !ok:
			return "bad_number"
		case u == v:
			return "self_reference"
		}
		es = append(es, edge{u, v, t})
		return ""
	}); err != nil {
		return err
	}
	// one scale over both files, so that ordinal points of ratings and
	// trust stay comparable
	toMillis := timeScale(b, func(yield func(int64) bool) {
		for _, r := range rs {
			if !yield(r.t) {
				return
			}
		}
		for _, e := range es {
			if timedTrust && !yield(e.t) {
				return
			}
		}
	})
	cats := map[int64]map[int64]bool{}
	for _, r := range rs {
		ms := toMillis(r.t)
		b.timed(ms)
		b.interact(r.u, r.item, "comment", float32(r.r), ms)
		if cats[r.item] == nil {
			cats[r.item] = map[int64]bool{}
		}
		cats[r.item][r.cat] = true
	}
	for _, it := range slices.Sorted(maps.Keys(cats)) {
		row := b.item(it)
		for _, c := range slices.Sorted(maps.Keys(cats[it])) {
			row.Topics = append(row.Topics, "category "+strconv.FormatInt(c, 10))
		}
	}
	trustMillis := func(int64) int64 { return b.endOfData() }
	if timedTrust {
		trustMillis = toMillis
	}
	for _, e := range es {
		b.friend(e.u, e.v, trustMillis(e.t))
	}
	b.sum.note("trust.tsv: %d directed trust lines made %d undirected friendships (mutual trust is one friendship)", len(es), len(b.t.Relations))
	b.sum.Tasks = []string{TaskInterests, TaskFriends}
	return nil
}

// endOfData is the time of undated rows in a timed import: the start of the
// last day with events, or the stated date when nothing is timed.
func (b *builder) endOfData() int64 {
	if b.last.IsZero() {
		return b.date.UnixMilli()
	}
	return b.last.UnixMilli()
}

// timeScale decides how a time column reads. Values from 10⁸ on (March
// 1973) are Unix seconds. Smaller ones are ordinal time points (some
// releases number periods instead of dating them): point p is placed p−max
// days before the stated date, which keeps their order, all a time split
// needs, and the summary says the calendar dates are not real.
func timeScale(b *builder, values func(yield func(int64) bool)) func(int64) int64 {
	lo, hi, any := int64(0), int64(0), false
	for v := range values {
		if !any || v < lo {
			lo = v
		}
		if !any || v > hi {
			hi = v
		}
		any = true
	}
	if !any || lo >= 1e8 {
		return func(v int64) int64 { return v * 1000 }
	}
	b.sum.note("times are ordinal points %d..%d, not dates; point p is dated %d−p days before %s to keep their order", lo, hi, hi, b.date.Format(data.DateLayout))
	end := b.date.UnixMilli()
	return func(v int64) int64 { return end - (hi-v)*86_400_000 }
}

// importBlogCatalog maps BlogCatalog: bloggers are users, the friendship
// graph gives friend relations, and the 39 topical groups are groups with
// no topics (the release names none) joined on the stated date.
func importBlogCatalog(b *builder) error {
	at := b.date.UnixMilli()
	nodes := delimited{name: "nodes.csv", sep: ',', cols: []column{{pos: 0}}}
	if err := nodes.read(b, func(f [][]byte) string {
		id, ok := parseID(f[0])
		if !ok {
			return "bad_id"
		}
		b.user(id)
		return ""
	}); err != nil {
		return err
	}
	groups := map[int64]bool{}
	gfile := delimited{name: "groups.csv", sep: ',', cols: []column{{pos: 0}}}
	if err := gfile.read(b, func(f [][]byte) string {
		id, ok := parseID(f[0])
		switch {
		case !ok:
			return "bad_id"
		case groups[id]:
			return "duplicate_group"
		}
		groups[id] = true
		b.t.Groups = append(b.t.Groups, data.GroupRow{GroupID: id, City: City, Topics: []string{}, Status: "active", CreatedAtMillis: at})
		return ""
	}); err != nil {
		return err
	}
	edges := delimited{name: "edges.csv", sep: ',', cols: []column{{pos: 0}, {pos: 1}}}
	if err := edges.read(b, func(f [][]byte) string {
		var u, v int64
		switch {
		case !parseIDs(f, &u, &v):
			return "bad_number"
		case u == v:
			return "self_reference"
		case !b.friend(u, v, at):
			return "duplicate_edge"
		}
		return ""
	}); err != nil {
		return err
	}
	seen := map[[2]int64]bool{}
	members := delimited{name: "group-edges.csv", sep: ',', cols: []column{{pos: 0}, {pos: 1}}}
	if err := members.read(b, func(f [][]byte) string {
		var u, g int64
		switch {
		case !parseIDs(f, &u, &g):
			return "bad_number"
		case !groups[g]:
			return "unknown_group"
		case seen[[2]int64{u, g}]:
			return "duplicate_membership"
		}
		seen[[2]int64{u, g}] = true
		b.user(u)
		b.t.Memberships = append(b.t.Memberships, data.MembershipRow{GroupID: g, UserID: u, JoinedAtMillis: at})
		return ""
	}); err != nil {
		return err
	}
	b.sum.note("no interactions: the interactions table is empty, so the interest model learns from group memberships alone")
	b.sum.Tasks = []string{TaskFriends, TaskGroups}
	return nil
}
