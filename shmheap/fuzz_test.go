package shmheap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/ipckit/ipckit/posix"
)

// Fuzzing feeds arbitrary heap images to FromFile and, when the header
// validates, to every operation. Nothing may panic, fault or hang; errors
// (ErrCorrupt above all) are the expected outcome.

const fuzzSize = 64 << 10

// fuzzBases are heaps in several states, built once per process.
var fuzzBases = sync.OnceValue(func() [][]byte {
	var out [][]byte
	build := func(fill func(h *Heap)) {
		h, err := New(fuzzSize, &Options{Lock: LockPID, MaxProcs: 64})
		if err != nil {
			panic(err)
		}
		defer h.Close()
		if fill != nil {
			fill(h)
		}
		out = append(out, append([]byte(nil), h.c.mp.Bytes()...))
	}
	build(nil)
	build(func(h *Heap) {
		v := must(CreateValue[int64](h, "v"))
		v.Store(7)
		a := must(CreateArray[int32](h, "a", 5))
		a.Store(1, 2)
		vec := must(CreateVector[int64](h, "vec"))
		for i := 0; i < 40; i++ {
			vec.Append(int64(i))
		}
		vec.Delete(3)
		m := must(CreateMap[int64, int64](h, "m"))
		for i := int64(0); i < 10; i++ {
			m.Put(i, i*i)
		}
		m.Delete(4)
		ns := must(CreateNamespace(h, "ns", nil))
		ns.Set("x", 1)
		ns.Set("big", make([]byte, 700))
		ns.Delete("x")
		h.Remove("a")
		// handles stay open: their opener bits stay set
	})
	build(func(h *Heap) {
		for i := 0; i < 20; i++ {
			must(CreateValue[[3]int64](h, fmt.Sprint("obj", i))).Close()
		}
		for i := 0; i < 20; i += 3 {
			h.Remove(fmt.Sprint("obj", i))
		}
	})
	return out
})

// exercise opens img as a heap and runs every operation on it.
func exercise(t *testing.T, img []byte) {
	if len(img) >= hLock+lockSize {
		// A lock word naming a live thread is a lock held: waiting is the
		// right answer, but not in a fuzzer. Start with a free heap lock
		// (an initialised glibc mutex if the image says robust).
		img = append([]byte(nil), img...)
		clear(img[hLock : hLock+lockSize])
		if binary.NativeEndian.Uint32(img[hLockKind:]) == lockRobust {
			binary.NativeEndian.PutUint32(img[hLock+16:], 0x90)
		}
	}
	f, err := posix.MemfdCreate("fuzz", int64(len(img)), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(img, 0); err != nil {
		t.Fatal(err)
	}
	fuzzLocks = true
	defer func() { fuzzLocks = false }()
	h, err := FromFile(f)
	if err != nil {
		return
	}
	defer h.Close()
	h.Stats()
	h.Check()
	objs, _ := h.Objects()
	for _, o := range objs {
		if v, err := OpenValue[int64](h, o.Name); err == nil {
			v.Load()
			v.Store(3)
			v.Update(func(x *int64) { *x++ })
			if a, err := v.Int64(""); err == nil {
				a.Add(1)
			}
			v.Close()
		}
		if a, err := OpenArray[int32](h, o.Name); err == nil {
			a.Load(1)
			a.Store(0, 9)
			a.Snapshot()
			a.Close()
		}
		if v, err := OpenVector[int64](h, o.Name); err == nil {
			v.Len()
			v.Get(2)
			v.Set(1, 5)
			v.Append(1)
			v.Delete(0)
			v.Snapshot()
			v.Close()
		}
		if m, err := OpenMap[int64, int64](h, o.Name); err == nil {
			m.Get(3)
			m.Put(3, 4)
			m.Put(100, 1)
			m.Delete(5)
			m.Snapshot()
			m.Close()
		}
		if ns, err := OpenNamespace(h, o.Name, nil); err == nil {
			var x int
			ns.Get("x", &x)
			ns.Set("x", 2)
			ns.Set("big", make([]byte, 900))
			ns.Delete("big")
			ns.Names()
			ns.Close()
		}
	}
	if v, err := CreateVector[int64](h, "fz"); err == nil {
		for i := 0; i < 50; i++ {
			v.Append(int64(i))
		}
		v.Close()
	}
	h.Remove("fz")
	h.Remove("v")
	h.Check()
}

// FuzzImage: whole heap images, from the bases and mutated at will.
func FuzzImage(f *testing.F) {
	for _, b := range fuzzBases() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, img []byte) {
		if len(img) > 1<<20 {
			return
		}
		exercise(t, img)
	})
}

