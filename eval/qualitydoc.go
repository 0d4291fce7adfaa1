package eval

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"circles/data"
	"circles/datasets"
	"circles/jobs"
	"circles/output"
	"circles/synth"
)

// QualityConfig configures the regeneration of the quality document.
type QualityConfig struct {
	Data    string // the public datasets' directory (one folder per dataset)
	Out     string // the document: its Markdown; charts and JSON go beside it in a folder of the same name
	Work    string // scratch directory; default: a temporary directory, removed after
	Seed    uint64
	Workers int
	// PlantedUsers is the size of the generated world evaluated against its
	// planted truth.
	PlantedUsers int
}

// PublicDataset is one dataset the quality document covers.
type PublicDataset struct {
	Name   string // short name: file names and report headings
	Folder string // folder under the datasets' directory
	Format string // import format
}

// PublicDatasets lists the datasets of the quality document.
func PublicDatasets() []PublicDataset {
	return []PublicDataset{
		{"lastfm", "lastfm-hetrec2011", datasets.FormatLastFM},
		{"ciao", "ciao-tang", datasets.FormatTang},
		{"blogcatalog", "blogcatalog3", datasets.FormatBlogCatalog},
	}
}

// QualityDoc imports every public dataset, evaluates each (tuned on
// validation), scores a generated world against its planted truth, and
// writes the quality document with its charts and JSON. It is the one
// command that regenerates docs/quality.md.
func QualityDoc(ctx context.Context, cfg QualityConfig, log *slog.Logger) error {
	if cfg.Data == "" || cfg.Out == "" {
		return jobs.UsageError("-data (the public datasets' directory) and -out (the Markdown file to write) are required")
	}
	if cfg.PlantedUsers == 0 {
		cfg.PlantedUsers = 20000
	}
	if cfg.Work == "" {
		dir, err := os.MkdirTemp("", "circles-quality-")
		if err != nil {
			return err
		}
		defer removeScratch(log, dir)
		cfg.Work = dir
	}
	assets := strings.TrimSuffix(cfg.Out, filepath.Ext(cfg.Out))
	rel := filepath.Base(assets)
	var body strings.Builder
	var reports []*Report
	// every dataset is imported, split and tuned first; the defaults are
	// then chosen across them, and each is scored with them
	var sets []*defaultsSet
	starts := map[string]time.Time{}
	for _, ds := range PublicDatasets() {
		src := filepath.Join(cfg.Data, ds.Folder)
		tree := filepath.Join(cfg.Work, ds.Name)
		date, _ := data.ParseDate("2011-12-31")
		starts[ds.Name] = time.Now()
		if _, err := jobs.Import(ctx, jobs.ImportConfig{Format: ds.Format, Src: src, Dst: tree, Date: date, MaxBadLineFraction: 0.05}, log); err != nil {
			return fmt.Errorf("%s: %w", ds.Name, err)
		}
		pr, err := prepare(ctx, Config{Dataset: tree, Name: ds.Name, Work: filepath.Join(cfg.Work, ds.Name+"-eval"), Split: SplitAuto, Seed: cfg.Seed, Tune: true, Workers: cfg.Workers}, log)
		if err != nil {
			return fmt.Errorf("%s: %w", ds.Name, err)
		}
		s, err := newDefaultsSet(ctx, ds.Name, pr, output.DefaultParams())
		if err != nil {
			return fmt.Errorf("%s: %w", ds.Name, err)
		}
		sets = append(sets, s)
	}
	log.Info("choosing the defaults by their worst case across datasets")
	choice, err := chooseDefaults(ctx, sets, output.DefaultParams(), cfg.Workers, log)
	if err != nil {
		return err
	}
	for _, s := range sets {
		ds := s.name
		sum := s.pr.e.sum
		extra := []variant{{MethodOursLODO, forEval(choice.without[ds], sum)}}
		if choice.all.Digest() != output.DefaultParams().Digest() {
			extra = append(extra, variant{MethodOursChosen, forEval(choice.all, sum)})
		}
		rep, err := s.pr.finish(ctx, extra)
		if err != nil {
			return fmt.Errorf("%s: %w", ds, err)
		}
		rep.Timings["total"] = time.Since(starts[ds]).Round(time.Second).Seconds()
		rep.DefaultsNotes = choice.notes
		if err := writeEvalData(assets, ds+".json", rep); err != nil {
			return err
		}
		if err := WriteMarkdown(&body, rep, rel, filepath.Join(rel, ds+".json")); err != nil {
			return err
		}
		reports = append(reports, rep)
	}
	planted, err := plantedSection(ctx, cfg, log)
	if err != nil {
		return err
	}
	return data.ReplaceSynced(cfg.Out, func(w io.Writer) error {
		_, err := io.WriteString(w, qualityHeader(cfg, reports)+defaultsSection(choice, reports)+body.String()+planted)
		return err
	})
}

