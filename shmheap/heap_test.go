package shmheap

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipckit/ipckit/internal/errs"
	"github.com/ipckit/ipckit/ipctest"
)

// newHeap makes a memfd heap for a test.
func newHeap(t testing.TB, size int64, lock LockKind) *Heap {
	t.Helper()
	h, err := New(size, &Options{Lock: lock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func mustCheck(t testing.TB, h *Heap) {
	t.Helper()
	if err := h.Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

func locks(t *testing.T, fn func(t *testing.T, lock LockKind)) {
	for _, lk := range []LockKind{LockAuto, LockPID} {
		t.Run(lk.String(), func(t *testing.T) { fn(t, lk) })
	}
}

func TestHeapBasics(t *testing.T) {
	locks(t, func(t *testing.T, lk LockKind) {
		h := newHeap(t, 1<<20, lk)
		s, err := h.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if s.Size != 1<<20 || s.Objects != 0 || s.Used <= 0 || s.Used+s.Free != s.Arena || s.LargestFree <= 0 {
			t.Fatalf("fresh heap stats %+v", s)
		}
		mustCheck(t, h)
		v, err := CreateValue[int64](h, "counter")
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		if err := v.Store(41); err != nil {
			t.Fatal(err)
		}
		if err := v.Update(func(x *int64) { *x++ }); err != nil {
			t.Fatal(err)
		}
		if x, err := v.Load(); err != nil || x != 42 {
			t.Fatalf("Load = %d, %v", x, err)
		}
		if _, err := CreateValue[int64](h, "counter"); !errors.Is(err, os.ErrExist) {
			t.Fatalf("duplicate create: %v", err)
		}
		if _, err := OpenValue[int32](h, "counter"); !errors.Is(err, ErrTypeMismatch) {
			t.Fatalf("open as int32: %v", err)
		}
		if _, err := OpenValue[uint64](h, "counter"); !errors.Is(err, ErrTypeMismatch) {
			t.Fatalf("open as uint64: %v", err)
		}
		if _, err := OpenVector[int64](h, "counter"); !errors.Is(err, ErrTypeMismatch) {
			t.Fatalf("open as vector: %v", err)
		}
		if _, err := OpenValue[int64](h, "nothing"); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("open missing: %v", err)
		}
		v2, err := OpenOrCreateValue[int64](h, "counter")
		if err != nil {
			t.Fatal(err)
		}
		if x, _ := v2.Load(); x != 42 {
			t.Fatalf("second handle sees %d", x)
		}
		v2.Close()
		names, err := h.Names()
		if err != nil || len(names) != 1 || names[0] != "counter" {
			t.Fatalf("Names = %v, %v", names, err)
		}
		mustCheck(t, h)
	})
}

func TestNames(t *testing.T) {
	h := newHeap(t, 1<<20, LockPID)
	for _, bad := range []string{"", string(make([]byte, MaxNameLen+1)), "a\x00b"} {
		_, err := CreateValue[int64](h, bad)
		if !errors.Is(err, ErrInvalidName) || !errors.Is(err, errs.ErrInvalidName) {
			t.Errorf("name %q: %v", bad, err)
		}
	}
	long := string(make([]byte, MaxNameLen))
	for i := range []byte(long) {
		_ = i
	}
	okName := ""
	for len(okName) < MaxNameLen {
		okName += "n"
	}
	v, err := CreateValue[int64](h, okName)
	if err != nil {
		t.Fatalf("%d-byte name: %v", MaxNameLen, err)
	}
	v.Close()
	mustCheck(t, h)
}

type point struct {
	X, Y int32
	Z    float64
}

func TestTypes(t *testing.T) {
	h := newHeap(t, 1<<20, LockPID)
	if _, err := CreateValue[*int](h, "p"); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("pointer: %v", err)
	}
	if _, err := CreateValue[string](h, "s"); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("string: %v", err)
	}
	if _, err := CreateVector[[]int](h, "sl"); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("slice: %v", err)
	}
	if _, err := CreateValue[struct{ M map[int]int }](h, "m"); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("map field: %v", err)
	}
	if _, err := CreateValue[any](h, "i"); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("interface: %v", err)
	}
	if _, err := CreateValue[chan int](h, "c"); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("chan: %v", err)
	}
	if _, err := CreateValue[func()](h, "f"); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("func: %v", err)
	}
	if _, err := CreateValue[struct{}](h, "e"); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("empty struct: %v", err)
	}
	v, err := CreateValue[point](h, "pt")
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	v.Store(point{1, 2, 3.5})
	if p, _ := v.Load(); p != (point{1, 2, 3.5}) {
		t.Fatalf("Load = %+v", p)
	}
	if _, err := OpenValue[struct {
		X, Y int32
		Z    int64
	}](h, "pt"); !errors.Is(err, ErrTypeMismatch) {
		t.Errorf("float64 field opened as int64: %v", err)
	}
	if _, err := OpenValue[struct {
		A, B int32
		C    float64
	}](h, "pt"); err != nil {
		t.Errorf("same layout, other names: %v", err)
	}
	if _, err := CreateMap[struct {
		A int8
		B int64
	}, int](h, "padded"); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("padded key: %v", err)
	}
}

