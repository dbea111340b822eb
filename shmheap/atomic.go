package shmheap

import (
	"fmt"
	"reflect"
	"sync/atomic"
	"unsafe"
)

// atomicField is a 32- or 64-bit integer inside a Value or Array that
// processes update with atomic instructions, without the object's lock.
//
// Where Go's 64-bit atomics are emulated with a lock private to each
// process (32-bit MIPS, and ARM before ARMv7: see atomic64Shared), a
// 64-bit field is updated under the object's pid lock instead, which is
// atomic between processes; 32-bit fields stay lock-free everywhere.
type atomicField struct {
	o       *object
	off     uint64
	wide    bool
	locked  bool
	elem, n uint64 // the object's element size and count, for lockData
}

func (o *object) atomicAt(t reflect.Type, base uint64, field string, want reflect.Kind, elem, n uint64) (atomicField, error) {
	if err := o.check(); err != nil {
		return atomicField{}, err
	}
	off, ft, err := fieldAt(t, field)
	if err != nil {
		return atomicField{}, err
	}
	if ft.Kind() != want {
		return atomicField{}, fmt.Errorf("shmheap: field %q of %v is a %v, not a %v", field, t, ft, want)
	}
	abs := base + off
	size := uint64(ft.Size())
	if abs%size != 0 {
		return atomicField{}, fmt.Errorf("shmheap: field %q of %v is at offset %d, not %d-byte aligned (on %d-bit platforms, put 64-bit fields first)", field, t, off, size, 8*unsafe.Sizeof(uintptr(0)))
	}
	wide := size == 8
	return atomicField{o: o, off: abs, wide: wide, locked: wide && !atomic64Shared, elem: elem, n: n}, nil
}

// do runs op on the field: directly, under Guard for truncatable memory,
// and under the object's lock where 64-bit atomics are process-local.
func (a *atomicField) do(op func(p unsafe.Pointer)) error {
	if err := a.o.check(); err != nil {
		return err
	}
	c := a.o.c
	if !c.trunc && !a.locked {
		op(c.ptr(a.off))
		return nil
	}
	return c.run(func() error {
		if a.locked {
			if err := c.lockData(a.o.body, a.elem, a.n); err != nil {
				return err
			}
			defer pidUnlock(&c.mem, a.o.body)
		}
		op(c.ptr(a.off))
		return nil
	})
}

func (a *atomicField) load() (v uint64, err error) {
	err = a.do(func(p unsafe.Pointer) {
		if a.wide {
			if a.locked {
				v = *(*uint64)(p)
			} else {
				v = atomic.LoadUint64((*uint64)(p))
			}
		} else {
			v = uint64(atomic.LoadUint32((*uint32)(p)))
		}
	})
	return v, err
}

func (a *atomicField) store(v uint64) error {
	return a.do(func(p unsafe.Pointer) {
		if a.wide {
			if a.locked {
				*(*uint64)(p) = v
			} else {
				atomic.StoreUint64((*uint64)(p), v)
			}
		} else {
			atomic.StoreUint32((*uint32)(p), uint32(v))
		}
	})
}

func (a *atomicField) add(d uint64) (v uint64, err error) {
	err = a.do(func(p unsafe.Pointer) {
		if a.wide {
			if a.locked {
				v = *(*uint64)(p) + d
				*(*uint64)(p) = v
			} else {
				v = atomic.AddUint64((*uint64)(p), d)
			}
		} else {
			v = uint64(atomic.AddUint32((*uint32)(p), uint32(d)))
		}
	})
	return v, err
}

func (a *atomicField) swap(n uint64) (v uint64, err error) {
	err = a.do(func(p unsafe.Pointer) {
		if a.wide {
			if a.locked {
				v = *(*uint64)(p)
				*(*uint64)(p) = n
			} else {
				v = atomic.SwapUint64((*uint64)(p), n)
			}
		} else {
			v = uint64(atomic.SwapUint32((*uint32)(p), uint32(n)))
		}
	})
	return v, err
}

