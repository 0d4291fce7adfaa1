package models

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"circles/data"
	"circles/features"
)

// The relation type of a suggested tie: how two people who may know each
// other probably know each other (family, colleagues, classmates,
// interest friends). It is learned from the friendships users labelled
// themselves (the relations snapshot's label column) and applied to each
// friend suggestion. Every feature is of something both users took part
// in (money between them, their shared friends, groups and interests) or
// of the two users themselves (their age band, city): never of a third
// party's transactions.

// RelationParams tunes the relation-type model.
type RelationParams struct {
	// MinLabels is the labelled friendships a run needs to train the
	// model; with fewer, suggestions carry no relation type. ≥ 10.
	MinLabels int `json:"min_labels"`
	// MaxExamples bounds the labelled friendships trained on (a
	// deterministic sample beyond it), 100..10000000.
	MaxExamples int `json:"max_examples"`
	// L2 is the penalty on the standardised weights, 0..10.
	L2 float64 `json:"l2"`
	// ReasonMin is the probability of the most likely type from which a
	// suggestion says it ("you may be colleagues"), 0.25..1.
	ReasonMin float64 `json:"reason_min"`
}

// DefaultRelationParams returns production defaults.
func DefaultRelationParams() RelationParams {
	return RelationParams{MinLabels: 200, MaxExamples: 200000, L2: 1e-3, ReasonMin: 0.6}
}

// Validate checks every field and names the first bad one.
func (p RelationParams) Validate() error {
	switch {
	case p.MinLabels < 10:
		return fmt.Errorf("relations.min_labels = %d: want ≥ 10", p.MinLabels)
	case p.MaxExamples < 100 || p.MaxExamples > 10_000_000:
		return fmt.Errorf("relations.max_examples = %d: want 100..10000000", p.MaxExamples)
	case !(p.L2 >= 0 && p.L2 <= 10):
		return fmt.Errorf("relations.l2 = %v: want 0..10", p.L2)
	case !(p.ReasonMin >= 0.25 && p.ReasonMin <= 1):
		return fmt.Errorf("relations.reason_min = %v: want 0.25..1", p.ReasonMin)
	}
	return nil
}

// RelationTypes are the types the model predicts, in the order of its
// probabilities.
var RelationTypes = [NumRelationClasses]data.RelationType{data.RelTypeFamily, data.RelTypeColleague, data.RelTypeClassmate, data.RelTypeInterest}

// NumRelationClasses is the number of relation types predicted.
const NumRelationClasses = int(data.NumRelationTypes) - 1

// class is the position of t in RelationTypes.
func class(t data.RelationType) int { return int(t) - 1 }

// RelationFeature is a position in a pair's relation feature vector.
type RelationFeature int

// The relation features, in vector order.
const (
	RelFeatFamilyAccount RelationFeature = iota // 1 when they share a family account
	RelFeatFunds                                // log(1 + shared fund-group events)
	RelFeatSplits                               // log(1 + bills split together)
	RelFeatTransfers                            // log(1 + transfers and red packets between them)
	RelFeatWorkHours                            // share of their timed money events in working hours, 0.5 with none
	RelFeatBothMinors                           // 1 when both are minors (or of unknown age)
	RelFeatOneMinor                             // 1 when exactly one is
	RelFeatMutual                               // log(1 + mutual friends)
	RelFeatJaccard                              // mutual friends / friends of either
	RelFeatCoMember                             // log(1 + shared groups and activities)
	RelFeatInterest                             // cosine of their topic weights
	RelFeatSameCity                             // 1 when they live in the same city
	NumRelationFeatures
)

