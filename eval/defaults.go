package eval

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"path/filepath"
	"slices"

	"circles/datasets"
	"circles/jobs"
	"circles/models"
	"circles/output"
	"circles/quality"
)

// Defaults that hold on data never seen: the hand-set defaults ship to
// every deployment, so they are chosen by their worst case across the
// public datasets, not their best. Each candidate setting is scored on
// every dataset's validation split (carved from its training part; the
// test part is never seen) as a ratio to that dataset's best classic
// baseline on the same split, and the setting whose smallest ratio is
// largest wins. Leaving each dataset out of the choice in turn and
// scoring the setting chosen on the others on its test split is the
// estimate of how the defaults do on a dataset they were not chosen on.

// defaultsSet is one dataset's validation for choosing defaults.
type defaultsSet struct {
	name string
	pr   *prepared
	// runs holds the pipeline on the validation training part with the
	// defaults, per half-life tried (one for an undated dataset).
	runs map[float64]*models.Inputs
	// bars are, per task, the best classic baseline's value on validation.
	bars map[string]float64
	// truth is the validation truth per task, subsampled for speed.
	truth map[string]map[int64][]int64
	// friends caches the friend candidates of the validation users.
	friends []models.FriendCandidate
}

// halfLives are the half-lives the defaults choose from on a timed dataset.
// They stop at a year: ties must decay with time (a transfer last week
// says more than one last spring), and a half-life many times the
// production window turns decay off. The only timed public dataset spans
// a decade of product reviews, which cannot speak for a wallet's weeks;
// `circles tune` may still choose longer on a deployment's own data.
var halfLives = []float64{21, 90, 365}

// objective is the metric each task is chosen on: interests NDCG@20,
// groups recall@5, friends recall@20.
func objective(task string) (k int, metric func(quality.AtK) float64, name string) {
	switch task {
	case datasets.TaskGroups:
		return 5, func(a quality.AtK) float64 { return a.Recall }, "recall@5"
	case datasets.TaskFriends:
		return 20, func(a quality.AtK) float64 { return a.Recall }, "recall@20"
	}
	return 20, func(a quality.AtK) float64 { return a.NDCG }, "NDCG@20"
}

// classic names the baselines a task's defaults must beat.
func classic(task string) []string {
	switch task {
	case datasets.TaskFriends:
		return []string{quality.CommonNeighbours, quality.AdamicAdar, quality.ResourceAllocation, quality.MostPopularFriend}
	case datasets.TaskGroups:
		return []string{quality.MostFriendsInGroup, quality.MostPopularGroup}
	}
	return []string{quality.ItemKNNMethod, quality.MostPopularItem}
}

