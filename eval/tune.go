package eval

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/gonum/mat"

	"circles/data"
	"circles/datasets"
	"circles/models"
	"circles/output"
	"circles/quality"
)

// tune chooses settings on a validation split: train is the training part
// with the validation part (val) held out of it, so the test part is never
// seen. In order, each step keeping the previous steps' choices:
//
//  1. the decay half-life (timed datasets only), by a full pipeline run each;
//  2. the interest model's dimension, confidence scaling and
//     regularisation, by retraining on the same features;
//  3. the group score's weights with the cold-start prior's, by re-ranking;
//  4. the friend ranker's weights (see tuneFriends).
//
// The objective of steps 1 and 2 is interests NDCG@20 when the dataset has
// interactions, else groups recall@5, else friends recall@20. A step that
// cannot change its objective is skipped, and the notes say so, as they
// say where Config.TuneTrials cut tuning short.
func (e *evaluator) tune(ctx context.Context, train *data.Tables, val evalTasks, p output.Params) (output.Params, []TuningTrial, []string, error) {
	dir := filepath.Join(e.cfg.Work, "tune")
	if err := train.Write(e.tuneInput(), e.date, e.sum.Days); err != nil {
		return p, nil, nil, err
	}
	var (
		trials []TuningTrial
		notes  []string
	)
	// more says whether the trial budget allows another trial in step;
	// the first refusal is noted.
	more := func(step string) bool {
		if e.cfg.TuneTrials == 0 || len(trials) < e.cfg.TuneTrials {
			return true
		}
		if !budgetNoted(notes) {
			notes = append(notes, fmt.Sprintf("the budget of %d trials ran out in the %s step: it and the steps after it keep their best so far, or the defaults", e.cfg.TuneTrials, step))
		}
		return false
	}
	has := func(task string) bool { return slices.Contains(e.sum.Tasks, task) }
	primary, metric := datasets.TaskFriends, "recall@20"
	switch {
	case has(datasets.TaskInterests):
		primary, metric = datasets.TaskInterests, "NDCG@20"
	case has(datasets.TaskMerchantInterests):
		primary, metric = datasets.TaskMerchantInterests, "NDCG@20"
	case has(datasets.TaskGroups):
		primary, metric = datasets.TaskGroups, "recall@5"
	}
	// objective scores the primary task of a model on validation.
	objective := func(in *models.Inputs, fp models.FriendParams, gp models.GroupParams) (float64, error) {
		truth := val[primary].Truth
		switch primary {
		case datasets.TaskInterests, datasets.TaskMerchantInterests:
			// scoring every item for every user dominates tuning time:
			// a sample of 2000 users ranks settings as well
			sub := subsample(truth, 2000, e.cfg.Seed)
			users := slices.Sorted(maps.Keys(sub))
			return quality.Score("", sub, interestLists(in, primary, users), 1).At(20).NDCG, nil
		case datasets.TaskGroups:
			l, err := rankedGroups(ctx, in, gp, truth, e.cfg.Workers)
			return quality.Score("", truth, l, 1).At(5).Recall, err
		}
		l, err := rankedFriends(ctx, in, fp, truth, e.cfg.Workers)
		return quality.Score("", truth, l, 1).At(20).Recall, err
	}
	record := func(task, setting, metric string, v float64) int {
		trials = append(trials, TuningTrial{Task: task, Setting: setting, Metric: metric, Value: v})
		e.log.Info("tuning trial", "task", task, "setting", setting, metric, v)
		return len(trials) - 1
	}
	choose := func(i int) { trials[i].Chosen = true }

	// 1. half-life
	halfLives := []float64{p.Features.HalfLifeDays}
	if e.sum.Timed {
		halfLives = []float64{21, 180, 730, 3650}
	}
	var (
		in       *models.Inputs
		bestI    = -1
		bestV    = math.Inf(-1)
		chosenHL = p.Features.HalfLifeDays
	)
	for i, hl := range halfLives {
		if i > 0 && !more("half-life") { // the first run also yields the features the later steps use
			break
		}
		q := p
		q.Features.HalfLifeDays = hl
		res, err := e.run(ctx, e.tuneInput(), filepath.Join(dir, fmt.Sprintf("out-hl-%d", i)), q)
		if err != nil {
			return p, trials, notes, err
		}
		v, err := objective(res.Inputs, q.Friends, q.Groups)
		if err != nil {
			return p, trials, notes, err
		}
		t := -1
		if len(halfLives) > 1 { // an undated dataset has nothing to tune here
			t = record(primary, fmt.Sprintf("half_life_days=%g", hl), metric, v)
		}
		if v > bestV {
			bestI, bestV, chosenHL, in = t, v, hl, res.Inputs
		}
	}
	if bestI >= 0 {
		choose(bestI)
	}
	p.Features.HalfLifeDays = chosenHL

	// 2. interest model, unless no evaluated score can see it: with
	// friends the only task, the friend score reads the interest vectors
	// through latent_weight alone
	f := in.Features
	rt := f.Signals.Transpose(int(f.Items.N))
	bestI, bestV = -1, math.Inf(-1)
	bestALS, bestAP := in.ALS, p.ALS
	var bestBare *models.ALS // bestALS before the cold-start prior
	type setting struct {
		factors       int
		alpha, lambda float64
	}
	var grid []setting
	if primary == datasets.TaskFriends && p.Friends.LatentWeight == 0 {
		notes = append(notes, "the interest-model grid was skipped: friends is the only task evaluated and the friend score gives the interest vectors no weight (latent_weight = 0), so every setting would score the same")
	} else {
		for _, factors := range []int{32, 64, 128} {
			for _, alpha := range []float64{0.25, 1, 5, 20} {
				for _, lambda := range []float64{0.03, 0.3} {
					grid = append(grid, setting{factors, alpha, lambda})
				}
			}
		}
	}
	for _, g := range grid {
		if !more("interest-model") {
			break
		}
		ap := p.ALS
		ap.Factors, ap.Alpha, ap.Lambda, ap.Workers = g.factors, g.alpha, g.lambda, e.cfg.Workers
		bare, err := models.TrainALS(ctx, &f.Signals, &rt, models.InterestKeys(in.Dims, f.Items), ap, nil)
		if err != nil {
			return p, trials, notes, err
		}
		als, err := withColdStart(ctx, in, bare, p.ColdStart, ap)
		if err != nil {
			return p, trials, notes, err
		}
		v, err := objective(&models.Inputs{Dims: in.Dims, Features: f, ALS: als}, p.Friends, p.Groups)
		if err != nil {
			return p, trials, notes, err
		}
		t := record(primary, fmt.Sprintf("als factors=%d alpha=%g lambda=%g", g.factors, g.alpha, g.lambda), metric, v)
		if v > bestV {
			bestI, bestV, bestALS, bestAP, bestBare = t, v, als, ap, bare
		}
	}
	if bestI >= 0 {
		choose(bestI)
	}
	p.ALS = bestAP
	p.ALS.Workers = 0
	in = &models.Inputs{Dims: in.Dims, Features: f, ALS: bestALS}

	// 3. the group score's weights, jointly with the cold-start prior's
	// weight (its pseudo-observations are groups, so the two interact:
	// the prior and social proof both count friends' groups)
	if has(datasets.TaskGroups) {
		truth := val[datasets.TaskGroups].Truth
		type prior struct {
			cp models.ColdStartParams
			in *models.Inputs
		}
		priors := []prior{{p.ColdStart, in}}
		if bestBare != nil {
			priors = nil
			for _, w := range []float64{0, 1, 2, 4} {
				cp := p.ColdStart
				cp.Weight = w
				als, err := withColdStart(ctx, in, bestBare, cp, bestAP)
				if err != nil {
					return p, trials, notes, err
				}
				priors = append(priors, prior{cp, &models.Inputs{Dims: in.Dims, Features: f, ALS: als}})
			}
		}
		bestI, bestV = -1, math.Inf(-1)
		best := priors[0]
		for _, pr := range priors {
			for _, iw := range []float64{0, 1, 3} {
				for _, sw := range []float64{0, 1, 3} {
					for _, scale := range []float64{2, 10} {
						for _, hw := range []float64{0, 0.2, 1} {
							for _, cw := range coMemberWeights {
								if !more("group-score") {
									continue
								}
								gp := p.Groups
								gp.InterestWeight, gp.SocialWeight, gp.SocialScale, gp.HealthWeight, gp.CoMemberWeight = iw, sw, scale, hw, cw
								l, err := rankedGroups(ctx, pr.in, gp, truth, e.cfg.Workers)
								if err != nil {
									return p, trials, notes, err
								}
								v := quality.Score("", truth, l, 1).At(5).Recall
								t := record(datasets.TaskGroups, groupSetting(pr.cp, gp), "recall@5", v)
								if v > bestV {
									bestI, bestV, p.Groups, best = t, v, gp, pr
								}
							}
						}
					}
				}
			}
		}
		if bestI >= 0 {
			choose(bestI)
			p.ColdStart, in = best.cp, best.in
		}
	}

	// 4. friend ranker
	if has(datasets.TaskFriends) && more("friend-ranker") {
		var err error
		p.Friends, err = e.tuneFriends(ctx, in, p.Friends, val[datasets.TaskFriends], record, choose, func() bool { return more("friend-ranker") })
		if err != nil {
			return p, trials, notes, err
		}
	}
	return p, trials, notes, nil
}

