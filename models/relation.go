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

// RelationPair is what the relation type of a pair (u, c) is predicted
// from. Both drivers build it, the local one from its arrays
// (relationPairs) and the Beam one by joins keyed by the pair, so every
// count in it is one a partitioned driver can make: mutual friends as
// friend candidates reach each other (through a super-node only when its
// fan-out sample holds c), and co-membership of small groups and
// activities only, which also say more of how two people know each other
// than a group of thousands does.
type RelationPair struct {
	Info features.TieInfo
	// Mutual counts the mutual friends through whom u reaches c.
	Mutual int32
	// Degree is each user's friend count, u's first.
	Degree [2]int32
	// CoMember counts the active groups and the activities both joined
	// that have at most FriendParams.SmallGroupSize eligible members.
	CoMember int32
	// Minor is each user's minor flag, u's first.
	Minor    [2]bool
	SameCity bool
	// Interest is the cosine of their topic weights.
	Interest float64
}

// Features is the pair's relation feature vector.
func (p *RelationPair) Features() [NumRelationFeatures]float64 {
	var x [NumRelationFeatures]float64
	info := &p.Info
	if info.Family {
		x[RelFeatFamilyAccount] = 1
	}
	x[RelFeatFunds] = math.Log1p(float64(info.Funds))
	x[RelFeatSplits] = math.Log1p(float64(info.Splits))
	x[RelFeatTransfers] = math.Log1p(float64(info.Transfers) + float64(info.RedPackets))
	timed := float64(info.Transfers) + float64(info.Splits) + float64(info.RedPackets)
	x[RelFeatWorkHours] = (float64(info.WorkHours) + 0.5) / (timed + 1)
	switch mu, mc := p.Minor[0], p.Minor[1]; {
	case mu && mc:
		x[RelFeatBothMinors] = 1
	case mu != mc:
		x[RelFeatOneMinor] = 1
	}
	x[RelFeatMutual] = math.Log1p(float64(p.Mutual))
	if union := p.Degree[0] + p.Degree[1] - p.Mutual; union > 0 {
		x[RelFeatJaccard] = float64(p.Mutual) / float64(union)
	}
	x[RelFeatCoMember] = math.Log1p(float64(p.CoMember))
	x[RelFeatInterest] = p.Interest
	if p.SameCity {
		x[RelFeatSameCity] = 1
	}
	return x
}

// relationPairs builds RelationPair from the local driver's arrays.
type relationPairs struct {
	d     *data.Dims
	f     *features.Features
	small int // FriendParams.SmallGroupSize
	hubs  fanouts
}

func newRelationPairs(d *data.Dims, f *features.Features, p FriendParams, hubs fanouts) *relationPairs {
	if hubs == nil {
		hubs = hubSamples(d, f, p.MaxFanout)
	}
	return &relationPairs{d: d, f: f, small: p.SmallGroupSize, hubs: hubs}
}

func (r *relationPairs) pair(u, c int32) RelationPair {
	d, f := r.d, r.f
	p := RelationPair{Minor: [2]bool{d.UserMinor[u], d.UserMinor[c]}, SameCity: d.UserCity[u] == d.UserCity[c]}
	_, p.Info = f.Tie(u, c)
	fu, fc := colsOf(&f.Friends, u), colsOf(&f.Friends, c)
	p.Degree = [2]int32{int32(len(fu)), int32(len(fc))}
	eachCommon(fu, fc, func(w int32) {
		if f.Eligible[w] && r.hubs.reaches(d, w, c) {
			p.Mutual++
		}
	})
	eachCommon(colsOf(&f.Members, u), colsOf(&f.Members, c), func(g int32) {
		if d.GroupStatus[g] == data.StatusActive && len(colsOf(&f.GroupMembers, g)) <= r.small {
			p.CoMember++
		}
	})
	eachCommon(colsOf(&f.Signups, u), colsOf(&f.Signups, c), func(a int32) {
		if len(colsOf(&f.ActSignups, a)) <= r.small {
			p.CoMember++
		}
	})
	if nt := len(f.Topics); nt > 0 {
		p.Interest = cosine(f.UserTopics[int(u)*nt:int(u+1)*nt], f.UserTopics[int(c)*nt:int(c+1)*nt])
	}
	return p
}

// CommonCount counts the values two ascending slices share.
func CommonCount[T cmp.Ordered](a, b []T) int {
	n := 0
	eachCommon(a, b, func(T) { n++ })
	return n
}

// eachCommon calls do with each value two ascending slices share, in
// ascending order.
func eachCommon[T cmp.Ordered](a, b []T, do func(T)) {
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			do(a[i])
			i, j = i+1, j+1
		}
	}
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