func TestAtomics(t *testing.T) {
	h := newHeap(t, 1<<20, LockPID)
	type stats struct {
		Hits   int64
		Misses uint64
		Flags  uint32
		Level  int32
	}
	v, err := CreateValue[stats](h, "stats")
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	hits, err := v.Int64("Hits")
	if err != nil {
		t.Fatal(err)
	}
	misses, _ := v.Uint64("Misses")
	flags, _ := v.Uint32("Flags")
	level, _ := v.Int32("Level")
	hits.Add(5)
	hits.Add(-2)
	misses.Add(7)
	flags.Store(0xff)
	level.Add(-3)
	if ok, _ := flags.CompareAndSwap(0xff, 1); !ok {
		t.Error("CAS failed")
	}
	s, _ := v.Load()
	if s != (stats{3, 7, 1, -3}) {
		t.Fatalf("stats %+v", s)
	}
	if _, err := v.Int64("Misses"); err == nil {
		t.Error("Int64 of a uint64 field")
	}
	if _, err := v.Int64("Nope"); err == nil {
		t.Error("missing field")
	}
	c, _ := CreateValue[int64](h, "c")
	defer c.Close()
	ci, err := c.Int64("")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := ci.Add(10); n != 10 {
		t.Fatal(n)
	}
	c.Close()
	if _, err := ci.Add(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestArray(t *testing.T) {
	h := newHeap(t, 1<<20, LockPID)
	a, err := CreateArray[float64](h, "arr", 10)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for i := 0; i < 10; i++ {
		a.Store(i, float64(i)/2)
	}
	if _, err := a.Load(10); !errors.Is(err, ErrIndex) {
		t.Fatal(err)
	}
	a.Update(func(s []float64) {
		for i := range s {
			s[i] *= 2
		}
	})
	snap, _ := a.Snapshot()
	for i, x := range snap {
		if x != float64(i) {
			t.Fatalf("snap %v", snap)
		}
	}
	b, err := OpenArray[float64](h, "arr")
	if err != nil || b.Len() != 10 {
		t.Fatalf("OpenArray: %v", err)
	}
	b.Close()
	if _, err := OpenOrCreateArray[float64](h, "arr", 11); !errors.Is(err, ErrTypeMismatch) {
		t.Fatalf("other length: %v", err)
	}
	mustCheck(t, h)
}

func TestVector(t *testing.T) {
	locks(t, func(t *testing.T, lk LockKind) {
		h := newHeap(t, 4<<20, lk)
		v, err := CreateVector[int64](h, "list")
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		const n = 5000
		for i := 0; i < n; i++ {
			if err := v.Append(int64(i)); err != nil {
				t.Fatal(i, err)
			}
		}
		if l, _ := v.Len(); l != n {
			t.Fatalf("Len %d", l)
		}
		for i := 0; i < n; i += 97 {
			if x, err := v.Get(i); err != nil || x != int64(i) {
				t.Fatalf("Get(%d) = %d, %v", i, x, err)
			}
		}
		if err := v.Set(3, -3); err != nil {
			t.Fatal(err)
		}
		if err := v.Delete(0); err != nil {
			t.Fatal(err)
		}
		if x, _ := v.Get(2); x != -3 {
			t.Fatalf("after delete Get(2) = %d", x)
		}
		if _, err := v.Get(n - 1); !errors.Is(err, ErrIndex) {
			t.Fatalf("Get past end: %v", err)
		}
		snap, err := v.Snapshot()
		if err != nil || len(snap) != n-1 || snap[n-2] != n-1 {
			t.Fatalf("snapshot %d %v", len(snap), err)
		}
		sum := 0
		for i, x := range v.All() {
			_ = i
			sum += int(x)
		}
		mustCheck(t, h)
		v.Close()
		if err := h.Remove("list"); err != nil {
			t.Fatal(err)
		}
		s, _ := h.Stats()
		if s.Objects != 0 || s.Removed != 0 {
			t.Fatalf("after remove %+v", s)
		}
		mustCheck(t, h)
	})
}

func TestMap(t *testing.T) {
	locks(t, func(t *testing.T, lk LockKind) {
		h := newHeap(t, 8<<20, lk)
		m, err := CreateMap[uint64, [3]int32](h, "map")
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		const n = 3000
		for i := uint64(0); i < n; i++ {
			if err := m.Put(i, [3]int32{int32(i), 1, 2}); err != nil {
				t.Fatal(err)
			}
		}
		for i := uint64(0); i < n; i += 2 {
			if ok, err := m.Delete(i); !ok || err != nil {
				t.Fatal(i, ok, err)
			}
		}
		for i := uint64(1); i < n; i += 2 {
			m.Put(i, [3]int32{int32(i), 9, 9})
		}
		if l, _ := m.Len(); l != n/2 {
			t.Fatalf("Len %d", l)
		}
		for i := uint64(0); i < n; i++ {
			v, ok, err := m.Get(i)
			if err != nil || ok != (i%2 == 1) || (ok && v != [3]int32{int32(i), 9, 9}) {
				t.Fatalf("Get(%d) = %v %v %v", i, v, ok, err)
			}
		}
		snap, _ := m.Snapshot()
		if len(snap) != n/2 {
			t.Fatal(len(snap))
		}
		mustCheck(t, h)
	})
}

func TestNamespace(t *testing.T) {
	locks(t, func(t *testing.T, lk LockKind) {
		h := newHeap(t, 8<<20, lk)
		ns, err := CreateNamespace(h, "ns", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ns.Close()
		type rec struct {
			Name string
			Tags []string
		}
		if err := ns.Set("x", 10); err != nil {
			t.Fatal(err)
		}
		if err := ns.Set("r", rec{"hello", []string{"a", "b"}}); err != nil {
			t.Fatal(err)
		}
		big := make([]byte, 100000)
		big[99999] = 7
		if err := ns.Set("big", big); err != nil {
			t.Fatal(err)
		}
		var x int
		if err := ns.Get("x", &x); err != nil || x != 10 {
			t.Fatalf("x = %d %v", x, err)
		}
		ns.Set("x", 11)
		ns.Get("x", &x)
		var r rec
		if err := ns.Get("r", &r); err != nil || r.Name != "hello" || len(r.Tags) != 2 {
			t.Fatalf("r = %+v %v", r, err)
		}
		var b []byte
		if err := ns.Get("big", &b); err != nil || len(b) != 100000 || b[99999] != 7 {
			t.Fatal(err)
		}
		if err := ns.Get("nope", &x); !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if err := ns.Delete("big"); err != nil {
			t.Fatal(err)
		}
		names, _ := ns.Names()
		if fmt.Sprint(names) != "[r x]" {
			t.Fatal(names)
		}
		for i := 0; i < 200; i++ {
			ns.Set(fmt.Sprint("k", i), i)
		}
		raw, err := OpenNamespace(h, "ns", &NamespaceOptions{Codec: Raw})
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		if err := raw.Set("p", point{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		var p point
		if err := raw.Get("p", &p); err != nil || p != (point{1, 2, 3}) {
			t.Fatal(p, err)
		}
		var wrong int64
		if err := raw.Get("p", &wrong); !errors.Is(err, ErrTypeMismatch) {
			t.Fatal(err)
		}
		if err := raw.Get("x", &wrong); !errors.Is(err, ErrTypeMismatch) {
			t.Fatalf("gob value through raw: %v", err)
		}
		mustCheck(t, h)
	})
}

func TestNoSpace(t *testing.T) {
	h := newHeap(t, 64<<10, LockPID)
	before, _ := h.Stats()
	if _, err := CreateArray[byte](h, "huge", 1<<20); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("huge array: %v", err)
	}
	after, _ := h.Stats()
	if before != after {
		t.Fatalf("stats changed: %+v → %+v", before, after)
	}
	v, _ := CreateVector[[64]byte](h, "v")
	defer v.Close()
	var err error
	n := 0
	for ; err == nil; n++ {
		err = v.Append([64]byte{byte(n)})
	}
	if !errors.Is(err, ErrNoSpace) {
		t.Fatal(err)
	}
	l, _ := v.Len()
	if l != n-1 {
		t.Fatalf("len %d after %d appends", l, n-1)
	}
	mustCheck(t, h)
	ns, err := CreateNamespace(h, "ns", nil)
	if err == nil {
		defer ns.Close()
		before, _ = h.Stats()
		if err := ns.Set("x", make([]byte, 1<<20)); !errors.Is(err, ErrNoSpace) {
			t.Fatal(err)
		}
		after, _ = h.Stats()
		if before != after {
			t.Fatalf("namespace set: stats changed: %+v → %+v", before, after)
		}
	}
	mustCheck(t, h)
}

func TestNamedHeaps(t *testing.T) {
	name := ipctest.Name("heap")
	h, err := CreateShm(name, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer UnlinkShm(name)
	defer h.Close()
	if _, err := CreateShm(name, 1<<20, nil); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second create: %v", err)
	}
	v, _ := CreateValue[int64](h, "v")
	v.Store(5)
	v.Close()
	h2, err := OpenShm(name)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	v2, err := OpenValue[int64](h2, "v")
	if err != nil {
		t.Fatal(err)
	}
	if x, _ := v2.Load(); x != 5 {
		t.Fatal(x)
	}
	v2.Close()
	h3, err := OpenOrCreateShm(name, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	h3.Close()
	if _, err := OpenShm(ipctest.Name("none")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}

	path := filepath.Join(t.TempDir(), "heap")
	hf, err := OpenOrCreateFile(path, 1<<20, &Options{Perm: 0o640})
	if err != nil {
		t.Fatal(err)
	}
	defer hf.Close()
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v", fi.Mode())
	}
	mustCheck(t, hf)
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
}