// RelationFeatureNames names the relation features, in vector order.
var RelationFeatureNames = [NumRelationFeatures]string{
	RelFeatFamilyAccount: "family_account", RelFeatFunds: "funds", RelFeatSplits: "splits", RelFeatTransfers: "transfers",
	RelFeatWorkHours: "work_hours", RelFeatBothMinors: "both_minors", RelFeatOneMinor: "one_minor", RelFeatMutual: "mutual",
	RelFeatJaccard: "jaccard", RelFeatCoMember: "co_member", RelFeatInterest: "interest", RelFeatSameCity: "same_city",
}

// RelationFeatures computes the relation features of the pair (u, c).
func RelationFeatures(d *data.Dims, f *features.Features, u, c int32) [NumRelationFeatures]float64 {
	var x [NumRelationFeatures]float64
	_, info := f.Tie(u, c)
	if info.Family {
		x[RelFeatFamilyAccount] = 1
	}
	x[RelFeatFunds] = math.Log1p(float64(info.Funds))
	x[RelFeatSplits] = math.Log1p(float64(info.Splits))
	x[RelFeatTransfers] = math.Log1p(float64(info.Transfers) + float64(info.RedPackets))
	timed := float64(info.Transfers) + float64(info.Splits) + float64(info.RedPackets)
	x[RelFeatWorkHours] = (float64(info.WorkHours) + 0.5) / (timed + 1)
	switch mu, mc := d.UserMinor[u], d.UserMinor[c]; {
	case mu && mc:
		x[RelFeatBothMinors] = 1
	case mu != mc:
		x[RelFeatOneMinor] = 1
	}
	fu, _ := f.Friends.Row(u)
	fc, _ := f.Friends.Row(c)
	mutual := CommonCount(fu, fc)
	x[RelFeatMutual] = math.Log1p(float64(mutual))
	if union := len(fu) + len(fc) - mutual; union > 0 {
		x[RelFeatJaccard] = float64(mutual) / float64(union)
	}
	gu, _ := f.Members.Row(u)
	gc, _ := f.Members.Row(c)
	au, _ := f.Signups.Row(u)
	ac, _ := f.Signups.Row(c)
	x[RelFeatCoMember] = math.Log1p(float64(CommonCount(gu, gc) + CommonCount(au, ac)))
	if nt := len(f.Topics); nt > 0 {
		x[RelFeatInterest] = cosine(f.UserTopics[int(u)*nt:int(u+1)*nt], f.UserTopics[int(c)*nt:int(c+1)*nt])
	}
	if d.UserCity[u] == d.UserCity[c] {
		x[RelFeatSameCity] = 1
	}
	return x
}

// CommonCount counts the values two ascending slices share.
func CommonCount[T cmp.Ordered](a, b []T) int {
	n, i, j := 0, 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			n, i, j = n+1, i+1, j+1
		}
	}
	return n
}

// RelationModel is a multinomial logistic regression of the relation type
// on a pair's relation features.
type RelationModel struct {
	// W holds one row per class of RelationTypes: an intercept, then a
	// weight per feature on the raw (unstandardised) features.
	W [NumRelationClasses][NumRelationFeatures + 1]float64
	// Examples counts the labelled friendships trained on, per class.
	Examples [NumRelationClasses]int
	// TrainAccuracy is the share of the training examples the model
	// classifies right.
	TrainAccuracy float64
	// ReasonMin is RelationParams.ReasonMin.
	ReasonMin float64
}

// relationReasons are the reason codes of RelationTypes, in order.
var relationReasons = [NumRelationClasses]string{data.ReasonMayBeFamily, data.ReasonMayBeColleagues, data.ReasonMayBeClassmates, data.ReasonMayShareCircle}

// label sets the relation type of suggestion s of c to u, and leads its
// reasons with the type when the model is sure enough of it.
func (m *RelationModel) label(s *data.FriendSuggestion, d *data.Dims, f *features.Features, u, c int32) {
	p := m.Predict(d, f, u, c)
	k := argmax(p[:])
	s.Relation = RelationTypes[k].String()
	s.PFamily, s.PColleague, s.PClassmate, s.PInterest = float32(p[0]), float32(p[1]), float32(p[2]), float32(p[3])
	if p[k] >= m.ReasonMin {
		s.Reasons = append([]data.Reason{{Code: relationReasons[k]}}, s.Reasons...)
	}
}

