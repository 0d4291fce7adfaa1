package data_test

import (
	"io"
	"os"
	"sync"
	"testing"

	"github.com/parquet-go/parquet-go"

	"circles/data"
	"circles/synth"
)

var (
	benchOnce sync.Once
	benchDir  string
	benchErr  error
)

// benchWorld generates one world shared by the scan benchmarks: 20,000
// users over 3 days, about 80,000 events a day.
func benchWorld(b *testing.B) (string, synth.Config) {
	b.Helper()
	cfg := synth.DefaultConfig()
	cfg.Users, cfg.Days = 20000, 3
	benchOnce.Do(func() {
		benchDir, benchErr = os.MkdirTemp("", "circles-bench-")
		if benchErr == nil {
			_, benchErr = synth.Generate(b.Context(), benchDir, cfg, nil)
		}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchDir, cfg
}

// BenchmarkScanInteractions measures validated ingest of one day's
// interactions file: 6 columns decoded, every row checked and interned.
func BenchmarkScanInteractions(b *testing.B) {
	dir, cfg := benchWorld(b)
	d, err := data.LoadDims(b.Context(), dir, cfg.End)
	if err != nil {
		b.Fatal(err)
	}
	files, err := data.PartitionFiles(data.Local{}, data.PartitionDir(dir, data.TableInteractions, cfg.End))
	if err != nil {
		b.Fatal(err)
	}
	w := data.NewWindow(cfg.End, cfg.Days)
	var rows int64
	b.ReportAllocs()
	for b.Loop() {
		bt, err := data.ScanInteractions(files[0], d, w)
		if err != nil {
			b.Fatal(err)
		}
		rows = bt.Stats.Read
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkBareColumnScan is the floor for BenchmarkScanInteractions: the
// same file's same six columns decoded into typed buffers and discarded,
// with no validation.
func BenchmarkBareColumnScan(b *testing.B) {
	dir, cfg := benchWorld(b)
	files, err := data.PartitionFiles(data.Local{}, data.PartitionDir(dir, data.TableInteractions, cfg.End))
	if err != nil {
		b.Fatal(err)
	}
	names := []string{"event_id", "time", "user_id", "target_kind", "target_id", "action"}
	var rows int64
	b.ReportAllocs()
	for b.Loop() {
		f, err := os.Open(files[0])
		if err != nil {
			b.Fatal(err)
		}
		st, _ := f.Stat()
		pf, err := parquet.OpenFile(f, st.Size())
		if err != nil {
			b.Fatal(err)
		}
		rows = pf.NumRows()
		buf := make([]parquet.Value, 4096)
		for _, rg := range pf.RowGroups() {
			for _, name := range names {
				leaf, _ := pf.Schema().Lookup(name)
				pages := rg.ColumnChunks()[leaf.ColumnIndex].Pages()
				for {
					p, err := pages.ReadPage()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					vr := p.Values()
					for {
						_, err := vr.ReadValues(buf)
						if err == io.EOF {
							break
						}
						if err != nil {
							b.Fatal(err)
						}
					}
					parquet.Release(p)
				}
				if err := pages.Close(); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
