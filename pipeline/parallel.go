package pipeline

import (
	"context"
	"runtime"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
)

// Workers resolves a worker count: n when positive, else GOMAXPROCS.
func Workers(n int) int {
	if n > 0 {
		return n
	}
	return runtime.GOMAXPROCS(0)
}

// ForEach calls fn(ctx, i) for every i in [0, n) on at most workers
// goroutines (GOMAXPROCS when workers ≤ 0). The first error cancels the
// context passed to the remaining calls and is returned. Callers write
// results into preallocated slices by index, so output order never depends
// on scheduling.
func ForEach(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(Workers(workers))
	for i := range n {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return fn(gctx, i) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// ForRange splits [0, n) into contiguous chunks of at most chunk indices and
// calls fn(lo, hi) for each on at most workers goroutines. It checks ctx
// between chunks.
func ForRange(ctx context.Context, n, workers, chunk int, fn func(lo, hi int)) error {
	if chunk <= 0 {
		chunk = 1
	}
	chunks := (n + chunk - 1) / chunk
	return ForEach(ctx, chunks, workers, func(ctx context.Context, c int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		fn(c*chunk, min(n, (c+1)*chunk))
		return nil
	})
}

// ForChunks is ForRange with per-worker state: it starts at most workers
// goroutines, each calling init once and then fn(state, lo, hi) for the
// chunks it claims. Use it when a chunk needs scratch space as large as the
// whole problem (a dense accumulator over all users), which must be
// allocated once per worker, not once per chunk.
func ForChunks[S any](ctx context.Context, n, workers, chunk int, init func() S, fn func(s S, lo, hi int)) error {
	if chunk <= 0 {
		chunk = 1
	}
	chunks := (n + chunk - 1) / chunk
	w := min(Workers(workers), max(chunks, 1))
	var next atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for range w {
		g.Go(func() error {
			s := init()
			for {
				c := int(next.Add(1) - 1)
				if c >= chunks {
					return nil
				}
				if err := gctx.Err(); err != nil {
					return err
				}
				fn(s, c*chunk, min(n, (c+1)*chunk))
			}
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}