// Predict returns the probability of each type of RelationTypes for the
// pair (u, c).
func (m *RelationModel) Predict(d *data.Dims, f *features.Features, u, c int32) [NumRelationClasses]float64 {
	return m.predict(RelationFeatures(d, f, u, c))
}

func (m *RelationModel) predict(x [NumRelationFeatures]float64) [NumRelationClasses]float64 {
	var z [NumRelationClasses]float64
	for k := range z {
		z[k] = m.W[k][0]
		for j, v := range x {
			z[k] += m.W[k][j+1] * v
		}
	}
	return softmax(z)
}

func softmax(z [NumRelationClasses]float64) [NumRelationClasses]float64 {
	top := slices.Max(z[:])
	var sum float64
	for k := range z {
		z[k] = math.Exp(z[k] - top)
		sum += z[k]
	}
	for k := range z {
		z[k] /= sum
	}
	return z
}

// ErrTooFewLabels is wrapped by TrainRelations when a run holds fewer
// labelled friendships than it needs.
var ErrTooFewLabels = errors.New("too few labelled friendships")

// TrainRelations fits the relation-type model on the labelled friendships
// of f. It fails wrapping ErrTooFewLabels when there are fewer than
// p.MinLabels, or when fewer than two types are labelled.
func TrainRelations(ctx context.Context, d *data.Dims, f *features.Features, p RelationParams) (*RelationModel, error) {
	labels := f.FriendLabels
	if len(labels) > p.MaxExamples {
		labels = sampleLabels(labels, p.MaxExamples)
	}
	m := &RelationModel{ReasonMin: p.ReasonMin}
	for _, l := range labels {
		m.Examples[class(l.Type)]++
	}
	classes := 0
	for _, n := range m.Examples {
		if n > 0 {
			classes++
		}
	}
	if len(labels) < p.MinLabels || classes < 2 {
		return nil, fmt.Errorf("relation types: %d labelled friendships of %d types, want ≥ %d of ≥ 2 (%w)", len(labels), classes, p.MinLabels, ErrTooFewLabels)
	}
	X := make([][NumRelationFeatures]float64, len(labels))
	y := make([]int, len(labels))
	for i, l := range labels {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		X[i], y[i] = RelationFeatures(d, f, l.User, l.Friend), class(l.Type)
	}
	w, err := fitSoftmax(X, y, p.L2)
	if err != nil {
		return nil, err
	}
	m.W = w
	right := 0
	for i := range X {
		pr := m.predict(X[i])
		if argmax(pr[:]) == y[i] {
			right++
		}
	}
	m.TrainAccuracy = float64(right) / float64(len(X))
	return m, nil
}

// sampleLabels keeps n labels, chosen by a hash of the pair so that the
// sample is the same whatever order the snapshot lists them in.
func sampleLabels(labels []features.FriendLabel, n int) []features.FriendLabel {
	type keyed struct {
		h uint64
		l features.FriendLabel
	}
	ks := make([]keyed, len(labels))
	for i, l := range labels {
		h := uint64(uint32(l.User))<<32 | uint64(uint32(l.Friend))
		h ^= h >> 33
		h *= 0xff51afd7ed558ccd
		h ^= h >> 33
		ks[i] = keyed{h, l}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		return cmp.Or(cmp.Compare(a.h, b.h), cmp.Compare(a.l.User, b.l.User), cmp.Compare(a.l.Friend, b.l.Friend), cmp.Compare(a.l.Type, b.l.Type))
	})
	out := make([]features.FriendLabel, n)
	for i := range out {
		out[i] = ks[i].l
	}
	return out
}

