package shmheap

import (
	"fmt"
	"reflect"
	"unsafe"
)

// Value and Array bodies (LAYOUT.md):
//
//	+0    the object's pid lock (64 bytes)
//	+64   u32 redo: 1 while the scratch copy holds a write to replay
//	+72   u64 index of the element the scratch copy belongs to (Array)
//	+128  the data: one T (Value) or n T (Array)
//	+128+round64(data) scratch: one T
//
// A write copies the new value to scratch, stores redo = 1, copies it to
// its place and stores redo = 0; a locker that finds redo = 1 (its owner
// died) copies scratch to its place again. So a Store or Update killed at
// any instruction leaves either the old or the new value, never a mix.
const (
	vRedo    = 64
	vIndex   = 72
	vData    = 128
	redoNone = 0
	redoCopy = 1
)

func valueBody(elem, n uint64) uint64 { return vData + align(n*elem, 64) + align(elem, 64) }

// lockData takes the pid lock of a Value or Array body and replays a
// write its dead owner left half-done.
func (c *core) lockData(body, elem, n uint64) error {
	dead := pidLock(&c.mem, body)
	if dead || c.load32(body+vRedo) != redoNone {
		noteRepair()
		if err := c.repairData(body, elem, n); err != nil {
			pidUnlock(&c.mem, body)
			return err
		}
	}
	return nil
}

func (c *core) repairData(body, elem, n uint64) error {
	switch r := c.load32(body + vRedo); r {
	case redoNone:
		return nil
	case redoCopy:
		i := c.get64(body + vIndex)
		if i >= n {
			return errBadRedo
		}
		scratch := body + vData + align(n*elem, 64)
		copy(c.bytes(body+vData+i*elem, elem), c.bytes(scratch, elem))
		c.store32(body+vRedo, redoNone)
		return nil
	default:
		return corrupt("redo state %d", r)
	}
}

// Value is a named T in a heap, with a lock of its own: Python's
// multiprocessing.Value with get_lock(). T must be fixed-size and hold no
// pointers (numbers, bools, arrays and structs of them); CreateValue
// refuses other types with ErrUnsupportedType. The heap stores T's size
// and a fingerprint of its layout with the object, and opening it as
// another type fails with ErrTypeMismatch.
//
// Load, Store and Update take the object's lock (a pid lock, LAYOUT.md),
// so they see and make whole values; Store and Update are crash-atomic: a
// process killed during one leaves the old or the new value. The lock is
// held for the copy (and Update's function) only; a process that dies
// holding it is detected by the next locker within about 100 ms. For
// counters, the atomic accessors (Int64 and friends) need no lock.
//
// A Value's methods are safe for concurrent use by goroutines and
// processes. Close releases the handle; every other method of a closed
// handle returns ErrClosed.
type Value[T any] struct {
	o       *object
	elem    uint64
	data    uint64
	scratch uint64
	t       reflect.Type
}

func valueSpec(ti typeInfo) *spec {
	return &spec{kind: kindValue, fp: ti.fp, elem: ti.size, elem2: 1, align: ti.align, bodyLen: valueBody(ti.size, 1)}
}

func openValue[T any](h *Heap, name string, mode int) (*Value[T], error) {
	ti, err := typeOf[T]()
	if err != nil {
		return nil, err
	}
	o, err := h.openObject(name, valueSpec(ti), mode)
	if err != nil {
		return nil, err
	}
	return &Value[T]{o: o, elem: ti.size, data: o.body + vData, scratch: o.body + vData + align(ti.size, 64), t: ti.t}, nil
}

// CreateValue creates the Value name, zeroed; it fails with an error
// matching os.ErrExist if the name is taken.
func CreateValue[T any](h *Heap, name string) (*Value[T], error) {
	return openValue[T](h, name, modeCreate)
}

// OpenValue opens the Value name; it fails with an error matching
// os.ErrNotExist if there is none, and with ErrTypeMismatch if it is not
// a Value[T].
func OpenValue[T any](h *Heap, name string) (*Value[T], error) {
	return openValue[T](h, name, modeOpen)
}

