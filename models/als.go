package models

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"circles/data"
	"circles/features"
	"circles/models/f32"
	"circles/pipeline"
)

// ALSParams tunes the implicit-feedback matrix factorisation.
type ALSParams struct {
	Factors     int     `json:"factors"`      // latent dimension, 2..512
	Iterations  int     `json:"iterations"`   // alternating sweeps, 1..100
	CGSteps     int     `json:"cg_steps"`     // conjugate-gradient steps per row solve, 1..32
	Alpha       float64 `json:"alpha"`        // confidence per unit of signal: c = 1 + alpha·|s|, 0..1000
	Lambda      float64 `json:"lambda"`       // base L2 regularisation, 0..100
	RegExponent float64 `json:"reg_exponent"` // frequency scaling: λ_u = λ·(1+n_u)^ν, 0..2
	Seed        uint64  `json:"seed"`         // initialisation seed
	Workers     int     `json:"-"`            // 0 = GOMAXPROCS; results do not depend on it
}

// DefaultALSParams returns production defaults: 3 CG steps (Takács et
// al. 2011 find 2–3 enough with warm starts) and regularisation scaled by
// each row's number of observations (Rendle et al. 2022, "Revisiting the
// Performance of iALS"); the dimension, alpha and lambda are those circles
// quality chose by their worst case across the public datasets.
func DefaultALSParams() ALSParams {
	return ALSParams{Factors: 64, Iterations: 8, CGSteps: 3, Alpha: 1, Lambda: 0.03, RegExponent: 1, Seed: 42}
}

// Validate checks every field and names the first bad one.
func (p ALSParams) Validate() error {
	switch {
	case p.Factors < 2 || p.Factors > 512:
		return fmt.Errorf("als.factors = %d: want 2..512", p.Factors)
	case p.Iterations < 1 || p.Iterations > 100:
		return fmt.Errorf("als.iterations = %d: want 1..100", p.Iterations)
	case p.CGSteps < 1 || p.CGSteps > 32:
		return fmt.Errorf("als.cg_steps = %d: want 1..32", p.CGSteps)
	case !(p.Alpha >= 0 && p.Alpha <= 1000):
		return fmt.Errorf("als.alpha = %v: want 0..1000", p.Alpha)
	case !(p.Lambda >= 0 && p.Lambda <= 100):
		return fmt.Errorf("als.lambda = %v: want 0..100", p.Lambda)
	case !(p.RegExponent >= 0 && p.RegExponent <= 2):
		return fmt.Errorf("als.reg_exponent = %v: want 0..2", p.RegExponent)
	}
	return nil
}

// ALS holds the factors of a trained model: row u of Users and row i of
// Items are the latent vectors; their dot product predicts preference,
// roughly in [0, 1].
type ALS struct {
	Users, Items *mat.Dense
	// Loss is the confidence-weighted squared error over observed entries
	// divided by their total confidence, after each sweep; it should fall.
	Loss []float64
}

// NewALS returns a model of zero vectors for users and items with k
// factors, for factors loaded from elsewhere (a published run).
func NewALS(users, items, k int) *ALS {
	return &ALS{Users: mat.NewDense(max(users, 1), k, nil), Items: mat.NewDense(max(items, 1), k, nil)}
}

