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
	all := func(int) bool { return true }
	if c, w := maximin(rows, all); c != 3 || w != 1.05 {
		t.Errorf("maximin = %d (%v), want 3 (1.05): best worst case, ties to the first", c, w)
	}
	if c, w := maximin(rows, func(c int) bool { return c < 3 }); c != 1 || w != 1.02 {
		t.Errorf("maximin without column 3 = %d (%v), want 1 (1.02)", c, w)
	}
	if c, _ := maximin(rows[:1], all); c != 0 {
		t.Errorf("one dataset: maximin = %d, want its best, 0", c)
	}
	if c, _ := maximin(nil, all); c != -1 {
		t.Errorf("no datasets: maximin = %d, want -1", c)
	}
	if c, _ := maximin(rows, func(int) bool { return false }); c != -1 {
		t.Errorf("nothing allowed: maximin = %d, want -1", c)
	}
}
