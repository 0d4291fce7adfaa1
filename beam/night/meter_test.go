package night

import (
	"reflect"
	"testing"
)

func TestPayload(t *testing.T) {
	for _, c := range []struct {
		v    any
		want int64
	}{
		{rowRec{}, 1 + 4 + 8*5 + 1 + 1 + 4 + 8 + 8},
		{"abc", 3},
		{rowBlock{Keys: []string{"ab", "c"}, Vecs: make([]float32, 5)}, 3 + 20},
		{inBlock{Rows: []string{"x"}, Start: []int{0, 2}, Cols: []string{"ab", "cd"}, Vals: []float32{1, 2}}, 1 + 16 + 4 + 8},
		{(*rowRec)(nil), 0},
		{blockObs{Row: "r", Col: "cc", Val: 1}, 7},
	} {
		if got := payload(reflect.ValueOf(c.v)); got != c.want {
			t.Errorf("payload(%#v) = %d, want %d", c.v, got, c.want)
		}
	}
}
