package models_test

import (
	"fmt"

	"circles/models"
)

// A TopK keeps the k best of a stream, ordered by score descending and then
// ID ascending, so ties never depend on arrival order.
func ExampleTopK() {
	top := models.NewTopK(3)
	for id, score := range []float64{0.2, 0.9, 0.5, 0.9, 0.1} {
		top.Push(models.Scored{ID: int64(id), Score: score})
	}
	for _, s := range top.Sorted() {
		fmt.Println(s.ID, s.Score)
	}
	// Output:
	// 1 0.9
	// 3 0.9
	// 2 0.5
}