// reference is a baseline's number measured by an independent
// implementation on the reference protocol (the datasets' README).
type reference struct {
	dataset, task, method, metric string
	k                             int
	value                         float64
}

// references are the numbers our baselines should land near; if they do
// not, nothing built on them can be trusted.
var references = []reference{
	{"lastfm", "friends", "common neighbours", "recall", 20, 0.254},
	{"lastfm", "friends", "Adamic–Adar", "recall", 20, 0.280},
	{"lastfm", "friends", "resource allocation", "recall", 20, 0.267},
	{"lastfm", "friends", "degree (most popular)", "recall", 20, 0.071},
	{"blogcatalog", "friends", "common neighbours", "recall", 20, 0.177},
	{"blogcatalog", "friends", "Adamic–Adar", "recall", 20, 0.197},
	{"blogcatalog", "friends", "resource allocation", "recall", 20, 0.196},
	{"blogcatalog", "friends", "degree (most popular)", "recall", 20, 0.203},
	{"ciao", "friends", "common neighbours", "recall", 20, 0.208},
	{"ciao", "friends", "Adamic–Adar", "recall", 20, 0.218},
	{"ciao", "friends", "resource allocation", "recall", 20, 0.206},
	{"ciao", "friends", "degree (most popular)", "recall", 20, 0.090},
	{"lastfm", "interests", "most popular", "recall", 20, 0.106},
	{"lastfm", "interests", "most popular", "NDCG", 20, 0.101},
	{"lastfm", "interests", "item-kNN (cosine, 100 neighbours)", "recall", 20, 0.222},
	{"lastfm", "interests", "item-kNN (cosine, 100 neighbours)", "NDCG", 20, 0.231},
	{"blogcatalog", "groups", "most popular group", "recall", 5, 0.347},
	{"blogcatalog", "groups", "most friends in group", "recall", 5, 0.482},
}

// referenceTable compares our baselines with the reference numbers.
func referenceTable(reports []*Report) string {
	var b strings.Builder
	b.WriteString("| dataset | task | baseline | metric | reference | measured here | within 3 s.e. |\n|---|---|---|---|---|---|---|\n")
	for _, ref := range references {
		for _, rep := range reports {
			for _, r := range rep.Results {
				if rep.Dataset != ref.dataset || r.Task != ref.task {
					continue
				}
				if m, ok := r.Method(ref.method); ok {
					a := m.At(ref.k)
					v, se := a.Recall, a.RecallSE
					if ref.metric == "NDCG" {
						v, se = a.NDCG, a.NDCGSE
					}
					within := "yes"
					if math.Abs(v-ref.value) > 3*se {
						within = "**no**"
					}
					fmt.Fprintf(&b, "| %s | %s | %s | %s@%d | %.3f | %.3f ± %.3f | %s |\n", ref.dataset, ref.task, ref.method, ref.metric, ref.k, ref.value, v, se, within)
				}
			}
		}
	}
	return b.String()
}

