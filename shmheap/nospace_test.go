package shmheap

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"testing"
)

// TestNoSpaceStress runs random operations on a heap too small for them,
// so that many fail with ErrNoSpace part-way, and checks after each
// failure that the heap is valid and nothing leaked.
func TestNoSpaceStress(t *testing.T) {
	locks(t, func(t *testing.T, lk LockKind) {
		h := newHeap(t, 48<<10, lk)
		r := rand.New(rand.NewSource(1))
		vec := must(CreateVector[[16]int64](h, "vec"))
		defer vec.Close()
		m := must(CreateMap[int64, [8]int64](h, "m"))
		defer m.Close()
		ns := must(CreateNamespace(h, "ns", nil))
		defer ns.Close()
		fails := 0
		for i := 0; i < 3000; i++ {
			var err error
			switch r.Intn(7) {
			case 0:
				err = vec.Append([16]int64{int64(i)})
			case 1:
				if n, _ := vec.Len(); n > 0 {
					err = vec.Delete(r.Intn(n))
				}
			case 2:
				err = m.Put(int64(r.Intn(400)), [8]int64{1})
			case 3:
				_, err = m.Delete(int64(r.Intn(400)))
			case 4:
				err = ns.Set(fmt.Sprint("a", r.Intn(30)), make([]byte, r.Intn(2000)))
			case 5:
				name := fmt.Sprint("o", r.Intn(20))
				var v *Vector[int64]
				if v, err = OpenOrCreateVector[int64](h, name); err == nil {
					for j := 0; j < r.Intn(200) && err == nil; j++ {
						err = v.Append(int64(j))
					}
					v.Close()
				}
			case 6:
				if err = h.Remove(fmt.Sprint("o", r.Intn(20))); errors.Is(err, os.ErrNotExist) {
					err = nil
				}
			}
			if err != nil && !errors.Is(err, ErrNoSpace) && !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("op %d: %v", i, err)
			}
			if errors.Is(err, ErrNoSpace) {
				fails++
				if err := h.Check(); err != nil {
					t.Fatalf("op %d failed with ErrNoSpace, then Check: %v", i, err)
				}
			}
		}
		if fails == 0 {
			t.Fatal("the heap never ran out of space")
		}
		t.Logf("%d operations failed with ErrNoSpace", fails)
		mustCheck(t, h)
	})
}