// OpenOrCreateValue opens the Value name or creates it, zeroed (Boost's
// find_or_construct); exactly one process creates it.
func OpenOrCreateValue[T any](h *Heap, name string) (*Value[T], error) {
	return openValue[T](h, name, modeEither)
}

// Name returns the object's name.
func (v *Value[T]) Name() string { return v.o.name }

// Close releases the handle; it is idempotent.
func (v *Value[T]) Close() error { return v.o.close() }

// Load returns the value, read under the object's lock.
func (v *Value[T]) Load() (T, error) {
	var x T
	if err := v.o.check(); err != nil {
		return x, err
	}
	if !v.o.c.trunc {
		return x, v.load(&x)
	}
	err := v.o.c.mp.Guard(func() error { return v.load(&x) })
	return x, err
}

func (v *Value[T]) load(x *T) error {
	c := v.o.c
	if err := c.lockData(v.o.body, v.elem, 1); err != nil {
		return err
	}
	defer pidUnlock(&c.mem, v.o.body)
	*x = *(*T)(c.ptr(v.data))
	return nil
}

// Store sets the value under the object's lock.
func (v *Value[T]) Store(x T) error {
	if err := v.o.check(); err != nil {
		return err
	}
	if !v.o.c.trunc {
		return v.store(&x)
	}
	return v.o.c.mp.Guard(func() error { return v.store(&x) })
}

func (v *Value[T]) store(x *T) error {
	c := v.o.c
	if err := c.lockData(v.o.body, v.elem, 1); err != nil {
		return err
	}
	defer pidUnlock(&c.mem, v.o.body)
	v.commit(x)
	return nil
}

// commit writes x through the scratch copy (lock held).
func (v *Value[T]) commit(x *T) {
	c := v.o.c
	*(*T)(c.ptr(v.scratch)) = *x
	c.put64(v.o.body+vIndex, 0)
	crashPoint()
	c.store32(v.o.body+vRedo, redoCopy)
	crashPoint()
	*(*T)(c.ptr(v.data)) = *x
	crashPoint()
	c.store32(v.o.body+vRedo, redoNone)
}

// Update calls fn with a copy of the value, under the object's lock, and
// stores what fn leaves in it: a read-modify-write no other process can
// interleave with (Python's "with v.get_lock(): v.value += 1"). The copy
// is the object's scratch space in shared memory: fn must not keep the
// pointer, nor call methods of this Value. If fn panics, the value is
// unchanged and the lock released.
func (v *Value[T]) Update(fn func(*T)) error {
	if err := v.o.check(); err != nil {
		return err
	}
	if !v.o.c.trunc {
		return v.update(fn)
	}
	return v.o.c.mp.Guard(func() error { return v.update(fn) })
}

func (v *Value[T]) update(fn func(*T)) error {
	c := v.o.c
	if err := c.lockData(v.o.body, v.elem, 1); err != nil {
		return err
	}
	defer pidUnlock(&c.mem, v.o.body)
	// fn works on the scratch copy in shared memory (a Go copy would
	// escape to the heap through fn); only the commit makes it the value.
	s := (*T)(c.ptr(v.scratch))
	*s = *(*T)(c.ptr(v.data))
	fn(s)
	c.put64(v.o.body+vIndex, 0)
	crashPoint()
	c.store32(v.o.body+vRedo, redoCopy)
	crashPoint()
	*(*T)(c.ptr(v.data)) = *s
	crashPoint()
	c.store32(v.o.body+vRedo, redoNone)
	return nil
}

// Int64 returns a lock-free atomic view of the int64 field at the dotted
// path field of T ("" for T itself, which must then be an int64).
func (v *Value[T]) Int64(field string) (*Int64, error) {
	f, err := v.o.atomicAt(v.t, v.data, field, reflect.Int64, v.elem, 1)
	return wrapInt64(f, err)
}

// Int32 is Int64 for an int32 field.
func (v *Value[T]) Int32(field string) (*Int32, error) {
	f, err := v.o.atomicAt(v.t, v.data, field, reflect.Int32, v.elem, 1)
	return wrapInt32(f, err)
}

// Uint64 is Int64 for a uint64 field.
func (v *Value[T]) Uint64(field string) (*Uint64, error) {
	f, err := v.o.atomicAt(v.t, v.data, field, reflect.Uint64, v.elem, 1)
	return wrapUint64(f, err)
}

