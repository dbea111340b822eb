package proc_test

import (
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/proc"
)

const benchTasks = 100_000

func squares(b *testing.B) (*proc.PoolOf[int64, int64], []int64) {
	b.Helper()
	p, err := proc.NewPoolOf[int64, int64](b.Context(), "square", &proc.PoolOptions{Workers: runtime.NumCPU()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	in := make([]int64, benchTasks)
	for i := range in {
		in[i] = int64(i)
	}
	if _, err := p.Map(b.Context(), in[:1000]); err != nil {
		b.Fatal(err)
	}
	return p, in
}

// BenchmarkPoolMap: one op is a Map of 100,000 small tasks (squaring an
// int64) over runtime.NumCPU() workers.
func BenchmarkPoolMap(b *testing.B) {
	p, in := squares(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Map(b.Context(), in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*benchTasks/b.Elapsed().Seconds(), "tasks/s")
}

// BenchmarkPoolMapVsPython runs the same Map as BenchmarkPoolMap and
// Python's multiprocessing Pool(NumCPU).map(square, range(100000)) (with
// its default chunking) side by side, each the best of 5 runs with the
// pool already started, and reports both rates and their ratio (go/py > 1
// means the Go pool is faster). Run it with
//
//	go test -run '^$' -bench PoolMapVsPython -benchtime 1x ./proc
func BenchmarkPoolMapVsPython(b *testing.B) {
	py := testenv.Python(b, "multiprocessing")
	p, in := squares(b)
	const reps = 5
	var goBest, pyBest time.Duration
	for b.Loop() {
		goBest = time.Duration(1 << 62)
		for range reps {
			t0 := time.Now()
			if _, err := p.Map(b.Context(), in); err != nil {
				b.Fatal(err)
			}
			goBest = min(goBest, time.Since(t0))
		}
		out, err := exec.Command(py, "testdata/poolmap.py", strconv.Itoa(benchTasks), strconv.Itoa(runtime.NumCPU()), strconv.Itoa(reps)).CombinedOutput()
		if err != nil {
			b.Fatalf("%s testdata/poolmap.py: %v\n%s", py, err, out)
		}
		secs, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
		if err != nil {
			b.Fatalf("poolmap.py printed %q", out)
		}
		pyBest = time.Duration(secs * float64(time.Second))
	}
	goRate := benchTasks / goBest.Seconds()
	pyRate := benchTasks / pyBest.Seconds()
	b.ReportMetric(goRate, "go-tasks/s")
	b.ReportMetric(pyRate, "py-tasks/s")
	b.ReportMetric(goRate/pyRate, "go/py")
	b.Logf("%d tasks on %d workers: Go pool %v (%.0f tasks/s), Python %s Pool.map %v (%.0f tasks/s): Go/Python = %.2f",
		benchTasks, runtime.NumCPU(), goBest, goRate, py, pyBest, pyRate, goRate/pyRate)
}
