package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"circles/datasets"
	"circles/eval"
)

// writeCommunities writes a tiny generated world in the HetRec Last.fm and
// BlogCatalog formats: 90 users in 3 communities, each listening to its own
// 15 artists, befriending mostly its own members and joining its own 10 of
// 30 groups.
// Community structure is what every collaborative method should find, so
// the tuned model has to beat most-popular.
func writeCommunities(t *testing.T, dir string) (lastfm, blog string) {
	t.Helper()
	r := rand.New(rand.NewPCG(3, 3))
	lastfm, blog = filepath.Join(dir, "lastfm-src"), filepath.Join(dir, "blog-src")
	for _, d := range []string{lastfm, blog} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const users, artists = 90, 45
	community := func(u int) int { return u % 3 }
	var plays, friends, artistsFile, tags, tagged, edges, members, nodes, groups strings.Builder
	for g := range 30 {
		fmt.Fprintf(&groups, "%d\n", g+1)
	}
	plays.WriteString("userID\tartistID\tweight\n")
	friends.WriteString("userID\tfriendID\n")
	artistsFile.WriteString("id\tname\turl\tpictureURL\n")
	tags.WriteString("tagID\ttagValue\n1\tgenre zero\n2\tgenre one\n3\tgenre two\n")
	tagged.WriteString("userID\tartistID\ttagID\tday\tmonth\tyear\n")
	for a := range artists {
		fmt.Fprintf(&artistsFile, "%d\tartist %d\thttp://example.org/%d\t\n", a+1, a, a)
		fmt.Fprintf(&tagged, "1\t%d\t%d\t1\t1\t2010\n", a+1, a%3+1)
	}
	for u := range users {
		fmt.Fprintf(&nodes, "%d\n", u+1)
		for a := range artists {
			if a%3 == community(u) && r.Float64() < 0.6 || r.Float64() < 0.03 {
				fmt.Fprintf(&plays, "%d\t%d\t%d\n", u+1, a+1, 1+r.IntN(500))
			}
		}
		for v := u + 1; v < users; v++ {
			if community(u) == community(v) && r.Float64() < 0.3 || r.Float64() < 0.01 {
				fmt.Fprintf(&friends, "%d\t%d\n%d\t%d\n", u+1, v+1, v+1, u+1)
				fmt.Fprintf(&edges, "%d,%d\n", u+1, v+1)
			}
		}
		for g := range 30 {
			if g%3 == community(u) && r.Float64() < 0.25 || r.Float64() < 0.02 {
				fmt.Fprintf(&members, "%d,%d\n", u+1, g+1)
			}
		}
	}
	files := map[string]string{
		filepath.Join(lastfm, "user_artists.dat"): plays.String(), filepath.Join(lastfm, "user_friends.dat"): friends.String(),
		filepath.Join(lastfm, "artists.dat"): artistsFile.String(), filepath.Join(lastfm, "tags.dat"): tags.String(),
		filepath.Join(lastfm, "user_taggedartists.dat"): tagged.String(),
		filepath.Join(blog, "nodes.csv"):                nodes.String(), filepath.Join(blog, "groups.csv"): groups.String(),
		filepath.Join(blog, "edges.csv"): edges.String(), filepath.Join(blog, "group-edges.csv"): members.String(),
	}
	for path, text := range files {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return lastfm, blog
}

// TestEvalEndToEnd imports a tiny generated world in two public formats and
// evaluates it through the binary: every task the data supports is scored
// for ours, the ablations and the baselines over the full catalogue; every
// metric is a share; the model beats most-popular on the planted community
// structure; the report, JSON and charts are written.
func TestEvalEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	lastfm, blog := writeCommunities(t, dir)
	for _, c := range []struct {
		format, src string
		tasks       []string
		popular     map[string]string
	}{
		{datasets.FormatLastFM, lastfm, []string{"interests", "friends"}, map[string]string{"interests": "most popular", "friends": "degree (most popular)"}},
		{datasets.FormatBlogCatalog, blog, []string{"friends", "groups", "groups" + eval.ColdSuffix}, map[string]string{"groups": "most popular group", "groups" + eval.ColdSuffix: "most popular group", "friends": "degree (most popular)"}},
	} {
		tree, report := filepath.Join(dir, c.format), filepath.Join(dir, c.format+"-report")
		if code, _, stderr := circles(t, "import", c.format, c.src, tree); code != 0 {
			t.Fatalf("import %s: exit %d\n%s", c.format, code, stderr)
		}
		code, stdout, stderr := circles(t, "eval", "-dataset", tree, "-report", report)
		if code != 0 {
			t.Fatalf("eval %s: exit %d\n%s", c.format, code, stderr)
		}
		if !strings.Contains(stdout, "**ours**") || !strings.Contains(stdout, "Targets") {
			t.Errorf("eval %s printed no report:\n%s", c.format, stdout)
		}
		b, err := os.ReadFile(filepath.Join(report, eval.FileJSON))
		if err != nil {
			t.Fatal(err)
		}
		var rep eval.Report
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		if len(rep.Results) != len(c.tasks) || len(rep.Tuning) == 0 {
			t.Fatalf("%s: %d results, %d tuning trials", c.format, len(rep.Results), len(rep.Tuning))
		}
		for i, r := range rep.Results {
			if r.Task != c.tasks[i] || r.Catalogue == 0 {
				t.Errorf("%s: result %d is %s over %d", c.format, i, r.Task, r.Catalogue)
			}
			for _, m := range r.Methods {
				for _, a := range m.AtK {
					for _, v := range []float64{a.Recall, a.NDCG, a.HitShare, a.Coverage} {
						if !(v >= 0 && v <= 1) {
							t.Errorf("%s %s %s @%d: metric %v outside [0, 1]", c.format, r.Task, m.Method, a.K, v)
						}
					}
				}
			}
			ours, _ := r.Method(eval.MethodOurs)
			pop, ok := r.Method(c.popular[r.Task])
			if !ok || ours.Users == 0 || ours.At(5).Recall <= pop.At(5).Recall {
				t.Errorf("%s %s: ours recall@5 %.3f over %d users, %s %.3f", c.format, r.Task, ours.At(5).Recall, ours.Users, c.popular[r.Task], pop.At(5).Recall)
			}
			svg, err := os.ReadFile(filepath.Join(report, eval.ChartFile(rep.Dataset, r.Task)))
			if err != nil || !strings.HasPrefix(string(svg), "<svg") {
				t.Errorf("%s %s chart: %v", c.format, r.Task, err)
			}
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"eval", "-dataset", filepath.Join(dir, datasets.FormatLastFM), "-report", dir, "-split", "sideways"}, "-split"},
		{[]string{"eval", "-dataset", filepath.Join(dir, "nothing"), "-report", dir}, "-dataset"},
		{[]string{"import", "movielens", lastfm, filepath.Join(dir, "x")}, "unknown format"},
		{[]string{"import", datasets.FormatLastFM, lastfm}, "FORMAT SRC DST"},
	} {
		if code, _, stderr := circles(t, c.args...); code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d naming %s", c.args, code, stderr, exitUsage, c.want)
		}
	}
	// a source file in another format is bad input, naming the file
	if code, _, stderr := circles(t, "import", datasets.FormatTang, lastfm, filepath.Join(dir, "tang")); code != exitBadInput || !strings.Contains(stderr, "rating.tsv") {
		t.Errorf("import tang from Last.fm files: exit %d, %q", code, stderr)
	}
}
