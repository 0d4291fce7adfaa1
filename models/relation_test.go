package models

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"circles/data"
)

// fitSoftmax recovers the probabilities of a planted multinomial model.
func TestFitSoftmaxRecoversPlantedModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var planted RelationModel
	for k := range NumRelationClasses - 1 { // the last class is the reference
		planted.W[k][0] = r.NormFloat64()
		for j := 1; j <= int(NumRelationFeatures); j++ {
			planted.W[k][j] = 0.3 * r.NormFloat64() // logits of a few units: a model the data identifies
		}
	}
	const n = 60000
	X := make([][NumRelationFeatures]float64, n)
	y := make([]int, n)
	for i := range X {
		for j := range X[i] {
			X[i][j] = 3 + 2*r.NormFloat64() // off-centre and scaled: the fit standardises
		}
		X[i][RelFeatSameCity] = 1 // a constant column gets weight 0
		p := planted.predict(X[i])
		u, c := r.Float64(), 0
		for c < NumRelationClasses-1 && u > p[c] {
			u -= p[c]
			c++
		}
		y[i] = c
	}
	w, err := fitSoftmax(X, y, 1e-6)
	if err != nil {
		t.Fatal(err)
	}
	got := RelationModel{W: w}
	var worst float64
	for i := range 500 {
		pw, pg := planted.predict(X[i]), got.predict(X[i])
		var sum float64
		for k := range pg {
			worst = math.Max(worst, math.Abs(pw[k]-pg[k]))
			sum += pg[k]
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Fatalf("probabilities sum to %v", sum)
		}
	}
	t.Logf("largest error of a fitted probability: %.3f", worst)
	if worst > 0.07 {
		t.Errorf("largest error of a fitted probability = %.3f, want ≤ 0.07", worst)
	}
	for k := range got.W {
		if w := got.W[k][1+RelFeatSameCity]; w != 0 {
			t.Errorf("class %d: weight %v on a constant column, want 0", k, w)
		}
	}
}

func TestFitRelationsNeedsLabels(t *testing.T) {
	p := DefaultRelationParams()
	ex := make([]RelationExample, p.MinLabels)
	for i := range ex {
		ex[i] = RelationExample{User: 1, Friend: int64(i + 2), Type: data.RelTypeFamily}
	}
	if _, err := FitRelations(ex, p); !errors.Is(err, ErrTooFewLabels) {
		t.Errorf("one labelled type: err = %v, want ErrTooFewLabels", err)
	}
	ex = ex[:p.MinLabels-1]
	ex[0].Type = data.RelTypeColleague
	if _, err := FitRelations(ex, p); !errors.Is(err, ErrTooFewLabels) {
		t.Errorf("%d labels: err = %v, want ErrTooFewLabels", len(ex), err)
	}
}

// The sample of examples does not depend on the order they come in.
func TestSampleRelationsIgnoresOrder(t *testing.T) {
	var ex []RelationExample
	for i := range int64(1000) {
		ex = append(ex, RelationExample{User: i % 37, Friend: i, Type: data.RelationType(1 + i%4)})
	}
	rev := slices.Clone(ex)
	slices.Reverse(rev)
	a, b := sampleRelations(ex, 100), sampleRelations(rev, 100)
	if len(a) != 100 {
		t.Fatalf("%d sampled, want 100", len(a))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("sample %d: %+v and %+v", i, a[i], b[i])
		}
	}
}
