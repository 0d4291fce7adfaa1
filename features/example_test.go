package features_test

import (
	"fmt"

	"circles/features"
)

// BuildCSR sums repeated entries and sorts each row by column.
func ExampleBuildCSR() {
	m := features.BuildCSR(2, []features.Triple{{Row: 1, Col: 4, Val: 1}, {Row: 0, Col: 2, Val: 1}, {Row: 1, Col: 0, Val: 2}, {Row: 1, Col: 4, Val: 0.5}})
	for r := range int32(m.Rows()) {
		cols, vals := m.Row(r)
		fmt.Println(r, cols, vals)
	}
	// Output:
	// 0 [2] [1]
	// 1 [0 4] [2 1.5]
}