// FuzzPatch: a base heap with patches applied — data is a sequence of
// (u16 offset/8, u8 length, bytes) — so that mutations land on header
// fields, blocks, tables and object bodies of a realistic heap.
func FuzzPatch(f *testing.F) {
	f.Add(uint8(1), []byte{})
	f.Add(uint8(1), []byte{0x0d, 0x00, 8, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}) // bins
	f.Add(uint8(1), []byte{0x14, 0x00, 8, 1, 0, 0, 0, 0, 0, 0, 0})             // used
	f.Add(uint8(2), []byte{0x0c, 0x00, 8, 0x40, 0, 0, 0, 0, 0, 0, 0})          // graveyard
	f.Add(uint8(0), []byte{0x88, 0x00, 8, 0x08, 0, 0, 0, 0, 0, 0, 0})          // log used
	f.Fuzz(func(t *testing.T, base uint8, data []byte) {
		bases := fuzzBases()
		img := append([]byte(nil), bases[int(base)%len(bases)]...)
		for len(data) >= 3 {
			off := int(binary.LittleEndian.Uint16(data)) * 8
			n := int(data[2])
			data = data[3:]
			if n > len(data) {
				n = len(data)
			}
			if off < len(img) {
				copy(img[off:], data[:n])
			}
			data = data[n:]
		}
		exercise(t, img)
	})
}

// FuzzDirectory drives the object directory with names and operations
// from the input and checks it against a Go map, and the whole heap with
// Check, after every step.
func FuzzDirectory(f *testing.F) {
	f.Add([]byte("\x00a\x00b\x01a\x02b\x00\xff\x00a"))
	f.Add([]byte("\x00x\x00y\x00z\x00w\x00v\x00u\x00t\x00s\x00r\x00q\x00p\x00o\x00n\x00m\x01x\x01y"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := New(256<<10, &Options{Lock: LockPID, MaxProcs: 64})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		model := map[string]bool{}
		for len(data) >= 2 {
			op, n := data[0]%3, int(data[1]%24)
			data = data[2:]
			if n > len(data) {
				n = len(data)
			}
			name := string(data[:n])
			data = data[n:]
			switch op {
			case 0:
				v, err := CreateValue[int64](h, name)
				switch {
				case checkName(name) != nil:
					if !errors.Is(err, ErrInvalidName) {
						t.Fatalf("create %q: %v", name, err)
					}
				case model[name]:
					if !errors.Is(err, os.ErrExist) {
						t.Fatalf("create existing %q: %v", name, err)
					}
				case err != nil:
					t.Fatalf("create %q: %v", name, err)
				default:
					v.Close()
					model[name] = true
				}
			case 1:
				err := h.Remove(name)
				if model[name] != (err == nil) {
					t.Fatalf("remove %q: %v (present %v)", name, err, model[name])
				}
				delete(model, name)
			case 2:
				v, err := OpenValue[int64](h, name)
				if model[name] != (err == nil) {
					t.Fatalf("open %q: %v (present %v)", name, err, model[name])
				}
				if err == nil {
					v.Close()
				}
			}
		}
		names, err := h.Names()
		if err != nil || len(names) != len(model) {
			t.Fatalf("Names: %v, %v; model %v", names, err, model)
		}
		for _, nm := range names {
			if !model[nm] {
				t.Fatalf("Names has %q", nm)
			}
		}
		if err := h.Check(); err != nil {
			t.Fatal(err)
		}
	})
}
