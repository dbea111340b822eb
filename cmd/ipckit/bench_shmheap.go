package main

import (
	"context"
	"errors"
	"time"

	"github.com/ipckit/ipckit/shmheap/heapbench"
)

// shmheap rows: four processes work on one shmheap object at once, beside
// Python's multiprocessing.Manager doing the same from four processes
// (python3 on this machine). Their msgs/s column is operations per second
// of the four together; they run at the 64-byte size only (the operations
// move 8-byte values, so MB/s means nothing for them).

const heapProcs = 4

func heapTput(row string) func(o benchOpts, size int) (int, time.Duration, error) {
	return func(o benchOpts, size int) (int, time.Duration, error) {
		r, err := heapbench.Run(context.Background(), row, heapProcs, o.dur)
		if errors.Is(err, heapbench.ErrNoPython) {
			return 0, 0, &skipError{"python3 with multiprocessing not found"}
		}
		if err != nil {
			return 0, 0, err
		}
		return int(r.Ops), r.Elapsed, nil
	}
}

func heapSizeOK(size int) string {
	if size != 64 {
		return "shmheap and Manager rows run at 64 B only (operations on 8-byte values)"
	}
	return ""
}