// Uint32 is Int64 for a uint32 field.
func (v *Value[T]) Uint32(field string) (*Uint32, error) {
	f, err := v.o.atomicAt(v.t, v.data, field, reflect.Uint32, v.elem, 1)
	return wrapUint32(f, err)
}

// Array is a named, fixed-length array of T in a heap, with one lock for
// the whole array: Python's multiprocessing.Array. T follows Value's
// rules. Load and Store of one element take the lock and are
// crash-atomic, as Value's; Update runs a function on the elements in
// place, under the lock, and is not: elements it wrote before its process
// died keep what it wrote.
type Array[T any] struct {
	o       *object
	n       uint64
	elem    uint64
	data    uint64
	scratch uint64
	t       reflect.Type
}

func arraySpec(ti typeInfo, n uint64) *spec {
	return &spec{kind: kindArray, fp: ti.fp, elem: ti.size, elem2: n, align: ti.align, bodyLen: valueBody(ti.size, n)}
}

func openArray[T any](h *Heap, name string, n int, mode int) (*Array[T], error) {
	ti, err := typeOf[T]()
	if err != nil {
		return nil, err
	}
	if mode != modeOpen && (n <= 0 || uint64(n) > maxSize/ti.size) {
		return nil, fmt.Errorf("shmheap: Array length %d is not positive or too large", n)
	}
	var sp *spec
	if mode == modeOpen {
		// The length is the stored one.
		sp = &spec{kind: kindArray, fp: ti.fp, elem: ti.size, align: ti.align}
		sp.check = func(uint64) error { return nil }
	} else {
		sp = arraySpec(ti, uint64(n))
	}
	o, err := h.openObject(name, sp, mode)
	if err != nil {
		return nil, err
	}
	c := o.c
	var length uint64
	err = c.run(func() error {
		length = c.get64(o.p + oElem2)
		if length == 0 || length > maxSize/ti.size || o.bodyLen != valueBody(ti.size, length) {
			return corrupt("Array %q: length %d does not fit its %d-byte body", name, length, o.bodyLen)
		}
		return nil
	})
	if err != nil {
		o.close()
		return nil, err
	}
	if mode == modeEither && length != uint64(n) {
		o.close()
		return nil, fmt.Errorf("%w: Array %q has %d elements, not %d", ErrTypeMismatch, name, length, n)
	}
	return &Array[T]{o: o, n: length, elem: ti.size, data: o.body + vData,
		scratch: o.body + vData + align(length*ti.size, 64), t: ti.t}, nil
}

// CreateArray creates the Array name of n zeroed elements.
func CreateArray[T any](h *Heap, name string, n int) (*Array[T], error) {
	return openArray[T](h, name, n, modeCreate)
}

// OpenArray opens the Array name, whatever its length.
func OpenArray[T any](h *Heap, name string) (*Array[T], error) {
	return openArray[T](h, name, 0, modeOpen)
}

// OpenOrCreateArray opens the Array name or creates it with n zeroed
// elements; an existing Array of another length is ErrTypeMismatch.
func OpenOrCreateArray[T any](h *Heap, name string, n int) (*Array[T], error) {
	return openArray[T](h, name, n, modeEither)
}

// Name returns the object's name.
func (a *Array[T]) Name() string { return a.o.name }

// Len returns the number of elements.
func (a *Array[T]) Len() int { return int(a.n) }

// Close releases the handle; it is idempotent.
func (a *Array[T]) Close() error { return a.o.close() }

// Load returns element i, read under the lock.
func (a *Array[T]) Load(i int) (T, error) {
	var x T
	if err := a.o.check(); err != nil {
		return x, err
	}
	if uint(i) >= uint(a.n) {
		return x, ErrIndex
	}
	if !a.o.c.trunc {
		return x, a.load(uint64(i), &x)
	}
	err := a.o.c.mp.Guard(func() error { return a.load(uint64(i), &x) })
	return x, err
}

func (a *Array[T]) load(i uint64, x *T) error {
	c := a.o.c
	if err := c.lockData(a.o.body, a.elem, a.n); err != nil {
		return err
	}
	defer pidUnlock(&c.mem, a.o.body)
	*x = *(*T)(c.ptr(a.data + i*a.elem))
	return nil
}

