package shmheap

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
)

// errSimCrash stops an operation at a crash point, in-process: the
// operation's deferred unlocks run, but nothing else of it, which leaves
// the shared state exactly as a process killed there would (minus the
// lock, whose dead-owner detection the child-process tests cover).
var errSimCrash = errors.New("simulated crash")

// deadPID stands for a crashed process in TestCrashPoints: locks taken
// during the stopped operation carry it, and no process has it (it is
// above the kernel's largest pid_max, 2^22).
const deadPID = 0x3ffffff0

type crashScenario struct {
	name   string
	setup  func(h *Heap) error
	op     func(h *Heap) error
	verify func(h *Heap, done bool) error // the state must be the old or (if done, only) the new one
}

func must[T any](x T, err error) T {
	if err != nil {
		panic(err)
	}
	return x
}

func vecOf(h *Heap, name string) ([]int64, error) {
	v, err := OpenVector[int64](h, name)
	if err != nil {
		return nil, err
	}
	defer v.Close()
	return v.Snapshot()
}

func seq(from, to int64) []int64 {
	var s []int64
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func oneOf(got []int64, old, new []int64, done bool) error {
	if slices.Equal(got, new) || (!done && slices.Equal(got, old)) {
		return nil
	}
	return fmt.Errorf("got %v, want %v or (if not done) %v", got, new, old)
}

func nsGet(h *Heap, attr string) (v []byte, ok bool, err error) {
	ns, err := OpenNamespace(h, "ns", nil)
	if err != nil {
		return nil, false, err
	}
	defer ns.Close()
	err = ns.Get(attr, &v)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	return v, err == nil, err
}

var crashScenarios = []crashScenario{
	{
		name: "create",
		op: func(h *Heap) error {
			_, err := CreateValue[int64](h, "v")
			return err
		},
		verify: func(h *Heap, done bool) error {
			v, err := OpenValue[int64](h, "v")
			if errors.Is(err, os.ErrNotExist) && !done {
				return nil
			}
			if err != nil {
				return err
			}
			defer v.Close()
			if x, _ := v.Load(); x != 0 {
				return fmt.Errorf("new value holds %d", x)
			}
			return nil
		},
	},
	{
		name: "create-grows-directory",
		setup: func(h *Heap) error {
			for i := 0; i < 12; i++ {
				must(CreateValue[int64](h, fmt.Sprint("v", i))).Close()
			}
			return nil
		},
		op: func(h *Heap) error {
			_, err := CreateVector[int64](h, "vec")
			return err
		},
		verify: func(h *Heap, done bool) error {
			names, err := h.Names()
			if err != nil {
				return err
			}
			if len(names) == 13 || (!done && len(names) == 12) {
				return nil
			}
			return fmt.Errorf("names %v", names)
		},
	},
	{
		name: "remove-vector",
		setup: func(h *Heap) error {
			v := must(CreateVector[int64](h, "vec"))
			defer v.Close()
			for i := int64(0); i < 100; i++ {
				v.Append(i)
			}
			return nil
		},
		op: func(h *Heap) error { return h.Remove("vec") },
		verify: func(h *Heap, done bool) error {
			got, err := vecOf(h, "vec")
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			if done || !slices.Equal(got, seq(0, 100)) {
				return fmt.Errorf("vector after remove: %v", got)
			}
			return nil
		},
	},
	{
		name: "value-store",
		setup: func(h *Heap) error {
			v := must(CreateValue[[4]int64](h, "v"))
			defer v.Close()
			return v.Store([4]int64{1, 1, 1, 1})
		},
		op: func(h *Heap) error {
			v := must(OpenValue[[4]int64](h, "v"))
			return v.Update(func(x *[4]int64) { *x = [4]int64{2, 2, 2, 2} })
		},
		verify: func(h *Heap, done bool) error {
			v := must(OpenValue[[4]int64](h, "v"))
			defer v.Close()
			x, err := v.Load()
			if x == [4]int64{2, 2, 2, 2} || (!done && x == [4]int64{1, 1, 1, 1}) {
				return err
			}
			return fmt.Errorf("value %v", x)
		},
	},
	{
		name: "array-store",
		setup: func(h *Heap) error {
			a := must(CreateArray[[2]int64](h, "a", 4))
			defer a.Close()
			return a.Store(2, [2]int64{1, 1})
		},
		op: func(h *Heap) error {
			return must(OpenArray[[2]int64](h, "a")).Store(2, [2]int64{2, 2})
		},
		verify: func(h *Heap, done bool) error {
			a := must(OpenArray[[2]int64](h, "a"))
			defer a.Close()
			x, err := a.Load(2)
			if x == [2]int64{2, 2} || (!done && x == [2]int64{1, 1}) {
				return err
			}
			return fmt.Errorf("element %v", x)
		},
	},
	{
		name: "vector-append-grow",
		setup: func(h *Heap) error {
			v := must(CreateVector[int64](h, "vec"))
			defer v.Close()
			for i := int64(0); i < 32; i++ { // chunk 0 holds 32 int64
				v.Append(i)
			}
			return nil
		},
		op: func(h *Heap) error { return must(OpenVector[int64](h, "vec")).Append(32) },
		verify: func(h *Heap, done bool) error {
			got, err := vecOf(h, "vec")
			if err != nil {
				return err
			}
			return oneOf(got, seq(0, 32), seq(0, 33), done)
		},
	},
	{
		name: "vector-set",
		setup: func(h *Heap) error {
			v := must(CreateVector[int64](h, "vec"))
			defer v.Close()
			for i := int64(0); i < 5; i++ {
				v.Append(i)
			}
			return nil
		},
		op: func(h *Heap) error { return must(OpenVector[int64](h, "vec")).Set(2, 20) },
		verify: func(h *Heap, done bool) error {
			got, err := vecOf(h, "vec")
			if err != nil {
				return err
			}
			return oneOf(got, []int64{0, 1, 2, 3, 4}, []int64{0, 1, 20, 3, 4}, done)
		},
	},
	{
		name: "vector-delete",
		setup: func(h *Heap) error {
			v := must(CreateVector[int64](h, "vec"))
			defer v.Close()
			for i := int64(0); i < 40; i++ {
				v.Append(i)
			}
			return nil
		},
		op: func(h *Heap) error { return must(OpenVector[int64](h, "vec")).Delete(1) },
		verify: func(h *Heap, done bool) error {
			got, err := vecOf(h, "vec")
			if err != nil {
				return err
			}
			return oneOf(got, seq(0, 40), append([]int64{0}, seq(2, 40)...), done)
		},
	},
	{
		name: "map-put-grow",
		setup: func(h *Heap) error {
			m := must(CreateMap[int64, [3]int64](h, "m"))
			defer m.Close()
			for i := int64(0); i < 6; i++ {
				m.Put(i, [3]int64{i})
			}
			return nil
		},
		op: func(h *Heap) error { return must(OpenMap[int64, [3]int64](h, "m")).Put(6, [3]int64{6}) },
		verify: func(h *Heap, done bool) error {
			m := must(OpenMap[int64, [3]int64](h, "m"))
			defer m.Close()
			snap, err := m.Snapshot()
			if err != nil {
				return err
			}
			for i := int64(0); i < 6; i++ {
				if snap[i] != [3]int64{i} {
					return fmt.Errorf("lost key %d: %v", i, snap)
				}
			}
			if v, ok := snap[6]; (ok && v == [3]int64{6} && len(snap) == 7) || (!ok && !done && len(snap) == 6) {
				return nil
			}
			return fmt.Errorf("map %v", snap)
		},
	},
	{
		name: "map-overwrite-delete",
		setup: func(h *Heap) error {
			m := must(CreateMap[int64, [3]int64](h, "m"))
			defer m.Close()
			m.Put(1, [3]int64{1, 1, 1})
			return m.Put(2, [3]int64{2, 2, 2})
		},
		op: func(h *Heap) error {
			m := must(OpenMap[int64, [3]int64](h, "m"))
			if err := m.Put(1, [3]int64{9, 9, 9}); err != nil {
				return err
			}
			_, err := m.Delete(2)
			return err
		},
		verify: func(h *Heap, done bool) error {
			m := must(OpenMap[int64, [3]int64](h, "m"))
			defer m.Close()
			snap, err := m.Snapshot()
			if err != nil {
				return err
			}
			a, b := snap[1], snap[2]
			_, has2 := snap[2]
			okA := a == [3]int64{9, 9, 9} || (!done && a == [3]int64{1, 1, 1})
			okB := !has2 || (!done && b == [3]int64{2, 2, 2})
			if !okA || !okB || (a == [3]int64{1, 1, 1} && !has2) {
				return fmt.Errorf("map %v", snap)
			}
			return nil
		},
	},
	{
		name: "namespace",
		setup: func(h *Heap) error {
			ns := must(CreateNamespace(h, "ns", nil))
			defer ns.Close()
			ns.Set("small", []byte("aaaa"))
			return ns.Set("gone", []byte("x"))
		},
		op: func(h *Heap) error {
			ns := must(OpenNamespace(h, "ns", nil))
			if err := ns.Set("small", []byte("bbbb")); err != nil { // in place
				return err
			}
			if err := ns.Set("small", make([]byte, 3000)); err != nil { // moves
				return err
			}
			if err := ns.Set("new", []byte("n")); err != nil {
				return err
			}
			return ns.Delete("gone")
		},
		verify: func(h *Heap, done bool) error {
			small, _, err := nsGet(h, "small")
			if err != nil {
				return err
			}
			nw, hasNew, _ := nsGet(h, "new")
			_, hasGone, _ := nsGet(h, "gone")
			switch {
			case done && (len(small) != 3000 || string(nw) != "n" || hasGone):
				return fmt.Errorf("done: small %d bytes, new %q, gone present %v", len(small), nw, hasGone)
			case string(small) != "aaaa" && string(small) != "bbbb" && len(small) != 3000:
				return fmt.Errorf("small = %q", small)
			case hasNew && string(nw) != "n":
				return fmt.Errorf("new = %q", nw)
			}
			return nil
		},
	},
}

// TestCrashPoints stops every operation at each of its crash points in
// turn and checks that the next process to open the heap finds it valid
// (Check: every block, list, counter and reference) and holding either
// the state before the operation or the state after it.
func TestCrashPoints(t *testing.T) {
	locks(t, func(t *testing.T, lk LockKind) {
		for _, sc := range crashScenarios {
			t.Run(sc.name, func(t *testing.T) {
				points := 0
				for i := 1; ; i++ {
					h, err := New(1<<20, &Options{Lock: lk})
					if err != nil {
						t.Fatal(err)
					}
					if sc.setup != nil {
						if err := sc.setup(h); err != nil {
							t.Fatal(err)
						}
					}
					hits := 0
					testPID = deadPID
					crashHook = func() {
						if hits++; hits == i {
							panic(errSimCrash)
						}
					}
					done := func() (done bool) {
						defer func() {
							if r := recover(); r != nil {
								if r != errSimCrash {
									panic(r)
								}
								done = false
							}
						}()
						if err := sc.op(h); err != nil {
							t.Fatalf("op: %v", err)
						}
						return true
					}()
					crashHook = nil
					testPID = 0
					h2, err := FromFile(h.File())
					if err != nil {
						t.Fatalf("point %d: reopen: %v", i, err)
					}
					if err := h2.Check(); err != nil {
						t.Fatalf("crash at point %d: Check: %v", i, err)
					}
					if err := sc.verify(h2, done); err != nil {
						t.Fatalf("crash at point %d: %v", i, err)
					}
					if err := h2.Check(); err != nil {
						t.Fatalf("crash at point %d: Check after verify: %v", i, err)
					}
					h2.Close()
					h.Close()
					if done {
						points = i - 1
						break
					}
				}
				t.Logf("%d crash points", points)
			})
		}
	})
}
