//go:build !linux

package f32

func adviseHuge([]float32) {}
