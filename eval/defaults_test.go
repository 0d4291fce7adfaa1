package eval

import "testing"

// maximin picks the setting whose worst dataset is best, not the one with
// the best single dataset or the best mean.
func TestMaximin(t *testing.T) {
	t.Parallel()
	rows := [][]float64{
		{1.30, 1.10, 0.90, 1.05}, // dataset A
		{0.80, 1.02, 1.50, 1.05}, // dataset B
	}
	if c, w := maximin(rows); c != 3 || w != 1.05 {
		t.Errorf("maximin = %d (%v), want 3 (1.05): best worst case, ties to the first", c, w)
	}
	without3 := [][]float64{rows[0][:3], rows[1][:3]}
	if c, w := maximin(without3); c != 1 || w != 1.02 {
		t.Errorf("maximin without column 3 = %d (%v), want 1 (1.02)", c, w)
	}
	if c, _ := maximin(rows[:1]); c != 0 {
		t.Errorf("one dataset: maximin = %d, want its best, 0", c)
	}
	if c, _ := maximin(nil); c != -1 {
		t.Errorf("no datasets: maximin = %d, want -1", c)
	}
	if c, _ := maximin([][]float64{{}, {}}); c != -1 {
		t.Errorf("no settings: maximin = %d, want -1", c)
	}
}
