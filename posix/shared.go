package posix

import (
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"
	"unsafe"
)

// ErrLayout is returned (wrapped) when a typed view does not fit the
// mapping: out of range, misaligned, or a type that holds pointers.
var ErrLayout = errors.New("posix: bad shared-memory layout")

// Typed views put fixed-size Go values in a Mapping, the way Python's
// multiprocessing.Value and Array do. Only types without pointers are
// allowed (numbers, bools, arrays and structs of them): a pointer in
// shared memory means nothing to another process and would confuse the
// garbage collector. Another process may write anything into the memory
// at any time: validate values before trusting them, and use the atomic
// views for words that several processes update.
//
// A view points into the mapping, not into Go memory: it is valid while
// the Mapping handle it came from is open and reachable. Keep the handle
// (defer m.Close(), or store it beside the views): a handle dropped
// without Close is unmapped by its cleanup after a garbage collection,
// and a view used after that faults. On a closed Mapping every view
// function returns an error matching ErrClosed.

// ValueAt returns a pointer to a T at byte offset off of m.
func ValueAt[T any](m *Mapping, off int) (*T, error) {
	var zero T
	p, err := view(m, off, unsafe.Sizeof(zero), unsafe.Alignof(zero), 1, reflect.TypeOf(zero))
	if err != nil {
		return nil, err
	}
	return (*T)(p), nil
}

// ArrayAt returns a slice of n T values starting at byte offset off of m.
func ArrayAt[T any](m *Mapping, off, n int) ([]T, error) {
	var zero T
	if n < 0 {
		return nil, fmt.Errorf("%w: negative length %d", ErrLayout, n)
	}
	p, err := view(m, off, unsafe.Sizeof(zero), unsafe.Alignof(zero), n, reflect.TypeOf(zero))
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return []T{}, nil
	}
	return unsafe.Slice((*T)(p), n), nil
}

// Int32At returns an atomic 32-bit integer at offset off (4-aligned).
func Int32At(m *Mapping, off int) (*atomic.Int32, error) {
	p, err := view(m, off, 4, 4, 1, nil)
	return (*atomic.Int32)(p), err
}

// Uint32At returns an atomic 32-bit unsigned integer at offset off
// (4-aligned); futex words are of this kind.
func Uint32At(m *Mapping, off int) (*atomic.Uint32, error) {
	p, err := view(m, off, 4, 4, 1, nil)
	return (*atomic.Uint32)(p), err
}

// Int64At returns an atomic 64-bit integer at offset off, which must be
// 8-aligned on every architecture (32-bit ones included).
func Int64At(m *Mapping, off int) (*atomic.Int64, error) {
	p, err := view(m, off, 8, 8, 1, nil)
	return (*atomic.Int64)(p), err
}

// Uint64At returns an atomic 64-bit unsigned integer at offset off
// (8-aligned).
func Uint64At(m *Mapping, off int) (*atomic.Uint64, error) {
	p, err := view(m, off, 8, 8, 1, nil)
	return (*atomic.Uint64)(p), err
}

func view(m *Mapping, off int, size, align uintptr, n int, t reflect.Type) (unsafe.Pointer, error) {
	if t != nil && hasPointers(t) {
		return nil, fmt.Errorf("%w: %v holds pointers and cannot live in shared memory", ErrLayout, t)
	}
	b := m.Bytes()
	if b == nil {
		return nil, ErrClosed
	}
	if off < 0 || off > len(b) {
		return nil, fmt.Errorf("%w: offset %d outside the %d-byte mapping", ErrLayout, off, len(b))
	}
	if size != 0 && uintptr(n) > (uintptr(len(b)-off))/size {
		return nil, fmt.Errorf("%w: %d × %d bytes at offset %d overrun the %d-byte mapping", ErrLayout, n, size, off, len(b))
	}
	if off == len(b) && n > 0 && size > 0 {
		return nil, fmt.Errorf("%w: offset %d is the end of the mapping", ErrLayout, off)
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	addr := uintptr(p) + uintptr(off)
	if align > 1 && addr%align != 0 {
		return nil, fmt.Errorf("%w: offset %d is not %d-byte aligned", ErrLayout, off, align)
	}
	if off == len(b) {
		return p, nil // empty view at the end
	}
	return unsafe.Add(p, off), nil
}

func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return false
	case reflect.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	}
	return true // pointers, slices, strings, maps, chans, funcs, interfaces
}
