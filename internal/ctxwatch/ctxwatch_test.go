package ctxwatch

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/ipckit/ipckit/internal/race"
)

func count(w *Watch) bool {
	(*atomic.Int32)(w.Ptr).Add(1)
	return false
}

func TestFiresOnCancel(t *testing.T) {
	var n atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	w := Get()
	w.Ptr = unsafe.Pointer(&n)
	w.Start(ctx, count)
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for n.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	w.Stop()
	if n.Load() != 1 {
		t.Fatalf("fn ran %d times, want 1", n.Load())
	}
}

func TestStopBeforeCancel(t *testing.T) {
	var n atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	w := Get()
	w.Ptr = unsafe.Pointer(&n)
	w.Start(ctx, count)
	w.Stop()
	cancel()
	time.Sleep(10 * time.Millisecond)
	if n.Load() != 0 {
		t.Fatalf("fn ran %d times after Stop, want 0", n.Load())
	}
}

// After Stop returns, a repeating function never runs again, even when it
// was between calls.
func TestStopEndsRepeats(t *testing.T) {
	for i := 0; i < 50; i++ {
		var n atomic.Int32
		ctx, cancel := context.WithCancel(context.Background())
		w := Get()
		w.Ptr = unsafe.Pointer(&n)
		w.Start(ctx, func(w *Watch) bool { (*atomic.Int32)(w.Ptr).Add(1); return true })
		cancel()
		for n.Load() < 2 {
			time.Sleep(50 * time.Microsecond)
		}
		w.Stop()
		got := n.Load()
		time.Sleep(2 * MinBackoff)
		if n.Load() != got {
			t.Fatalf("fn ran after Stop: %d then %d", got, n.Load())
		}
	}
}

func TestWordIsZeroAtGet(t *testing.T) {
	w := Get()
	w.Word = 7
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.Start(ctx, count)
	w.Stop()
	if w2 := Get(); w2.Word != 0 || w2.Ptr != nil {
		t.Fatalf("reused watch not cleared: %+v", w2)
	} else {
		w2.Start(ctx, count)
		w2.Stop()
	}
}

func TestNoAllocs(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts differ under the race detector; test.sh runs this without it")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var n atomic.Int32
	w := Get()
	w.Start(ctx, count)
	w.Stop()
	if a := testing.AllocsPerRun(1000, func() {
		w := Get()
		w.Ptr = unsafe.Pointer(&n)
		w.Start(ctx, count)
		w.Stop()
	}); a != 0 {
		t.Fatalf("%v allocations per Get+Start+Stop, want 0", a)
	}
}