// TrainALS factorises the users × items signal matrix R (with Rt its
// transpose) by implicit ALS (Hu, Koren, Volinsky 2008): preference 1 for
// positive signal and 0 for negative, confidence 1 + α|s|, every unobserved
// entry preference 0 with confidence 1. Each sweep solves every row of one
// side against the other side held fixed, mostly in the eigenbasis of the
// fixed side's Gram matrix (alseigen.go): a row with few observations is
// solved exactly, a row with many by warm-started conjugate gradient.
// Rows are solved in parallel; the result depends only on R and p, never
// on the number of workers.
// progress, when not nil, is called after each sweep.
func TrainALS(ctx context.Context, R, Rt *features.CSR, keys RowKeys, p ALSParams, progress func(iter int, loss float64)) (*ALS, error) {
	m := &ALS{}
	users, items := randomSides(R, Rt, keys, p)
	userRows, itemRows := nonEmptyRows(R), nonEmptyRows(Rt)
	var scratch *gramScratch
	for it := range p.Iterations {
		if err := sweepEigen(ctx, R, items, users, itemRows, p, &scratch); err != nil {
			return nil, err
		}
		if err := sweepEigen(ctx, Rt, users, items, userRows, p, &scratch); err != nil {
			return nil, err
		}
		// Both sides are now in one basis, where dot products are those
		// of the original one.
		loss, err := observedLoss(ctx, R, keys.Users, p, func(u, i int32) float64 {
			return float64(f32.Dot(users.row(u), items.row(i)))
		})
		if err != nil {
			return nil, err
		}
		m.Loss = append(m.Loss, loss)
		if progress != nil {
			progress(it+1, loss)
		}
	}
	// The float64 factors are made only now, one side at a time: at a
	// million rows a side is half a gigabyte in float64.
	m.Users = users.toDense()
	m.Items = items.toDense()
	return m, nil
}

// TrainALSCG is TrainALS with the textbook row solve: every row by
// p.CGSteps of conjugate gradient in the original basis, each step a
// product with the k×k Gram matrix (Takács et al. 2011; what implicit's
// CPU solver does). It is the reference TrainALS is tested and
// benchmarked against.
func TrainALSCG(ctx context.Context, R, Rt *features.CSR, keys RowKeys, p ALSParams, progress func(iter int, loss float64)) (*ALS, error) {
	users, items := randomSides(R, Rt, keys, p) // the same start as TrainALS
	m := &ALS{Users: users.toDense(), Items: items.toDense()}
	for it := range p.Iterations {
		if err := sweepCG(ctx, R, m.Items, m.Users, p); err != nil {
			return nil, err
		}
		if err := sweepCG(ctx, Rt, m.Users, m.Items, p); err != nil {
			return nil, err
		}
		loss, err := observedLoss(ctx, R, keys.Users, p, func(u, i int32) float64 {
			return floats.Dot(m.Users.RawRowView(int(u)), m.Items.RawRowView(int(i)))
		})
		if err != nil {
			return nil, err
		}
		m.Loss = append(m.Loss, loss)
		if progress != nil {
			progress(it+1, loss)
		}
	}
	return m, nil
}

// RowKeys are stable keys of the rows of both sides, UserKey and ItemKey
// of their external IDs, from which each row's random start is drawn: a
// row's start depends on its key and the seed alone, never on which other
// rows exist or in what order they come, so a driver that holds the rows
// partitioned starts every row the same. A nil slice keys rows by index.
type RowKeys struct{ Users, Items []uint64 }

// UserKey is the start key of a user row.
func UserKey(id int64) uint64 { return mix64(uint64(id)) }

// ItemKey is the start key of an item row: the item's table and its ID
// in that table.
func ItemKey(kind data.TargetKind, id int64) uint64 {
	return mix64(uint64(id) + uint64(kind+1)*0x9e3779b97f4a7c15)
}

