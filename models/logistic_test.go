package models

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestFitLogisticRecoversPlantedWeights draws labels from a known logistic
// model over features of very different scales and checks the fit finds
// its weights on the raw scale.
func TestFitLogisticRecoversPlantedWeights(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	want := []float64{2, -0.05, 0, 40}
	const bias = -1.0
	var X [][]float64
	var y []bool
	for range 20000 {
		x := []float64{r.NormFloat64(), 30 * r.NormFloat64(), r.NormFloat64(), 0.02 * r.NormFloat64()}
		z := bias
		for j := range x {
			z += want[j] * x[j]
		}
		X = append(X, x)
		y = append(y, r.Float64() < 1/(1+math.Exp(-z)))
	}
	w, b, err := FitLogistic(X, y, 0)
	if err != nil {
		t.Fatal(err)
	}
	for j := range want {
		// 10% of the weight plus about four standard errors (one is near
		// 0.016 divided by the feature's scale at this n)
		if tol := 0.1*math.Abs(want[j]) + 0.06/[]float64{1, 30, 1, 0.02}[j]; math.Abs(w[j]-want[j]) > tol {
			t.Errorf("w[%d] = %.4f, want %.4f ± %.4f", j, w[j], want[j], tol)
		}
	}
	if math.Abs(b-bias) > 0.1 {
		t.Errorf("intercept %.3f, want %.1f", b, bias)
	}
	// a penalty shrinks the weights towards zero
	ws, _, err := FitLogistic(X, y, 0.1)
	if err != nil || math.Abs(ws[0]) >= math.Abs(w[0]) {
		t.Errorf("penalised w[0] = %v (err %v), want smaller than %v", ws, err, w[0])
	}
}

func TestFitLogisticNeedsBothClasses(t *testing.T) {
	t.Parallel()
	if _, _, err := FitLogistic([][]float64{{1}, {2}}, []bool{true, true}, 0); err == nil {
		t.Error("fit with one class succeeded")
	}
	// a constant column gets weight 0 rather than breaking the fit
	w, _, err := FitLogistic([][]float64{{1, 5}, {2, 5}, {3, 5}, {4, 5}}, []bool{false, true, false, true}, 0.01)
	if err != nil || w[1] != 0 {
		t.Errorf("w = %v, err %v; want the constant column at 0", w, err)
	}
}
