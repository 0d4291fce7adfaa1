package data_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"circles/data"
	"circles/data/datatest"
)

// ScanInteractions validates one interactions file column by column: every
// row is used or quarantined with a reason, and the counts reconcile.
func ExampleScanInteractions() {
	root, _ := os.MkdirTemp("", "example-")
	defer func() {
		if err := os.RemoveAll(root); err != nil {
			fmt.Println(err) // fails the example
		}
	}()
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	w := datatest.New(day, 1)
	w.User(1, "hangzhou")
	w.Content = []data.ContentRow{{ContentID: 20, Topics: []string{"hiking"}}}
	w.Event(1, "content", 20, "like", w.At(0, 9))
	w.Event(2, "content", 20, "like", w.At(0, 10)) // user 2 is not in the users snapshot
	if err := w.Tables.Write(root, day, 1); err != nil {
		fmt.Println(err)
		return
	}
	d, err := data.LoadDims(context.Background(), root, day)
	if err != nil {
		fmt.Println(err)
		return
	}
	b, err := data.ScanInteractions(filepath.Join(data.PartitionDir(root, data.TableInteractions, day), data.PartFile), d, data.NewWindow(day, 1))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("read", b.Stats.Read, "used", b.Stats.Used, "quarantined", b.Stats.Quarantined)
	// Output:
	// read 2 used 1 quarantined map[unknown_user:1]
}