// mix64 is SplitMix64's finaliser: neighbouring IDs get unrelated keys.
func mix64(x uint64) uint64 {
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// Which side of the factorisation a row belongs to; the sides draw their
// starts from different streams.
const (
	UserSide uint64 = 0x5eed
	ItemSide uint64 = 0x17e3
)

// StartRow fills x with the random start of the row of key on side: k
// draws of N(0, 0.01²) from a generator seeded by the seed, the side and
// the key.
func StartRow(x []float32, seed, side, key uint64) {
	r := rand.New(rand.NewPCG(seed^side, key))
	for i := range x {
		x[i] = float32(r.NormFloat64() * 0.01)
	}
}

// randomSides is the seeded random start of both sides. A row with no
// observations starts at zero, its solution: it adds nothing to the first
// sweep's Gram matrix, as it does not where the rows are partitioned.
func randomSides(R, Rt *features.CSR, keys RowKeys, p ALSParams) (*side, *side) {
	init := func(m *features.CSR, keys []uint64, tag uint64) *side {
		n := m.Rows()
		s := &side{k: p.Factors, x: make([]float32, max(n, 1)*p.Factors), basis: identity(p.Factors)}
		for i := range int32(n) {
			if m.Start[i+1] == m.Start[i] {
				continue
			}
			key := uint64(i)
			if keys != nil {
				key = keys[i]
			}
			StartRow(s.row(i), p.Seed, tag, key)
		}
		return s
	}
	return init(R, keys.Users, UserSide), init(Rt, keys.Items, ItemSide)
}

// SolveUsers re-solves the rows of users marked in only (all rows when
// only is nil) against fixed item factors, warm-started from their current
// values in m.Users. It is how a subset of users is recomputed in the same
// latent space as a published model.
func SolveUsers(ctx context.Context, R *features.CSR, m *ALS, only []bool, p ALSParams) error {
	return solveSubset(ctx, R, m.Items, m.Users, only, p)
}

// rowLambda is the regularisation of a row with n observations.
func rowLambda(p ALSParams, n int) float64 {
	return p.Lambda * math.Pow(1+float64(n), p.RegExponent)
}

// lossSample is the number of observations above which observedLoss
// reads a sample of rows instead of all of them.
const lossSample = 1 << 20

// LossSampled reports whether the row of key is in the sample the
// per-sweep loss of a matrix of nnz observations is taken over: every row
// up to lossSample observations, beyond that about one row in
// nnz/lossSample, chosen by the row's key, so that every driver, however
// it partitions the rows, samples the same ones.
func LossSampled(nnz int, key uint64) bool {
	return key%uint64(max(1, nnz/lossSample)) == 0
}

// observedLoss is Σ c (p − x·y)² / Σ c over the observed entries of R,
// with dot giving x_u·y_i. Past lossSample observations it is taken over
// the rows LossSampled picks by their keys (by index when keys is nil),
// which keeps a number reported per sweep from costing as much as the
// sweep itself. Rows are summed in parallel, in chunks added in order, so
// the result does not depend on the number of workers.
func observedLoss(ctx context.Context, R *features.CSR, keys []uint64, p ALSParams, dot func(u, i int32) float64) (float64, error) {
	nnz := R.NNZ()
	const chunk = 4096
	num := make([]float64, (R.Rows()+chunk-1)/chunk)
	den := make([]float64, len(num))
	err := pipeline.ForRange(ctx, R.Rows(), p.Workers, chunk, func(lo, hi int) {
		var n, d float64
		for r := lo; r < hi; r++ {
			key := uint64(r)
			if keys != nil {
				key = keys[r]
			}
			if !LossSampled(nnz, key) {
				continue
			}
			u := int32(r)
			cols, vals := R.Row(u)
			for j, c := range cols {
				e, conf := LossTerm(vals[j], p.Alpha, dot(u, c))
				n += conf * e * e
				d += conf
			}
		}
		num[lo/chunk], den[lo/chunk] = n, d
	})
	var n, d float64
	for i := range num {
		n, d = n+num[i], d+den[i]
	}
	if d == 0 {
		return 0, err
	}
	return n / d, err
}

// LossTerm is one observation's residual and confidence in the loss,
// for signal v and predicted preference dot.
func LossTerm(v float32, alpha, dot float64) (e, conf float64) {
	pref := 0.0
	if v > 0 {
		pref = 1
	}
	return pref - dot, 1 + alpha*math.Abs(float64(v))
}

// InterestKeys are the row keys of the interest model: users by their ID,
// items by their table and ID.
func InterestKeys(d *data.Dims, it features.Items) RowKeys {
	k := RowKeys{Users: make([]uint64, d.Users.Len()), Items: make([]uint64, it.N)}
	for u := range k.Users {
		k.Users[u] = UserKey(d.Users.ID(int32(u)))
	}
	for _, t := range []struct {
		kind data.TargetKind
		base int32
		ids  *data.Index
	}{
		{data.TargetGroup, it.GroupBase, &d.Groups}, {data.TargetActivity, it.ActivityBase, &d.Activities},
		{data.TargetContent, it.ContentBase, &d.Contents}, {data.TargetMerchant, it.MerchantBase, &d.Merchants},
	} {
		for i := range int32(t.ids.Len()) {
			k.Items[t.base+i] = ItemKey(t.kind, t.ids.ID(i))
		}
	}
	return k
}