// newDefaultsSet runs the pipeline on a prepared evaluation's validation
// training part and scores the classic baselines there.
func newDefaultsSet(ctx context.Context, name string, pr *prepared, base output.Params) (*defaultsSet, error) {
	e := pr.e
	s := &defaultsSet{name: name, pr: pr, runs: map[float64]*models.Inputs{}, bars: map[string]float64{}, truth: map[string]map[int64][]int64{}}
	dir := filepath.Join(e.cfg.Work, "defaults")
	input := e.tuneInput() // tuning wrote the validation training part there
	if !e.cfg.Tune {
		if err := pr.trainVal.Write(input, e.date, e.sum.Days); err != nil {
			return nil, err
		}
	}
	hls := []float64{base.Features.HalfLifeDays}
	if e.sum.Timed {
		hls = halfLives
	}
	for i, hl := range hls {
		p := widened(base)
		p.WindowDays = e.sum.WindowDays
		p.Features.HalfLifeDays = hl
		res, err := e.run(ctx, input, filepath.Join(dir, fmt.Sprintf("out-%d", i)), p)
		if err != nil {
			return nil, err
		}
		s.runs[hl] = res.Inputs
	}
	for _, task := range e.sum.Tasks {
		if task == datasets.TaskMerchantInterests {
			continue
		}
		n := 2000
		if task == datasets.TaskFriends {
			n = 1000 // every candidate of each is cached
		}
		truth := subsample(pr.val[task].Truth, n, e.cfg.Seed)
		s.truth[task] = truth
		bs, err := baselines(ctx, pr.trainVal, pr.all, task, truth)
		if err != nil {
			return nil, err
		}
		k, metric, _ := objective(task)
		for _, b := range classic(task) {
			if l, ok := bs.lists[b]; ok {
				s.bars[task] = math.Max(s.bars[task], metric(quality.Score(b, truth, l, 1).At(k)))
			}
		}
	}
	if truth, ok := s.truth[datasets.TaskFriends]; ok {
		in := *s.runs[hls[0]]
		in.Graph = nil
		var users []int32
		for _, id := range slices.Sorted(maps.Keys(truth)) {
			if u := in.Dims.Users.Lookup(id); u >= 0 {
				users = append(users, u)
			}
		}
		fp := widened(base).Friends
		var err error
		if s.friends, err = models.FriendCandidates(ctx, in, fp, users, e.cfg.Workers, func(c []models.FriendCandidate) []models.FriendCandidate { return c }); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// friendRecall is recall@20 of weights w on the cached candidates.
func (s *defaultsSet) friendRecall(w [models.NumFriendFeatures]float64) float64 {
	d := s.runs[firstKey(s.runs)].Dims
	truth := s.truth[datasets.TaskFriends]
	lists := quality.Lists{}
	for lo := 0; lo < len(s.friends); {
		hi := lo
		u := s.friends[lo].User
		for hi < len(s.friends) && s.friends[hi].User == u {
			hi++
		}
		top := models.NewTopK(20)
		for _, c := range s.friends[lo:hi] {
			score := 0.0
			for i, x := range c.X {
				score += w[i] * x
			}
			top.Push(models.Scored{ID: d.Users.ID(c.Candidate), Index: c.Candidate, Score: score})
		}
		for _, sc := range top.Sorted() {
			lists[d.Users.ID(u)] = append(lists[d.Users.ID(u)], sc.ID)
		}
		lo = hi
	}
	return quality.Score("", truth, lists, 1).At(20).Recall // a user without candidates scores 0
}

func firstKey(m map[float64]*models.Inputs) float64 { return slices.Sorted(maps.Keys(m))[0] }

// defaultsChoice is what chooseDefaults found.
type defaultsChoice struct {
	all     output.Params            // chosen on every dataset
	without map[string]output.Params // per dataset: chosen on the others
	notes   []string                 // how each choice scored
}

// chooseDefaults chooses the defaults' half-life, interest model, group
// weights and friend weights by their worst case over the sets, and the
// same leaving each set out.
func chooseDefaults(ctx context.Context, sets []*defaultsSet, base output.Params, workers int, log *slog.Logger) (defaultsChoice, error) {
	ch := defaultsChoice{without: map[string]output.Params{}}
	subsets := map[string][]*defaultsSet{"": sets}
	for _, s := range sets {
		subsets[s.name] = slices.DeleteFunc(slices.Clone(sets), func(o *defaultsSet) bool { return o == s })
	}
	// the interest model, on each set's interest or group task: first the
	// half-life (at the base interest model, on the timed sets), then the
	// interest model at the chosen half-life
	type alsSetting struct {
		factors       int
		alpha, lambda float64
	}
	var grid []alsSetting
	for _, factors := range []int{32, 64, 128} {
		for _, alpha := range []float64{0.25, 1, 5, 20} {
			for _, lambda := range []float64{0.03, 0.3} {
				grid = append(grid, alsSetting{factors, alpha, lambda})
			}
		}
	}
	baseALS := alsSetting{base.ALS.Factors, base.ALS.Alpha, base.ALS.Lambda}
	taskOf := func(s *defaultsSet) string {
		for _, t := range []string{datasets.TaskInterests, datasets.TaskGroups} {
			if _, ok := s.truth[t]; ok && s.bars[t] > 0 {
				return t
			}
		}
		return "" // the interest model cannot change this set's primary task
	}
	type key struct {
		s  *defaultsSet
		hl float64
		g  alsSetting
	}
	memo := map[key]float64{}
	// value is set s's ratio to its bar at half-life hl (ignored when s is
	// undated) with interest model g
	value := func(s *defaultsSet, hl float64, g alsSetting) (float64, error) {
		if len(s.runs) == 1 {
			hl = firstKey(s.runs)
		}
		if r, ok := memo[key{s, hl, g}]; ok {
			return r, nil
		}
		task := taskOf(s)
		k, metric, _ := objective(task)
		in := s.runs[hl]
		ap := base.ALS
		ap.Factors, ap.Alpha, ap.Lambda = g.factors, g.alpha, g.lambda
		als, _, err := jobs.TrainInterests(ctx, in.Dims, in.Features, ap, base.ColdStart, jobs.Options{Workers: workers})
		if err != nil {
			return 0, err
		}
		cand := &models.Inputs{Dims: in.Dims, Features: in.Features, ALS: als}
		truth := s.truth[task]
		var v float64
		if task == datasets.TaskGroups {
			l, err := rankedGroups(ctx, cand, widened(base).Groups, truth, workers)
			if err != nil {
				return 0, err
			}
			v = metric(quality.Score("", truth, l, 1).At(k))
		} else {
			v = metric(quality.Score("", truth, interestLists(cand, task, slices.Sorted(maps.Keys(truth))), 1).At(k))
		}
		memo[key{s, hl, g}] = v / s.bars[task]
		return v / s.bars[task], nil
	}
	// rows is a matrix of values: one row per set of sub that has a task,
	// one column per x
	rows := func(sub []*defaultsSet, n int, at func(s *defaultsSet, i int) (float64, error)) ([][]float64, error) {
		var out [][]float64
		for _, s := range sub {
			if taskOf(s) == "" {
				continue
			}
			row := make([]float64, n)
			for i := range n {
				v, err := at(s, i)
				if err != nil {
					return nil, err
				}
				row[i] = v
			}
			out = append(out, row)
		}
		return out, nil
	}
	halfLifeFor := func(sub []*defaultsSet) (float64, error) {
		timed := slices.DeleteFunc(slices.Clone(sub), func(s *defaultsSet) bool { return len(s.runs) == 1 })
		m, err := rows(timed, len(halfLives), func(s *defaultsSet, i int) (float64, error) { return value(s, halfLives[i], baseALS) })
		if err != nil {
			return 0, err
		}
		if i, _ := maximin(m); i >= 0 {
			return halfLives[i], nil
		}
		return base.Features.HalfLifeDays, nil // no timed dataset: keep the half-life
	}
	bestALS := func(sub []*defaultsSet) (float64, alsSetting, float64, bool, error) {
		hl, err := halfLifeFor(sub)
		if err != nil {
			return 0, alsSetting{}, 0, false, err
		}
		m, err := rows(sub, len(grid), func(s *defaultsSet, i int) (float64, error) { return value(s, hl, grid[i]) })
		if err != nil {
			return 0, alsSetting{}, 0, false, err
		}
		i, w := maximin(m)
		if i < 0 {
			return hl, alsSetting{}, 0, false, nil
		}
		return hl, grid[i], w, true, nil
	}
	// the friend weights, by coordinate search from the current defaults
	// and from each set's tuned weights
	friendSets := func(sub []*defaultsSet) []*defaultsSet {
		return slices.DeleteFunc(slices.Clone(sub), func(s *defaultsSet) bool {
			return len(s.friends) == 0 || s.bars[datasets.TaskFriends] == 0
		})
	}
	worst := func(sub []*defaultsSet, w [models.NumFriendFeatures]float64) float64 {
		v := math.Inf(1)
		for _, s := range sub {
			v = math.Min(v, s.friendRecall(w)/s.bars[datasets.TaskFriends])
		}
		return v
	}
	bestFriends := func(sub []*defaultsSet) ([models.NumFriendFeatures]float64, float64) {
		start := []models.FriendParams{base.Friends}
		for _, s := range sets {
			start = append(start, s.pr.p.Friends)
		}
		var best [models.NumFriendFeatures]float64
		bestW := math.Inf(-1)
		for _, fp := range start {
			if v := worst(sub, fp.Weights()); v > bestW {
				best, bestW = fp.Weights(), v
			}
		}
		for range 3 {
			for i := range models.NumFriendFeatures {
				for _, v := range coordinateSteps(best, i) {
					cand := best
					cand[i] = v
					if got := worst(sub, cand); got > bestW {
						best, bestW = cand, got
					}
				}
			}
		}
		for i, v := range best {
			best[i] = math.Round(v*1e4) / 1e4
		}
		return best, bestW
	}
	for _, name := range slices.Sorted(maps.Keys(subsets)) {
		sub := subsets[name]
		log.Info("defaults: choosing", "without", name, "interest_models_trained", len(memo))
		p := base
		label := "every dataset"
		if name != "" {
			label = "the datasets but " + name
		}
		hl, g, w, ok, err := bestALS(sub)
		if err != nil {
			return ch, err
		}
		if ok {
			p.Features.HalfLifeDays = hl
			p.ALS.Factors, p.ALS.Alpha, p.ALS.Lambda = g.factors, g.alpha, g.lambda
			ch.notes = append(ch.notes, fmt.Sprintf("on %s: half_life_days=%g, als factors=%d alpha=%g lambda=%g (worst ratio to the best classic baseline %.3f)", label, hl, g.factors, g.alpha, g.lambda, w))
		}
		if gs := slices.DeleteFunc(slices.Clone(sub), func(s *defaultsSet) bool { return taskOf(s) != datasets.TaskGroups }); ok && len(gs) > 0 {
			cp, gp, v, err := bestGroups(ctx, gs, p, workers)
			if err != nil {
				return ch, err
			}
			p.ColdStart, p.Groups = cp, gp
			ch.notes = append(ch.notes, fmt.Sprintf("on %s: %s (worst ratio %.3f)", label, groupSetting(cp, gp), v))
		}
		if fs := friendSets(sub); len(fs) > 0 {
			w, v := bestFriends(fs)
			w = keepUnseen(w, base.Friends.Weights(), fs)
			p.Friends.SetWeights(w)
			desc := ""
			for i, x := range w {
				desc += fmt.Sprintf(" %s=%g", models.FriendFeatureNames[i], x)
			}
			ch.notes = append(ch.notes, fmt.Sprintf("on %s: friends%s (worst ratio %.3f)", label, desc, v))
		}
		if name == "" {
			ch.all = p
		} else {
			ch.without[name] = p
		}
	}
	return ch, nil
}

// maximin returns the column whose smallest value over the rows is
// largest, and that value; -1 when there are no rows or columns. Ties go
// to the first column.
func maximin(rows [][]float64) (int, float64) {
	if len(rows) == 0 {
		return -1, 0
	}
	best, bestW := -1, math.Inf(-1)
	for c := range rows[0] {
		w := math.Inf(1)
		for _, r := range rows {
			w = math.Min(w, r[c])
		}
		if w > bestW {
			best, bestW = c, w
		}
	}
	return best, bestW
}

// keepUnseen sets the weights of features no candidate of the sets ever
// has (money ties and contacts, which no public dataset holds) back to
// the hand-set ones, scaled as the mutual-friends weight was: a search
// cannot choose a weight it cannot see, and zero would throw the signal
// away in production.
func keepUnseen(w, hand [models.NumFriendFeatures]float64, sets []*defaultsSet) [models.NumFriendFeatures]float64 {
	var seen [models.NumFriendFeatures]bool
	for _, s := range sets {
		for _, c := range s.friends {
			for i, x := range c.X {
				seen[i] = seen[i] || x != 0
			}
		}
	}
	scale := 1.0
	if m := models.FeatMutual; hand[m] != 0 && w[m] != 0 {
		scale = w[m] / hand[m]
	}
	for i := range w {
		if !seen[i] {
			w[i] = math.Round(hand[i]*scale*1e4) / 1e4
		}
	}
	return w
}

// bestGroups chooses the group score's weights and the cold-start prior's
// weight by their worst case over sets (each with a group task), with the
// half-life and interest model of p.
func bestGroups(ctx context.Context, sets []*defaultsSet, p output.Params, workers int) (models.ColdStartParams, models.GroupParams, float64, error) {
	type setting struct {
		cp models.ColdStartParams
		gp models.GroupParams
	}
	var grid []setting
	for _, w := range []float64{0, 1, 2, 4} {
		for _, iw := range []float64{0, 1, 3} {
			// Social proof is part of the group rule, not a tuning choice:
			// a group one's friends are in sells better, and a default that
			// ignored them would be chosen on one dataset's quirk.
			for _, sw := range []float64{1, 3} {
				for _, scale := range []float64{2, 10} {
					for _, hw := range []float64{0, 0.2, 1} {
						for _, cw := range coMemberWeights {
							st := setting{p.ColdStart, p.Groups}
							st.cp.Weight = w
							st.gp.InterestWeight, st.gp.SocialWeight, st.gp.SocialScale, st.gp.HealthWeight, st.gp.CoMemberWeight = iw, sw, scale, hw, cw
							grid = append(grid, st)
						}
					}
				}
			}
		}
	}
	var rows [][]float64
	for _, s := range sets {
		in := s.runs[p.Features.HalfLifeDays]
		if in == nil {
			in = s.runs[firstKey(s.runs)]
		}
		ap := p.ALS
		ap.Workers = workers
		rt := in.Features.Signals.Transpose(int(in.Features.Items.N))
		bare, err := models.TrainALS(ctx, &in.Features.Signals, &rt, models.InterestKeys(in.Dims, in.Features.Items), ap, nil)
		if err != nil {
			return p.ColdStart, p.Groups, 0, err
		}
		truth := s.truth[datasets.TaskGroups]
		withPrior := map[float64]*models.Inputs{}
		row := make([]float64, len(grid))
		for i, st := range grid {
			cand, ok := withPrior[st.cp.Weight]
			if !ok {
				als, err := withColdStart(ctx, in, bare, st.cp, ap)
				if err != nil {
					return p.ColdStart, p.Groups, 0, err
				}
				cand = &models.Inputs{Dims: in.Dims, Features: in.Features, ALS: als}
				withPrior[st.cp.Weight] = cand
			}
			g := widened(p).Groups
			g.InterestWeight, g.SocialWeight, g.SocialScale, g.HealthWeight, g.CoMemberWeight = st.gp.InterestWeight, st.gp.SocialWeight, st.gp.SocialScale, st.gp.HealthWeight, st.gp.CoMemberWeight
			l, err := rankedGroups(ctx, cand, g, truth, workers)
			if err != nil {
				return p.ColdStart, p.Groups, 0, err
			}
			row[i] = quality.Score("", truth, l, 1).At(5).Recall / s.bars[datasets.TaskGroups]
		}
		rows = append(rows, row)
	}
	i, v := maximin(rows)
	if i < 0 {
		return p.ColdStart, p.Groups, 0, nil
	}
	return grid[i].cp, grid[i].gp, v, nil
}
