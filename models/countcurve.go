package models

// countCurve is f(n) for a count n (friends in a group, mutual friends),
// tabled for the small counts nearly every candidate has: ranking
// evaluates it for every candidate of every user.
type countCurve struct {
	f     func(n int32) float64
	small [64]float64
}

func newCountCurve(f func(n int32) float64) *countCurve {
	c := &countCurve{f: f}
	for n := range c.small {
		c.small[n] = f(int32(n))
	}
	return c
}

func (c *countCurve) at(n int32) float64 {
	if n >= 0 && int(n) < len(c.small) {
		return c.small[n]
	}
	return c.f(n)
}