func (a *atomicField) cas(old, n uint64) (ok bool, err error) {
	err = a.do(func(p unsafe.Pointer) {
		if a.wide {
			if a.locked {
				if ok = *(*uint64)(p) == old; ok {
					*(*uint64)(p) = n
				}
			} else {
				ok = atomic.CompareAndSwapUint64((*uint64)(p), old, n)
			}
		} else {
			ok = atomic.CompareAndSwapUint32((*uint32)(p), uint32(old), uint32(n))
		}
	})
	return ok, err
}

// Int64 is an int64 in shared memory (a Value[int64], or an int64 field of
// a Value's or Array's T) that processes update atomically without the
// object's lock, as sync/atomic.Int64 does within one. It stays valid
// while the object's handle is open; afterwards every method returns
// ErrClosed. Updates made under the object's lock (Store, Update) may
// overwrite a concurrent atomic update: use one or the other for a field.
type Int64 struct{ f atomicField }

// Load atomically loads the value.
func (x *Int64) Load() (int64, error) { v, err := x.f.load(); return int64(v), err }

// Store atomically stores v.
func (x *Int64) Store(v int64) error { return x.f.store(uint64(v)) }

// Add atomically adds d and returns the new value.
func (x *Int64) Add(d int64) (int64, error) { v, err := x.f.add(uint64(d)); return int64(v), err }

// Swap atomically stores v and returns the old value.
func (x *Int64) Swap(v int64) (int64, error) { o, err := x.f.swap(uint64(v)); return int64(o), err }

// CompareAndSwap atomically stores n if the value is old.
func (x *Int64) CompareAndSwap(old, n int64) (bool, error) { return x.f.cas(uint64(old), uint64(n)) }

// Uint64 is Int64 for a uint64.
type Uint64 struct{ f atomicField }

// Load atomically loads the value.
func (x *Uint64) Load() (uint64, error) { return x.f.load() }

// Store atomically stores v.
func (x *Uint64) Store(v uint64) error { return x.f.store(v) }

// Add atomically adds d and returns the new value.
func (x *Uint64) Add(d uint64) (uint64, error) { return x.f.add(d) }

// Swap atomically stores v and returns the old value.
func (x *Uint64) Swap(v uint64) (uint64, error) { return x.f.swap(v) }

// CompareAndSwap atomically stores n if the value is old.
func (x *Uint64) CompareAndSwap(old, n uint64) (bool, error) { return x.f.cas(old, n) }

// Int32 is Int64 for an int32; 32-bit fields are lock-free on every
// architecture.
type Int32 struct{ f atomicField }

// Load atomically loads the value.
func (x *Int32) Load() (int32, error) { v, err := x.f.load(); return int32(v), err }

// Store atomically stores v.
func (x *Int32) Store(v int32) error { return x.f.store(uint64(uint32(v))) }

// Add atomically adds d and returns the new value.
func (x *Int32) Add(d int32) (int32, error) {
	v, err := x.f.add(uint64(uint32(d)))
	return int32(v), err
}

// Swap atomically stores v and returns the old value.
func (x *Int32) Swap(v int32) (int32, error) {
	o, err := x.f.swap(uint64(uint32(v)))
	return int32(o), err
}

// CompareAndSwap atomically stores n if the value is old.
func (x *Int32) CompareAndSwap(old, n int32) (bool, error) {
	return x.f.cas(uint64(uint32(old)), uint64(uint32(n)))
}

// Uint32 is Int64 for a uint32.
type Uint32 struct{ f atomicField }

// Load atomically loads the value.
func (x *Uint32) Load() (uint32, error) { v, err := x.f.load(); return uint32(v), err }

// Store atomically stores v.
func (x *Uint32) Store(v uint32) error { return x.f.store(uint64(v)) }

// Add atomically adds d and returns the new value.
func (x *Uint32) Add(d uint32) (uint32, error) { v, err := x.f.add(uint64(d)); return uint32(v), err }

// Swap atomically stores v and returns the old value.
func (x *Uint32) Swap(v uint32) (uint32, error) { o, err := x.f.swap(uint64(v)); return uint32(o), err }

// CompareAndSwap atomically stores n if the value is old.
func (x *Uint32) CompareAndSwap(old, n uint32) (bool, error) {
	return x.f.cas(uint64(old), uint64(n))
}
