package shmheap

import (
	"testing"

	"github.com/ipckit/ipckit/internal/race"
	"github.com/ipckit/ipckit/ipctest"
)

// TestAllocs shows that the hot paths make no heap allocation: Value
// Load/Store/Update and the atomic accessors, Array Load/Store, Vector
// Get/Set/Append (once its chunk exists), Map Get/Put (existing and new
// keys below the growth threshold) and Delete, on a sealed memfd heap and
// on a shm heap (whose accesses run under Guard).
func TestAllocs(t *testing.T) {
	if race.Enabled {
		t.Skip("the race detector allocates")
	}
	memfd := newHeap(t, 4<<20, LockAuto)
	name := ipctest.Name("allocs")
	shm, err := CreateShm(name, 4<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer UnlinkShm(name)
	defer shm.Close()
	for _, tc := range []struct {
		name string
		h    *Heap
	}{{"memfd", memfd}, {"shm", shm}} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.h
			v := must(CreateValue[int64](h, "v"))
			defer v.Close()
			ai := must(v.Int64(""))
			a := must(CreateArray[int64](h, "a", 8))
			defer a.Close()
			vec := must(CreateVector[int64](h, "vec"))
			defer vec.Close()
			vec.Append(1)
			m := must(CreateMap[int64, int64](h, "m"))
			defer m.Close()
			m.Put(1, 1)
			var sink int64
			inc := func(x *int64) { *x++ }
			for _, c := range []struct {
				name string
				fn   func()
			}{
				{"Value.Load", func() { sink, _ = v.Load() }},
				{"Value.Store", func() { v.Store(7) }},
				{"Value.Update", func() { v.Update(inc) }},
				{"Int64.Add", func() { sink, _ = ai.Add(1) }},
				{"Int64.Load", func() { sink, _ = ai.Load() }},
				{"Int64.CompareAndSwap", func() { ai.CompareAndSwap(1, 2) }},
				{"Array.Load", func() { sink, _ = a.Load(3) }},
				{"Array.Store", func() { a.Store(3, 4) }},
				{"Vector.Get", func() { sink, _ = vec.Get(0) }},
				{"Vector.Set", func() { vec.Set(0, 5) }},
				{"Vector.Len", func() { vec.Len() }},
				{"Vector.Append", func() {
					if n, _ := vec.Len(); n < 30 {
						vec.Append(2)
					} else {
						vec.Delete(n - 1)
					}
				}},
				{"Map.Get", func() { sink, _, _ = m.Get(1) }},
				{"Map.Put", func() { m.Put(1, 2) }},
				{"Map.Put+Delete", func() { m.Put(2, 2); m.Delete(2) }},
			} {
				if n := testing.AllocsPerRun(200, c.fn); n != 0 {
					t.Errorf("%s: %v allocations per call", c.name, n)
				}
			}
			_ = sink
		})
	}
}
