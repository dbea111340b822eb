package proc

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"reflect"
	"unsafe"
)

// Codec turns values of T into bytes and back, for the typed pool (and
// anything else that moves Go values between processes of one program).
// Append appends the encoding of *v to dst; Decode sets *v from src,
// overwriting every field. A Codec must be safe for concurrent use (the
// pool encodes and decodes from several goroutines).
type Codec[T any] interface {
	Append(dst []byte, v *T) ([]byte, error)
	Decode(src []byte, v *T) error
}

// DefaultCodec returns RawCodec for a fixed-size, pointer-free T and
// GobCodec for any other.
func DefaultCodec[T any]() Codec[T] {
	if c, err := RawCodec[T](); err == nil {
		return c
	}
	return GobCodec[T]()
}

// RawCodec copies the memory of a fixed-size, pointer-free T (numbers,
// arrays and structs of them) as it is, with no allocation. Both sides
// must be the same program (same byte order, sizes and layout), as
// processes started by proc are. It refuses any T holding pointers,
// slices, maps, strings, interfaces, channels or functions.
func RawCodec[T any]() (Codec[T], error) {
	t := reflect.TypeFor[T]()
	if why := notRaw(t); why != "" {
		return nil, fmt.Errorf("proc: %v cannot be copied raw: %s", t, why)
	}
	return rawCodec[T]{size: int(t.Size())}, nil
}

type rawCodec[T any] struct{ size int }

func (c rawCodec[T]) Append(dst []byte, v *T) ([]byte, error) {
	if c.size == 0 {
		return dst, nil
	}
	return append(dst, unsafe.Slice((*byte)(unsafe.Pointer(v)), c.size)...), nil
}

func (c rawCodec[T]) Decode(src []byte, v *T) error {
	if len(src) != c.size {
		return fmt.Errorf("proc: raw value of %d bytes, want %d", len(src), c.size)
	}
	if c.size > 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(v)), c.size), src)
	}
	return nil
}

// notRaw says why t cannot be copied raw ("" if it can).
func notRaw(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return ""
	case reflect.Array:
		return notRaw(t.Elem())
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if why := notRaw(t.Field(i).Type); why != "" {
				return "field " + t.Field(i).Name + ": " + why
			}
		}
		return ""
	}
	return "it holds a " + t.Kind().String()
}

// GobCodec encodes each value as a self-contained encoding/gob stream
// (type information included), so it handles any type gob does, at the
// cost of allocations and a few microseconds per value.
func GobCodec[T any]() Codec[T] { return gobCodec[T]{} }

type gobCodec[T any] struct{}

func (gobCodec[T]) Append(dst []byte, v *T) ([]byte, error) {
	b := bytes.NewBuffer(dst)
	if err := gob.NewEncoder(b).Encode(v); err != nil {
		return dst, err
	}
	return b.Bytes(), nil
}

func (gobCodec[T]) Decode(src []byte, v *T) error {
	var zero T
	*v = zero
	return gob.NewDecoder(bytes.NewReader(src)).Decode(v)
}