// withColdStart is a copy of the interest model bare with the cold-start
// prior applied, as the pipeline applies it after training.
func withColdStart(ctx context.Context, in *models.Inputs, bare *models.ALS, cp models.ColdStartParams, ap models.ALSParams) (*models.ALS, error) {
	m := &models.ALS{Users: mat.DenseCopyOf(bare.Users), Items: bare.Items, Loss: bare.Loss}
	_, err := models.ColdStart(ctx, in.Dims, in.Features, m, cp, ap, nil)
	return m, err
}

// tuneInput is where tune writes its training tree, the training part with
// the validation part held out; later steps that need that tree read it
// there rather than write it again.
func (e *evaluator) tuneInput() string { return filepath.Join(e.cfg.Work, "tune", "input") }

// budgetNoted reports whether notes already say the trial budget ran out.
func budgetNoted(notes []string) bool {
	return slices.ContainsFunc(notes, func(n string) bool { return strings.HasPrefix(n, "the budget of ") })
}

// tuneFriends chooses the friend score's weights on validation recall@20
// among the hand-set ones and those learned by two logistic regressions
// for each of two friend-graph embedding sizes, then refines the best by
// coordinate search.
func (e *evaluator) tuneFriends(ctx context.Context, in *models.Inputs, hand models.FriendParams, val quality.Split,
	record func(task, setting, metric string, v float64) int, choose func(int), more func() bool) (models.FriendParams, error) {
	truth := val.Truth
	describe := func(fp models.FriendParams) string {
		desc := ""
		for i, v := range fp.Weights() {
			desc += fmt.Sprintf(" %s=%.4g", models.FriendFeatureNames[i], v)
		}
		return desc
	}
	// withGraph is in with a friend-graph embedding of the given dimension,
	// trained once for every setting that uses it
	withGraph := func(factors int) (*models.Inputs, error) {
		fp := hand
		fp.GraphFactors = factors
		g, err := models.TrainFriendGraph(ctx, in.Dims, in.Features, fp, e.cfg.Workers)
		o := *in
		o.Graph = g
		return &o, err
	}
	score := func(in *models.Inputs, fp models.FriendParams, truth map[int64][]int64) (float64, error) {
		l, err := rankedFriends(ctx, in, fp, truth, e.cfg.Workers)
		return quality.Score("", truth, l, 1).At(20).Recall, err
	}
	vh, err := score(in, hand, truth)
	if err != nil {
		return hand, err
	}
	best, bestIn, bestT, bestV := hand, in, record(datasets.TaskFriends, "hand-set weights:"+describe(hand), "recall@20", vh), vh
	for _, factors := range []int{32, 128} {
		if !more() {
			break
		}
		gin, err := withGraph(factors)
		if err != nil {
			return hand, err
		}
		pointwise, pairwise, n, err := e.learnFriends(ctx, gin, hand, val)
		if err != nil {
			return hand, err
		}
		for _, c := range []struct {
			name string
			fp   models.FriendParams
		}{{"logistic regression on candidates" + n, pointwise}, {"pairwise logistic regression" + n, pairwise}} {
			c.fp.GraphFactors = factors
			v, err := score(gin, c.fp, truth)
			if err != nil {
				return hand, err
			}
			if t := record(datasets.TaskFriends, fmt.Sprintf("%s, graph_factors=%d:%s", c.name, factors, describe(c.fp)), "recall@20", v); v > bestV {
				best, bestIn, bestT, bestV = c.fp, gin, t, v
			}
		}
	}
	in = bestIn
	// two passes of coordinate search on a sample of users: neither fit
	// optimises recall@20 itself
	sub := subsample(truth, 2000, e.cfg.Seed)
	cur, err := score(in, best, sub)
	if err != nil {
		return hand, err
	}
	refined, improved := best, false
	for pass := range 2 {
		if pass == 0 && !more() {
			break
		}
		for i := range models.NumFriendFeatures {
			w := refined.Weights()
			for _, v := range coordinateSteps(w, i) {
				cand := refined
				ws := w
				ws[i] = v
				cand.SetWeights(ws)
				got, err := score(in, cand, sub)
				if err != nil {
					return hand, err
				}
				if got > cur {
					cur, refined, improved = got, cand, true
				}
			}
		}
	}
	if improved {
		v, err := score(in, refined, truth)
		if err != nil {
			return hand, err
		}
		if t := record(datasets.TaskFriends, "coordinate search from the best:"+describe(refined), "recall@20", v); v > bestV {
			best, bestT = refined, t
		}
	}
	choose(bestT)
	return best, nil
}

