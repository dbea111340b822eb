package shmheap_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/shmheap"
	"github.com/ipckit/ipckit/shmheap/heapbench"
)

// BenchmarkManager measures shmheap's containers from four processes at
// once, side by side in the same run with Python's
// multiprocessing.Manager list append and Namespace set from four
// processes (python3; skipped with the reason where it is missing,
// failed in CI), and reports each row's operations per second and the
// ratios the project targets (≥ 100×):
//
//	go test -run '^$' -bench Manager -benchtime 1x ./shmheap
//
// `ipckit bench -only shmheap,python -sizes 64` measures the same rows.
func BenchmarkManager(b *testing.B) {
	d := time.Second
	got := map[string]float64{}
	for _, row := range heapbench.Rows {
		r, err := heapbench.Run(context.Background(), row, 4, d)
		if errors.Is(err, heapbench.ErrNoPython) {
			testenv.SkipOrFail(b, "%v (Debian: python3)", err)
		}
		if err != nil {
			b.Fatal(err)
		}
		got[row] = r.PerSecond()
		b.ReportMetric(r.PerSecond(), unit(row)+"-ops/s")
		b.Logf("%-36s %12.0f ops/s (4 processes)", row, r.PerSecond())
	}
	for _, tg := range heapbench.Targets {
		ratio := got[tg.Go] / got[tg.Python]
		b.ReportMetric(ratio, unit(tg.Go)+"/python")
		b.Logf("%s ÷ %s = %.0f× (target ≥ %.0f×)", tg.Go, tg.Python, ratio, tg.Want)
	}
}

func unit(row string) string {
	r := strings.NewReplacer(" ", "-", "(", "", ")", "", "/", "", ".", "-")
	return strings.ToLower(r.Replace(strings.TrimPrefix(row, "shmheap ")))
}

// BenchmarkOps: single-process costs of the hot paths (no contention).
func BenchmarkOps(b *testing.B) {
	h, err := shmheap.New(64<<20, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	v, _ := shmheap.CreateValue[int64](h, "v")
	defer v.Close()
	ai, _ := v.Int64("")
	vec, _ := shmheap.CreateVector[int64](h, "vec")
	defer vec.Close()
	m, _ := shmheap.CreateMap[int64, int64](h, "m")
	defer m.Close()
	ns, _ := shmheap.CreateNamespace(h, "ns", &shmheap.NamespaceOptions{Codec: shmheap.Raw})
	defer ns.Close()
	vec.Append(1)
	m.Put(1, 1)
	ns.Set("x", int64(1))
	var x int64
	for _, c := range []struct {
		name string
		fn   func(i int)
	}{
		{"Value.Load", func(int) { v.Load() }},
		{"Value.Store", func(i int) { v.Store(int64(i)) }},
		{"Value.Update", func(int) { v.Update(func(p *int64) { *p++ }) }},
		{"Int64.Add", func(int) { ai.Add(1) }},
		{"Vector.Append", func(i int) {
			if i%1000000 == 0 {
				vec.Close()
				h.Remove("vec")
				vec, _ = shmheap.CreateVector[int64](h, "vec")
			}
			vec.Append(int64(i))
		}},
		{"Vector.Get", func(int) { vec.Get(0) }},
		{"Map.Get", func(int) { m.Get(1) }},
		{"Map.Put", func(i int) { m.Put(1, int64(i)) }},
		{"Namespace.Set(Raw)", func(i int) { ns.Set("x", int64(i)) }},
		{"Namespace.Get(Raw)", func(int) { ns.Get("x", &x) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				c.fn(i)
			}
		})
	}
}