// Label sets the relation type of suggestion s, of the pair pair, and
// leads its reasons with the type when the model is sure enough of it.
func (m *RelationModel) Label(s *data.FriendSuggestion, pair *RelationPair) {
	p := m.Predict(pair)
	k := argmax(p[:])
	s.Relation = RelationTypes[k].String()
	s.PFamily, s.PColleague, s.PClassmate, s.PInterest = float32(p[0]), float32(p[1]), float32(p[2]), float32(p[3])
	if p[k] >= m.ReasonMin {
		s.Reasons = append([]data.Reason{{Code: relationReasons[k]}}, s.Reasons...)
	}
}

// Predict returns the probability of each type of RelationTypes for the
// pair.
func (m *RelationModel) Predict(pair *RelationPair) [NumRelationClasses]float64 {
	return m.predict(pair.Features())
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

// ErrTooFewLabels is wrapped by FitRelations when a run holds fewer
// labelled friendships than it needs.
var ErrTooFewLabels = errors.New("too few labelled friendships")

// RelationExample is one labelled friendship: the user who labelled it,
// the friend, the type the user gave, and the pair's features
// (RelationPair.Features).
type RelationExample struct {
	User, Friend int64
	Type         data.RelationType
	X            [NumRelationFeatures]float64
}

// CompareRelationExamples orders examples by a hash of their pair, then
// by pair and type. FitRelations fits in this order, and its sample is
// the first examples in it, so that neither the sample nor the sums of
// the fit depend on the order the examples come in: the Beam driver keeps
// the same sample with a bounded combine.
func CompareRelationExamples(a, b RelationExample) int {
	return cmp.Or(cmp.Compare(relationHash(a), relationHash(b)), cmp.Compare(a.User, b.User), cmp.Compare(a.Friend, b.Friend), cmp.Compare(a.Type, b.Type))
}

func relationHash(e RelationExample) uint64 { return mix64(UserKey(e.User) + uint64(e.Friend)) }

// sampleRelations sorts ex by CompareRelationExamples and keeps the first n.
func sampleRelations(ex []RelationExample, n int) []RelationExample {
	slices.SortFunc(ex, CompareRelationExamples)
	return ex[:min(len(ex), n)]
}

// enoughRelations fails wrapping ErrTooFewLabels when ex holds fewer than
// p.MinLabels examples, or fewer than two types.
func enoughRelations(ex []RelationExample, p RelationParams) error {
	seen := map[data.RelationType]bool{}
	for _, e := range ex {
		seen[e.Type] = true
	}
	if len(ex) < p.MinLabels || len(seen) < 2 {
		return fmt.Errorf("relation types: %d labelled friendships of %d types, want ≥ %d of ≥ 2 (%w)", len(ex), len(seen), p.MinLabels, ErrTooFewLabels)
	}
	return nil
}

// TrainRelations fits the relation-type model on the labelled friendships
// of f, their pairs built as friend suggestions' are under fp
// (FitRelations).
func TrainRelations(ctx context.Context, d *data.Dims, f *features.Features, fp FriendParams, p RelationParams) (*RelationModel, error) {
	ex := make([]RelationExample, len(f.FriendLabels))
	for i, l := range f.FriendLabels {
		ex[i] = RelationExample{User: d.Users.ID(l.User), Friend: d.Users.ID(l.Friend), Type: l.Type}
	}
	ex = sampleRelations(ex, p.MaxExamples) // before the features: only the sample's are needed
	if err := enoughRelations(ex, p); err != nil {
		return nil, err
	}
	rp := newRelationPairs(d, f, fp, nil)
	for i := range ex {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		pair := rp.pair(d.Users.Lookup(ex[i].User), d.Users.Lookup(ex[i].Friend))
		ex[i].X = pair.Features()
	}
	return FitRelations(ex, p)
}

// FitRelations fits the relation-type model on the first p.MaxExamples
// examples in CompareRelationExamples order (it reorders ex). It fails
// wrapping ErrTooFewLabels when they are fewer than p.MinLabels, or of
// fewer than two types.
func FitRelations(ex []RelationExample, p RelationParams) (*RelationModel, error) {
	ex = sampleRelations(ex, p.MaxExamples)
	if err := enoughRelations(ex, p); err != nil {
		return nil, err
	}
	m := &RelationModel{ReasonMin: p.ReasonMin}
	X := make([][NumRelationFeatures]float64, len(ex))
	y := make([]int, len(ex))
	for i, e := range ex {
		X[i], y[i] = e.X, class(e.Type)
		m.Examples[y[i]]++
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