func argmax(p []float64) int {
	best := 0
	for k, v := range p {
		if v > p[best] {
			best = k
		}
	}
	return best
}

// fitSoftmax fits a multinomial logistic regression with an L2 penalty on
// standardised features by Newton's method, with the last class as the
// reference (its weights are zero, which makes the fit identifiable), and
// returns the weights on the raw features (intercept first). Columns that
// never vary get weight 0.
func fitSoftmax(X [][NumRelationFeatures]float64, y []int, l2 float64) ([NumRelationClasses][NumRelationFeatures + 1]float64, error) {
	const k, d = NumRelationClasses, int(NumRelationFeatures)
	const m = (k - 1) * (d + 1) // free parameters
	var out [k][d + 1]float64
	n := float64(len(X))
	var mean, sd [d]float64
	for _, x := range X {
		for j, v := range x {
			mean[j] += v / n
		}
	}
	for _, x := range X {
		for j, v := range x {
			sd[j] += (v - mean[j]) * (v - mean[j]) / n
		}
	}
	for j := range sd {
		sd[j] = math.Sqrt(sd[j])
		if sd[j] <= 1e-9*(1+math.Abs(mean[j])) { // constant but for rounding
			sd[j] = 0
		}
	}
	// z rows: a leading 1 for the intercept, then the standardised features
	z := make([][d + 1]float64, len(X))
	for i, x := range X {
		z[i][0] = 1
		for j, v := range x {
			if sd[j] > 0 {
				z[i][j+1] = (v - mean[j]) / sd[j]
			}
		}
	}
	beta := make([]float64, m) // class c's row is beta[c*(d+1):(c+1)*(d+1)]
	g := make([]float64, m)
	h := make([]float64, m*m) // the upper triangle of the negative Hessian
	var step mat.VecDense
	for range 50 {
		clear(g)
		clear(h)
		var p [k]float64
		for i, x := range z {
			for c := range k - 1 {
				p[c] = floats.Dot(beta[c*(d+1):(c+1)*(d+1)], x[:])
			}
			p[k-1] = 0
			p = softmax(p)
			for c := range k - 1 {
				t := 0.0
				if y[i] == c {
					t = 1
				}
				floats.AddScaled(g[c*(d+1):(c+1)*(d+1)], t-p[c], x[:])
				for e := c; e < k-1; e++ {
					w := -p[c] * p[e]
					if e == c {
						w += p[c]
					}
					for a := range d + 1 {
						row := h[(c*(d+1)+a)*m+e*(d+1) : (c*(d+1)+a)*m+(e+1)*(d+1)]
						floats.AddScaled(row, w*x[a], x[:])
					}
				}
			}
		}
		for r := range m {
			pen := 1e-8 * n // intercepts: just enough to keep the system solvable
			if r%(d+1) > 0 {
				pen = l2 * n
			}
			g[r] -= pen * beta[r]
			h[r*m+r] += pen
		}
		hess := mat.NewSymDense(m, nil)
		for r := range m {
			for c := r; c < m; c++ {
				hess.SetSym(r, c, h[r*m+c])
			}
		}
		grad := mat.NewVecDense(m, g)
		var chol mat.Cholesky
		if !chol.Factorize(hess) {
			return out, errors.New("relation types: Hessian not positive definite")
		}
		if err := chol.SolveVecTo(&step, grad); err != nil {
			return out, fmt.Errorf("relation types: %w", err)
		}
		floats.Add(beta, step.RawVector().Data)
		if mat.Norm(&step, math.Inf(1)) < 1e-8 {
			break
		}
	}
	for c := range k - 1 {
		row := beta[c*(d+1) : (c+1)*(d+1)]
		out[c][0] = row[0]
		for j := range d {
			if sd[j] > 0 {
				w := row[j+1] / sd[j]
				out[c][j+1] = w
				out[c][0] -= w * mean[j]
			}
		}
	}
	return out, nil
}