// coordinateSteps are the values coordinate search tries for weight i of
// w: zero, half, double, and a quarter of the largest weight either way;
// never w[i] itself nor beyond the weights' range.
func coordinateSteps(w [models.NumFriendFeatures]float64, i models.FriendFeature) []float64 {
	step := 0.0
	for _, v := range w {
		step = math.Max(step, math.Abs(v))
	}
	step /= 4
	var out []float64
	for _, v := range []float64{0, w[i] / 2, 2 * w[i], w[i] + step, w[i] - step} {
		if v != w[i] && math.Abs(v) <= 100 {
			out = append(out, v)
		}
	}
	return out
}

// subsample keeps at most n users of truth, chosen at random.
func subsample(truth map[int64][]int64, n int, seed uint64) map[int64][]int64 {
	users := slices.Sorted(maps.Keys(truth))
	if len(users) <= n {
		return truth
	}
	r := rand.New(rand.NewPCG(seed, 0x5b))
	r.Shuffle(len(users), func(i, j int) { users[i], users[j] = users[j], users[i] })
	out := make(map[int64][]int64, n)
	for _, u := range users[:n] {
		out[u] = truth[u]
	}
	return out
}

// learnFriends fits the friend score's weights two ways on the candidates
// of the validation users, where a candidate is positive when the pair is
// a held-out friendship; each user keeps every positive and 50 sampled
// negatives. Pointwise: logistic regression of the label on the features.
// Pairwise: logistic regression on the feature differences of a positive
// and a negative of the same user (a linear RankNet), which compares
// candidates only within a user's list, as ranking does. Weights are
// scaled so the largest is 10 in magnitude; ranking depends only on their
// ratios.
func (e *evaluator) learnFriends(ctx context.Context, in *models.Inputs, base models.FriendParams, val quality.Split) (pointwise, pairwise models.FriendParams, desc string, err error) {
	d := in.Dims
	var users []int32
	for _, id := range slices.Sorted(maps.Keys(val.Truth)) {
		if u := d.Users.Lookup(id); u >= 0 {
			users = append(users, u)
		}
	}
	positive := func(c models.FriendCandidate) bool {
		return val.Held[quality.Edge(d.Users.ID(c.User), d.Users.ID(c.Candidate))]
	}
	cands, err := models.FriendCandidates(ctx, *in, base, users, e.cfg.Workers, func(cs []models.FriendCandidate) []models.FriendCandidate {
		return sampleNegatives(cs, positive, 50, e.cfg.Seed)
	})
	if err != nil {
		return base, base, "", err
	}
	var X, D [][]float64
	var y, yd []bool
	pos := 0
	for lo := 0; lo < len(cands); {
		hi := lo
		for hi < len(cands) && cands[hi].User == cands[lo].User {
			hi++
		}
		var ps, ns [][]float64
		for _, c := range cands[lo:hi] {
			X = append(X, c.X[:])
			if positive(c) {
				y, ps, pos = append(y, true), append(ps, c.X[:]), pos+1
			} else {
				y, ns = append(y, false), append(ns, c.X[:])
			}
		}
		for _, p := range ps {
			for j, n := range ns[:min(len(ns), 10)] {
				diff := make([]float64, len(p))
				for k := range p {
					diff[k] = p[k] - n[k]
					if j%2 == 1 {
						diff[k] = -diff[k]
					}
				}
				D, yd = append(D, diff), append(yd, j%2 == 0)
			}
		}
		lo = hi
	}
	pointwise, pairwise = base, base
	for _, fit := range []struct {
		X  [][]float64
		y  []bool
		fp *models.FriendParams
	}{{X, y, &pointwise}, {D, yd, &pairwise}} {
		w, _, err := models.FitLogistic(fit.X, fit.y, 1e-4)
		if err != nil {
			return base, base, "", fmt.Errorf("friend ranker: %w", err)
		}
		top := 0.0
		for _, v := range w {
			top = math.Max(top, math.Abs(v))
		}
		var ws [models.NumFriendFeatures]float64
		for i := range ws {
			if top > 0 {
				ws[i] = math.Round(10*w[i]/top*1e4) / 1e4
			}
		}
		fit.fp.SetWeights(ws)
	}
	return pointwise, pairwise, fmt.Sprintf(" (%d candidates, %d positive)", len(cands), pos), nil
}