// qualityHeader is the document's opening: how to regenerate it, the
// protocol, and every target in one table.
func qualityHeader(cfg QualityConfig, reports []*Report) string {
	var b strings.Builder
	b.WriteString(`# Suggestion quality

This document is generated; do not edit it by hand. Regenerate it, with
its charts and JSON, from the repository root with

    go run ./cmd/circles quality -data ../shared/data -out docs/quality.md

(about forty minutes on two cores). Each dataset is imported into the
pipeline's own input tables (` + "`circles import`" + `; [datasets.md](datasets.md)
gives the mapping and what each dataset lacks), split, and the
production pipeline (` + "`circles run`" + `'s stages, through real
Parquet ingest) runs on the training part. The same steps for one dataset:

    go run ./cmd/circles import hetrec-lastfm ../shared/data/lastfm-hetrec2011 /tmp/lastfm
    go run ./cmd/circles eval -dataset /tmp/lastfm -report /tmp/lastfm-report

**Protocol.** The reference protocol of the datasets' README: friends —
users with at least 5 friendships lose 20% of them at random, and every
user who is not oneself or a training friend is ranked; interests — users
with at least 5 items lose 20% of them (at random, or each user's latest
when the data is timed), and every content item the user has not touched
is ranked; groups — users in at least 2 groups lose one membership, and
every group they are not in is ranked. Metrics are over the full
catalogue, never sampled negatives, averaged over evaluated users, with
standard errors. "Users with a hit" is the share of evaluated users with
at least one held-out item in their top 20; coverage is the share of the
catalogue in anyone's top 20.

**Ours** is the production pipeline with settings tuned on a validation
split carved from the training part (the same hold-out applied again);
the test part is never seen while tuning. "Production defaults" is the
same pipeline with the nightly defaults, widened only as an offline
evaluation must be (lists of 50, no score floor, no fan-out cap). The
ablations switch off one signal of the tuned model each. Baselines share
no code with the model.

## Targets

| dataset | task | target | ours | bar | met |
|---|---|---|---|---|---|
`)
	for _, r := range reports {
		for _, t := range r.Targets {
			met := "yes"
			if !t.Met {
				met = fmt.Sprintf("**no**, gap %.3f", t.Bar-t.Ours)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %.3f | %.3f | %s |\n", r.Dataset, t.Task, t.Claim, t.Ours, t.Bar, met)
		}
	}
	b.WriteString(`
Where a target is missed, the table gives the gap. What was tried for the
friend ranker: the hand-set weights; a logistic regression on candidate
features (mutual friends, Adamic–Adar, resource allocation, tie strength,
shared small groups, topic similarity, the candidate's degree, the cosine
of interest-model vectors and of the two users' item sets, and the tie a
friend-graph embedding predicts: implicit ALS on the friendship adjacency,
which sees beyond two hops), fitted on the
validation split's held-out friendships with sampled negatives; the same
features fitted pairwise (a linear RankNet on a positive's and a
negative's feature differences within one user); hard negatives (the
candidates with the most mutual friends), which did not help and were
dropped; and coordinate search on validation recall@20 from the best fit.
Every candidate comes from the user's friends of friends, money ties or
small shared groups: the product does not suggest strangers on the
strength of their behaviour alone (the privacy rules of docs/contract.md), so a held-out
friend three hops away is out of reach whatever the ranking. Where the
learned ranker leans on the candidate's degree (BlogCatalog), it suggests
the same popular users to many people: compare its coverage with the
hand-set weights' before shipping such weights.

What was tried for the group score on BlogCatalog, where nearly every user
is in one to three groups and so has an interest vector that says little:
co-membership (of the members of each of the user's groups, the share in
the candidate, averaged over the user's groups) is what moved it, from
0.568 to 0.600 tuned and from 0.511 to 0.588 with the defaults. Outside
the pipeline, with the weights of each variant searched on one half of
the evaluated users and scored on the other, none of these added more
than the noise between two splits (about 0.01): friends' votes weighted
by the inverse of each friend's degree or number of groups; the share of
the user's friends in the group instead of the saturating count; lift
instead of the conditional share (dividing by a power of the candidate's
size); friends' votes weighted by the groups they share with the user;
two hops of friends; friends' groups carried through co-membership; and
a ridge regression per group on the user's own groups and the share of
friends in every group. The 0.62 bar is still missed by about two
standard errors.

For the interest model on Last.fm, beyond the tuning grid below, these
were tried on the validation split and lost to the grid's choice (64
factors, alpha 0.25, lambda 0.3, NDCG@20 0.233 there, standard error
0.004): 128 and 256 factors, alpha 0.1 and 0.5, lambda 1 and 3,
regularisation scaled by the square root of a row's observations instead
of their number (best 0.230), and 16 sweeps instead of 8 (0.230 against
0.228 at that setting). Then, each against 0.2326 at the grid's choice:
exact row solves (8 conjugate-gradient steps, 0.2328; with 16 sweeps,
0.2324); a finer grid around the choice (alpha 0.15: 0.229; alpha 0.35
with lambda 0.5: 0.230); plain regularisation without the frequency
scaling (best 0.202, at lambda 10); a confidence that ignores the play
count (best 0.232, at alpha 3) or reads it as log(1 + plays/ε) (ε 10
and 100, best 0.232); BM25 weighting of the signal, which gives rare
artists more confidence (three settings of K1 and B, alpha searched
again, best 0.228); side information in the factorisation, each user's
friends as extra columns (0.232) or each tag as an extra row that ties
its artists together (0.2325); the item's popularity added to the score
(0.2315 at best); and two models of different seeds side by side in
128-dimensional vectors (0.2334, a fifth of a standard error for twice
the vectors). The implicit factorisation has reached its plateau on this
data: the 0.300 bar would take a model of another kind, such as an
item-to-item one, whose scores the published user and item vectors do
not carry.

## Baselines against the reference numbers

An independent implementation measured these baselines on the same
protocol with another seeded split, so agreement within a few standard
errors is what to expect. Where it is missing, what was checked: on
BlogCatalog, common neighbours, Adamic–Adar and resource allocation have
landed 0.007–0.015 below the reference, while degree agrees there, and
every index agrees on Last.fm and Ciao. The hold-out is not the cause as
far as it was tested: holding out 20% of each user's edges independently
(their union leaves training; truth is either every held-out edge of the
user or only the user's own draws) moves all three datasets further from
the reference, down to 0.164 for Adamic–Adar on BlogCatalog. The split
here counts a user's edges already held out by friends towards its 20%.
Neither is tie-breaking: many BlogCatalog candidates reach the user only
through the same hub, so their scores tie exactly, but breaking ties in
a pseudo-random order instead of by user ID gives the same recall. Nor
is using the whole graph's degrees instead of the training graph's. The
gap is unexplained. It matters for the friend target there: 1.15 × the
reference Adamic–Adar (0.197) is 0.227, a bar higher than the one above,
which is computed from our own measurement.

`)
	b.WriteString(referenceTable(reports))
	b.WriteString("\n")
	return b.String()
}

// plantedSection generates a world, runs the pipeline on it and scores
// the run against the planted future friendships and joins.
func plantedSection(ctx context.Context, cfg QualityConfig, log *slog.Logger) (string, error) {
	world := filepath.Join(cfg.Work, "world")
	wc := synth.DefaultConfig()
	wc.Users = cfg.PlantedUsers
	if _, err := jobs.Generate(ctx, jobs.GenerateConfig{Out: world, World: wc}, log, nil); err != nil {
		return "", err
	}
	p := output.DefaultParams()
	p.Friends.MaxPerUser, p.Groups.MaxPerUser = 20, 20
	res, err := jobs.Run(ctx, jobs.RunConfig{Input: world, Output: filepath.Join(cfg.Work, "world-out"), Date: wc.End, RunID: "planted", Workers: cfg.Workers, Params: p}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return "", err
	}
	rep, err := Planted(ctx, PlantedConfig{World: world, Run: res.Dir, K: 20}, log)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## Generated world with planted truth\n\n")
	fmt.Fprintf(&b, "`circles generate -users %d` (seed %d), run with production defaults and 20 suggestions per user, scored by `circles eval-planted -k 20` against the friendships and group joins the generator planted after the run date. The generator encodes the same domain lessons the model uses, so this checks that every signal is wired through (city-local groups, money ties), which no public dataset can; it is not an independent quality claim.\n\n", wc.Users, wc.Seed)
	b.WriteString("| task | method | users | recall@20 |\n|---|---|---|---|\n")
	for _, m := range rep.Recall {
		fmt.Fprintf(&b, "| %s | %s | %d | %.3f ± %.3f |\n", m.Task, m.Method, m.Users, m.Recall, m.StdErr)
	}
	b.WriteString(relationSection(rep))
	return b.String(), nil
}

// relationSection reports the relation types of the planted ties.
func relationSection(rep *PlantedReport) string {
	var b strings.Builder
	b.WriteString("\n**Relation types.** For every suggested tie in a top 20 that is a planted friendship of a known type (family, colleague, classmate, interest), the type the run predicted, against the majority type of the friendships users labelled and a rule baseline (a family account or shared fund is family, two minors are classmates, money moved mostly in working hours makes colleagues, anything else interest friends). The model learns from the three in ten friend rows the generator labels; the planted types are never shown to it.\n\n")
	if len(rep.Relations) == 0 {
		fmt.Fprintf(&b, "Not scored: %s.\n", rep.RelationNote)
		return b.String()
	}
	b.WriteString("| method | pairs | accuracy | macro-F1 | F1 family | F1 colleague | F1 classmate | F1 interest |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range rep.Relations {
		fmt.Fprintf(&b, "| %s | %d | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |\n", r.Method, r.Pairs, r.Accuracy, r.MacroF1,
			r.F1["family"], r.F1["colleague"], r.F1["classmate"], r.F1["interest"])
	}
	return b.String()
}

// defaultsSection reports how the defaults were chosen and how they do on
// each dataset's test split, chosen with and without it.
func defaultsSection(ch defaultsChoice, reports []*Report) string {
	var b strings.Builder
	b.WriteString("## Defaults chosen by their worst case\n\n")
	b.WriteString("The production defaults ship to deployments whose data nobody has seen, so they are chosen by their worst case across the datasets, not their best: every candidate setting is scored on each dataset's validation split as a ratio to that dataset's best classic baseline there (friends: common neighbours, Adamic–Adar, resource allocation and degree, recall@20; interests: item-kNN and most popular, NDCG@20; groups: most friends in group and most popular, recall@5), and the setting whose smallest ratio is largest wins. The search covers the half-life (chosen first, at the hand-set interest model, and only where a dataset is timed), then the interest model's dimension, confidence scaling and regularisation (on each dataset's interest or group task), and the friend weights (coordinate search from the hand-set weights and from each dataset's tuned ones). Leaving each dataset out of the choice in turn and scoring on its test split what the others chose (\"" + MethodOursLODO + "\") estimates how the defaults do on data they were not chosen on.\n\n")
	if ch.all.Digest() == output.DefaultParams().Digest() {
		b.WriteString("The defaults in the code are the ones chosen on every dataset.\n\n")
	} else {
		b.WriteString("**The defaults in the code differ from the ones chosen on every dataset** (row \"" + MethodOursChosen + "\"): copy the choice below into `features.DefaultParams`, `models.DefaultALSParams` and `models.DefaultFriendParams`.\n\n")
	}
	for _, n := range ch.notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	b.WriteString("\n| dataset | task | metric | production defaults | chosen without the dataset | best classic baseline | defaults / baseline | left-out / baseline |\n|---|---|---|---|---|---|---|---|\n")
	for _, rep := range reports {
		for _, r := range rep.Results {
			if strings.HasSuffix(r.Task, ColdSuffix) || r.Task == datasets.TaskMerchantInterests {
				continue
			}
			k, metric, name := objective(r.Task)
			def, ok1 := r.Method(MethodOursDefaults)
			lodo, ok2 := r.Method(MethodOursLODO)
			best, ok3 := r.Best(k, metric, classic(r.Task)...)
			if !ok1 || !ok2 || !ok3 || metric(best.At(k)) == 0 {
				continue
			}
			bv := metric(best.At(k))
			fmt.Fprintf(&b, "| %s | %s | %s | %.3f | %.3f | %.3f (%s) | %.2f | %.2f |\n", rep.Dataset, r.Task, name, metric(def.At(k)), metric(lodo.At(k)), bv, best.Method, metric(def.At(k))/bv, metric(lodo.At(k))/bv)
		}
	}
	b.WriteString("\n")
	return b.String()
}
