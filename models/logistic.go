package models

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// FitLogistic fits an L2-regularised logistic regression of y on the rows
// of X by Newton's method (iteratively reweighted least squares), on
// standardised features so that one penalty l2 suits features of any scale.
// It returns the weights on the raw features and the intercept. Columns
// that never vary get weight 0. It fails when X is empty or y has a single
// class.
func FitLogistic(X [][]float64, y []bool, l2 float64) (w []float64, intercept float64, err error) {
	n := len(X)
	if n == 0 || len(y) != n {
		return nil, 0, fmt.Errorf("logistic regression: %d rows and %d labels", n, len(y))
	}
	pos := 0
	for _, v := range y {
		if v {
			pos++
		}
	}
	if pos == 0 || pos == n {
		return nil, 0, fmt.Errorf("logistic regression: %d positives of %d rows; need both classes", pos, n)
	}
	d := len(X[0])
	mean, sd := make([]float64, d), make([]float64, d)
	for _, row := range X {
		for j, v := range row {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	for _, row := range X {
		for j, v := range row {
			sd[j] += (v - mean[j]) * (v - mean[j])
		}
	}
	for j := range sd {
		sd[j] = math.Sqrt(sd[j] / float64(n))
	}
	// Z is the standardised design with a leading intercept column.
	Z := mat.NewDense(n, d+1, nil)
	for i, row := range X {
		Z.Set(i, 0, 1)
		for j, v := range row {
			if sd[j] > 0 {
				Z.Set(i, j+1, (v-mean[j])/sd[j])
			}
		}
	}
	beta := mat.NewVecDense(d+1, nil)
	var (
		H    mat.SymDense
		g    = mat.NewVecDense(d+1, nil)
		step mat.VecDense
		eta  mat.VecDense
		wz   = mat.NewDense(n, d+1, nil)
	)
	for range 50 {
		eta.MulVec(Z, beta)
		resid := mat.NewVecDense(n, nil)
		for i := range n {
			p := 1 / (1 + math.Exp(-eta.AtVec(i)))
			t := 0.0
			if y[i] {
				t = 1
			}
			resid.SetVec(i, t-p)
			q := math.Max(p*(1-p), 1e-12)
			for j := range d + 1 {
				wz.Set(i, j, q*Z.At(i, j))
			}
		}
		// H = Zᵀ W Z + λI (intercept unpenalised), g = Zᵀ(y − p) − λβ
		var zt mat.Dense
		zt.Mul(Z.T(), wz)
		H.Reset()
		H.ReuseAsSym(d + 1)
		for i := range d + 1 {
			for j := i; j <= d; j++ {
				H.SetSym(i, j, zt.At(i, j))
			}
			if i > 0 {
				H.SetSym(i, i, H.At(i, i)+l2*float64(n))
			}
		}
		g.MulVec(Z.T(), resid)
		for j := 1; j <= d; j++ {
			g.SetVec(j, g.AtVec(j)-l2*float64(n)*beta.AtVec(j))
		}
		var chol mat.Cholesky
		if !chol.Factorize(&H) {
			return nil, 0, fmt.Errorf("logistic regression: Hessian not positive definite")
		}
		if err := chol.SolveVecTo(&step, g); err != nil {
			return nil, 0, fmt.Errorf("logistic regression: %w", err)
		}
		beta.AddVec(beta, &step)
		if mat.Norm(&step, math.Inf(1)) < 1e-8 {
			break
		}
	}
	w = make([]float64, d)
	intercept = beta.AtVec(0)
	for j := range d {
		if sd[j] > 0 {
			w[j] = beta.AtVec(j+1) / sd[j]
			intercept -= w[j] * mean[j]
		}
	}
	return w, intercept, nil
}
