package proc_test

import (
	"runtime"
	"testing"

	"github.com/ipckit/ipckit/internal/race"
	"github.com/ipckit/ipckit/proc"
)

// TestPoolMapAllocs: a typed Map of fixed-size values allocates a few
// times per call (the job, the result slice, the closures), never per
// task: tasks and results are copied raw into and out of the rings.
func TestPoolMapAllocs(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts differ under the race detector; test.sh runs this without it")
	}
	p, err := proc.NewPoolOf[int64, int64](t.Context(), "square", &proc.PoolOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const n = 20000
	in := make([]int64, n)
	for i := range in {
		in[i] = int64(i)
	}
	if _, err := p.Map(t.Context(), in); err != nil { // warm up
		t.Fatal(err)
	}
	ctx := t.Context()
	allocs := testing.AllocsPerRun(10, func() {
		if _, err := p.Map(ctx, in); err != nil {
			t.Fatal(err)
		}
	})
	perTask := allocs / n
	t.Logf("%.0f allocations per Map of %d tasks (%.4f per task), %d CPUs", allocs, n, perTask, runtime.NumCPU())
	// Sending, receiving and sleeping with a cancellable context allocate
	// nothing (the rings' waits use a reusable context hook), so a Map
	// allocates a fixed handful (its result slice and per-call state),
	// however many tasks it carries.
	if allocs > 16 {
		t.Fatalf("%.0f allocations per Map of %d tasks, want at most 16 (a fixed number per call, none per task)", allocs, n)
	}
}