// coMemberWeights is the grid of the group score's co-membership weight.
var coMemberWeights = []float64{0, 1, 3, 10}

// groupSetting names the group score's searched weights in a trial.
func groupSetting(cp models.ColdStartParams, gp models.GroupParams) string {
	return fmt.Sprintf("groups cold_start weight=%g interest_weight=%g social_weight=%g social_scale=%g health_weight=%g co_member_weight=%g",
		cp.Weight, gp.InterestWeight, gp.SocialWeight, gp.SocialScale, gp.HealthWeight, gp.CoMemberWeight)
}

// rankedFriends and rankedGroups rank only the users in truth.
func rankedFriends(ctx context.Context, in *models.Inputs, fp models.FriendParams, truth map[int64][]int64, workers int) (quality.Lists, error) {
	rows, err := models.RankFriends(ctx, only(in, truth), fp, workers)
	return friendLists(rows), err
}

func rankedGroups(ctx context.Context, in *models.Inputs, gp models.GroupParams, truth map[int64][]int64, workers int) (quality.Lists, error) {
	rows, err := models.RankGroups(ctx, only(in, truth), gp, workers)
	return groupLists(rows), err
}

// only restricts ranking to the users in truth.
func only(in *models.Inputs, truth map[int64][]int64) models.Inputs {
	o := *in
	o.Only = make([]bool, in.Dims.Users.Len())
	for id := range truth {
		if u := in.Dims.Users.Lookup(id); u >= 0 {
			o.Only[u] = true
		}
	}
	return o
}
