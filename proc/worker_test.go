package proc

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/ipckit/ipckit/internal/race"
	"github.com/ipckit/ipckit/mmapring"
)

// TestWorkerAllocs: the worker's per-task path (receive a chunk, decode
// each task, run it, encode and send its result) does not allocate. The
// worker runs in this process, on the same rings a worker process uses.
func TestWorkerAllocs(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts differ under the race detector; test.sh runs this without it")
	}
	te := lookupTask("square") // registered by example_test.go: int64 -> int64
	if te == nil {
		t.Fatal("task square not registered")
	}
	tr, err := mmapring.New(mmapring.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	rr, err := mmapring.New(mmapring.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Close()
	wcons, _ := tr.Consumer()
	wprod, _ := rr.Producer()
	prod, _ := tr.Producer()
	cons, _ := rr.Consumer()
	w := &worker{fn: te.fn, word: new(uint64), cons: wcons, prod: wprod,
		buf: make([]byte, tr.MaxMessage()), out: make([]byte, 0, 64), maxResult: rr.MaxMessage() - resultHeader}
	done := make(chan error, 1)
	go func() { done <- w.run(context.Background()) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		prod.Close() // the worker gets io.EOF and returns
		return <-done
	}
	defer stop() // before the rings are unmapped, even when the test fails

	const k = 64
	msg := make([]byte, taskHeader+k*12)
	binary.LittleEndian.PutUint32(msg[8:], k)
	for i := 0; i < k; i++ {
		off := taskHeader + i*12
		binary.LittleEndian.PutUint32(msg[off:], 8)
		binary.NativeEndian.PutUint64(msg[off+4:], uint64(i)) // the task, raw
	}
	res := make([]byte, 64)
	seq := uint64(0)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(200, func() {
		binary.LittleEndian.PutUint64(msg, seq)
		if err := prod.Send(ctx, msg); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < k; i++ {
			n, err := cons.Receive(ctx, res)
			if err != nil || n != resultHeader+8 || binary.LittleEndian.Uint64(res) != seq {
				t.Fatalf("result %d: %d bytes, %v", seq, n, err)
			}
			if got := binary.NativeEndian.Uint64(res[resultHeader:]); got != uint64(i*i) {
				t.Fatalf("result %d = %d", seq, got)
			}
			seq++
		}
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Fatalf("%.2f allocations per chunk of %d tasks, want 0", allocs, k)
	}
}