// Store sets element i under the lock.
func (a *Array[T]) Store(i int, x T) error {
	if err := a.o.check(); err != nil {
		return err
	}
	if uint(i) >= uint(a.n) {
		return ErrIndex
	}
	if !a.o.c.trunc {
		return a.store(uint64(i), &x)
	}
	return a.o.c.mp.Guard(func() error { return a.store(uint64(i), &x) })
}

func (a *Array[T]) store(i uint64, x *T) error {
	c := a.o.c
	if err := c.lockData(a.o.body, a.elem, a.n); err != nil {
		return err
	}
	defer pidUnlock(&c.mem, a.o.body)
	*(*T)(c.ptr(a.scratch)) = *x
	c.put64(a.o.body+vIndex, i)
	crashPoint()
	c.store32(a.o.body+vRedo, redoCopy)
	crashPoint()
	*(*T)(c.ptr(a.data + i*a.elem)) = *x
	crashPoint()
	c.store32(a.o.body+vRedo, redoNone)
	return nil
}

// Update calls fn with the elements, in shared memory, under the lock.
// fn must not keep the slice, nor call methods of this Array.
func (a *Array[T]) Update(fn func([]T)) error {
	if err := a.o.check(); err != nil {
		return err
	}
	run := func() error {
		c := a.o.c
		if err := c.lockData(a.o.body, a.elem, a.n); err != nil {
			return err
		}
		defer pidUnlock(&c.mem, a.o.body)
		fn(unsafe.Slice((*T)(c.ptr(a.data)), a.n))
		return nil
	}
	return a.o.c.run(run)
}

// Snapshot returns a copy of every element, taken under the lock.
func (a *Array[T]) Snapshot() ([]T, error) {
	out := make([]T, a.n)
	err := a.Update(func(s []T) { copy(out, s) })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Int64 returns a lock-free atomic view of the int64 field at the dotted
// path field ("" for the element itself) of element i.
func (a *Array[T]) Int64(i int, field string) (*Int64, error) {
	if uint(i) >= uint(a.n) {
		return nil, ErrIndex
	}
	f, err := a.o.atomicAt(a.t, a.data+uint64(i)*a.elem, field, reflect.Int64, a.elem, a.n)
	return wrapInt64(f, err)
}

// Int32 is Int64 for an int32 field.
func (a *Array[T]) Int32(i int, field string) (*Int32, error) {
	if uint(i) >= uint(a.n) {
		return nil, ErrIndex
	}
	f, err := a.o.atomicAt(a.t, a.data+uint64(i)*a.elem, field, reflect.Int32, a.elem, a.n)
	return wrapInt32(f, err)
}

// Uint64 is Int64 for a uint64 field.
func (a *Array[T]) Uint64(i int, field string) (*Uint64, error) {
	if uint(i) >= uint(a.n) {
		return nil, ErrIndex
	}
	f, err := a.o.atomicAt(a.t, a.data+uint64(i)*a.elem, field, reflect.Uint64, a.elem, a.n)
	return wrapUint64(f, err)
}

// Uint32 is Int64 for a uint32 field.
func (a *Array[T]) Uint32(i int, field string) (*Uint32, error) {
	if uint(i) >= uint(a.n) {
		return nil, ErrIndex
	}
	f, err := a.o.atomicAt(a.t, a.data+uint64(i)*a.elem, field, reflect.Uint32, a.elem, a.n)
	return wrapUint32(f, err)
}

func wrapInt64(f atomicField, err error) (*Int64, error) {
	if err != nil {
		return nil, err
	}
	return &Int64{f}, nil
}

func wrapInt32(f atomicField, err error) (*Int32, error) {
	if err != nil {
		return nil, err
	}
	return &Int32{f}, nil
}

func wrapUint64(f atomicField, err error) (*Uint64, error) {
	if err != nil {
		return nil, err
	}
	return &Uint64{f}, nil
}

func wrapUint32(f atomicField, err error) (*Uint32, error) {
	if err != nil {
		return nil, err
	}
	return &Uint32{f}, nil
}
