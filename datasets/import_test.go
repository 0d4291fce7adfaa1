package datasets

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"circles/data"
)

var stated = time.Date(2011, 12, 31, 0, 0, 0, 0, time.UTC)

// importTestdata imports testdata/name and reads the tree back.
func importTestdata(t *testing.T, format, name string) (*Summary, *data.Tables) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "out")
	sum, err := Import(context.Background(), format, filepath.Join("testdata", name), dst, Options{Date: stated, MaxBadLineFraction: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	onDisk, err := ReadSummary(dst)
	if err != nil || onDisk.Date != sum.Date || onDisk.Days != sum.Days || sum.Days != max(sum.WindowDays, 90) {
		t.Fatalf("summary on disk %+v (%v), returned %+v", onDisk, err, sum)
	}
	day, _ := data.ParseDate(sum.Date)
	tables, err := data.ReadTables(dst, day)
	if err != nil {
		t.Fatal(err)
	}
	return sum, tables
}

func TestImportLastFM(t *testing.T) {
	t.Parallel()
	sum, tb := importTestdata(t, FormatLastFM, "lastfm")
	if sum.Timed || sum.Date != "2011-12-31" || sum.WindowDays != 1 {
		t.Errorf("timed %v date %s window %d days, want undated at the stated date", sum.Timed, sum.Date, sum.WindowDays)
	}
	// 9 play lines: one zero count and one bad number skipped
	if len(tb.Interactions) != 7 || sum.Skipped["user_artists.dat"]["play_count_not_positive"] != 1 || sum.Skipped["user_artists.dat"]["bad_number"] != 1 {
		t.Errorf("%d interactions, skipped %v", len(tb.Interactions), sum.Skipped)
	}
	first := tb.Interactions[0]
	if first.UserID != 10 || first.TargetID != 1 || first.Action != "view" || first.TargetKind != "content" || first.Weight == nil || *first.Weight != 1023 || first.TimeMillis != stated.UnixMilli() {
		t.Errorf("first interaction %+v", first)
	}
	// both directions listed once each: 10–11 and 11–12; 12–12 skipped
	if len(tb.Relations) != 2 || sum.Skipped["user_friends.dat"]["self_reference"] != 1 {
		t.Errorf("relations %+v, skipped %v", tb.Relations, sum.Skipped)
	}
	// artist 5 is played but not listed: added to the catalogue
	ids := map[int64][]string{}
	for _, c := range tb.Content {
		ids[c.ContentID] = c.Topics
	}
	if len(ids) != 5 {
		t.Errorf("catalogue %v, want artists 1–5", ids)
	}
	// artist 1: rock by 2 users, live by 3, jazz by 1 → live, rock, jazz;
	// artist 4's tag is Latin-1 and decodes leniently; tag 9 is unknown
	if got := ids[1]; !slices.Equal(got, []string{"live", "rock", "jazz"}) {
		t.Errorf("artist 1 topics %q", got)
	}
	if got := ids[4]; !slices.Equal(got, []string{"kölsch pop"}) {
		t.Errorf("artist 4 topics %q", got)
	}
	if sum.Skipped["user_taggedartists.dat"]["unknown_tag"] != 1 {
		t.Errorf("skipped %v", sum.Skipped)
	}
	for _, u := range tb.Users {
		if u.City != City || u.Status != "active" || u.BirthYear != nil || u.IsMinor != nil {
			t.Errorf("user %+v: want active in %s with unknown age", u, City)
		}
	}
	if !slices.Equal(sum.Tasks, []string{TaskInterests, TaskFriends}) || !notesMention(sum, "no interaction times") || !notesMention(sum, "city") {
		t.Errorf("tasks %v notes %q", sum.Tasks, sum.Notes)
	}
}

func TestImportTangUnixTimes(t *testing.T) {
	t.Parallel()
	sum, tb := importTestdata(t, FormatTang, "tang")
	// five ratings; one of 6 is outside 1–5
	if !sum.Timed || sum.Date != "2001-09-12" || sum.WindowDays != 4 || len(tb.Interactions) != 5 {
		t.Fatalf("summary %+v, %d interactions", sum, len(tb.Interactions))
	}
	r := tb.Interactions[1]
	if r.UserID != 1 || r.TargetID != 101 || r.Action != "comment" || *r.Weight != 2 || r.TimeMillis != 1000086400_000 {
		t.Errorf("second rating %+v", r)
	}
	topics := map[int64][]string{}
	for _, c := range tb.Content {
		topics[c.ContentID] = c.Topics
	}
	// item 101 is rated in two categories
	if !slices.Equal(topics[101], []string{"category 3", "category 5"}) || !slices.Equal(topics[102], []string{"category 7"}) {
		t.Errorf("topics %v", topics)
	}
	// 1→2 and 2→1 are one friendship; 3→3 is skipped
	if len(tb.Relations) != 2 || sum.Skipped["trust.tsv"]["self_reference"] != 1 {
		t.Errorf("relations %+v", tb.Relations)
	}
}

func TestImportTangTimePoints(t *testing.T) {
	t.Parallel()
	sum, tb := importTestdata(t, FormatTang, "tang-timepoint")
	// points 1, 2, 4 are dated 3, 2 and 0 days before the stated date
	want := []int64{stated.AddDate(0, 0, -3).UnixMilli(), stated.AddDate(0, 0, -2).UnixMilli(), stated.UnixMilli()}
	var got []int64
	for _, r := range tb.Interactions {
		got = append(got, r.TimeMillis)
	}
	if !slices.Equal(got, want) || sum.WindowDays != 4 || !notesMention(sum, "ordinal") {
		t.Errorf("times %v, want %v; summary %+v", got, want, sum)
	}
	if len(tb.Relations) != 2 || tb.Relations[0].CreatedAtMillis != stated.AddDate(0, 0, -1).UnixMilli() {
		t.Errorf("relations %+v", tb.Relations)
	}
}

func TestImportBlogCatalog(t *testing.T) {
	t.Parallel()
	sum, tb := importTestdata(t, FormatBlogCatalog, "blogcatalog")
	// 3–4 and 4–3 are one edge, listed as a duplicate
	if len(tb.Users) != 5 || len(tb.Groups) != 3 || len(tb.Relations) != 4 || sum.Skipped["edges.csv"]["duplicate_edge"] != 1 {
		t.Errorf("users %d groups %d relations %d, skipped %v", len(tb.Users), len(tb.Groups), len(tb.Relations), sum.Skipped)
	}
	if len(tb.Memberships) != 5 || sum.Skipped["group-edges.csv"]["unknown_group"] != 1 {
		t.Errorf("memberships %+v, skipped %v", tb.Memberships, sum.Skipped)
	}
	if m := tb.Memberships[1]; m.UserID != 1 || m.GroupID != 2 {
		t.Errorf("second membership %+v, want user 1 in group 2 (columns are user,group)", m)
	}
	if len(tb.Interactions) != 0 || !slices.Equal(sum.Tasks, []string{TaskFriends, TaskGroups}) {
		t.Errorf("interactions %d, tasks %v", len(tb.Interactions), sum.Tasks)
	}
}

func TestImportErrorsNameTheProblem(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	noHeader := filepath.Join(dir, "noheader")
	tooBad := filepath.Join(dir, "toobad")
	for _, err := range []error{
		os.MkdirAll(noHeader, 0o755),
		os.WriteFile(filepath.Join(noHeader, "rating.tsv"), []byte("user_id\titem\tcategory_id\trating\ttimestamp\n"), 0o644),
		os.MkdirAll(tooBad, 0o755),
		os.WriteFile(filepath.Join(tooBad, "nodes.csv"), []byte("1\nx\ny\n"), 0o644),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		format, src, want string
		bad               bool
	}{
		{FormatLastFM, filepath.Join(dir, "missing"), "artists.dat", true},
		{FormatTang, noHeader, "item_id", true},
		{FormatBlogCatalog, tooBad, "2 of 3 lines", true},
		{"movielens", noHeader, "unknown format", false},
	} {
		dst := filepath.Join(dir, "out-"+c.format)
		_, err := Import(context.Background(), c.format, c.src, dst, Options{Date: stated})
		if err == nil || !strings.Contains(err.Error(), c.want) || errors.Is(err, data.ErrBadInput) != c.bad {
			t.Errorf("%s: err = %v, want mention of %q (bad input %v)", c.format, err, c.want, c.bad)
		}
		if _, serr := os.Stat(dst); serr == nil {
			t.Errorf("%s: destination written despite the error", c.format)
		}
	}
}

func notesMention(s *Summary, word string) bool {
	return slices.ContainsFunc(s.Notes, func(n string) bool { return strings.Contains(n, word) })
}

// FuzzLineReader feeds arbitrary text to the delimited reader: it never
// panics, and every data line is either used or skipped with a reason.
func FuzzLineReader(f *testing.F) {
	f.Add([]byte("userID\tartistID\tweight\n1\t2\t3\n"))
	f.Add([]byte("userID\tartistID\n\n1\t\t\r\nx"))
	f.Add([]byte("a\tb\tc\n1\t2\t3\t4\t5\n\xff\t\x00\t9"))
	f.Fuzz(func(t *testing.T, text []byte) {
		sum := &Summary{Format: "fuzz", Skipped: map[string]map[string]int{}}
		lr := &lineReader{path: "fuzz", sum: sum, maxBad: 1}
		d := delimited{name: "f", sep: '\t', header: true, cols: []column{{names: []string{"userid"}}, {names: []string{"artistid"}}, {names: []string{"weight"}, optional: true}}}
		used := 0
		err := lr.scan(strings.NewReader(string(text)), d, func(f [][]byte) string {
			if _, ok := parseID(f[0]); !ok {
				return "bad_number"
			}
			used++
			return ""
		})
		if err != nil {
			return // a header without the columns, or an over-long line
		}
		skipped := 0
		for _, n := range sum.Skipped["f"] {
			skipped += n
		}
		if used+skipped != lr.lines {
			t.Errorf("%d lines, %d used + %d skipped", lr.lines, used, skipped)
		}
	})
}
