package shmheap

import (
	"encoding/binary"
	"fmt"
	"reflect"
)

// typeInfo describes a type checked for shared memory.
type typeInfo struct {
	t       reflect.Type
	size    uint64
	align   uint64
	fp      uint64 // layout fingerprint (LAYOUT.md)
	padding bool   // has bytes no field covers
}

// typeOf checks that T can live in shared memory: fixed size, no
// pointers of any kind, size > 0. The fingerprint hashes the layout: for
// every field, its offset, kind and size, recursively, with array lengths,
// so that int32 and int64, or int64 and uint64, or struct{A, B int32} and
// struct{A int32; _ [4]byte; B int32} differ; field names do not count.
func typeOf[T any]() (typeInfo, error) {
	t := reflect.TypeFor[T]()
	return checkType(t)
}

func checkType(t reflect.Type) (typeInfo, error) {
	var enc []byte
	covered, err := describe(t, 0, &enc, 0)
	if err != nil {
		return typeInfo{}, fmt.Errorf("%w: %v: %v", ErrUnsupportedType, t, err)
	}
	if t.Size() == 0 {
		return typeInfo{}, fmt.Errorf("%w: %v has size zero", ErrUnsupportedType, t)
	}
	return typeInfo{t: t, size: uint64(t.Size()), align: uint64(t.Align()), fp: hash64(enc), padding: covered != uint64(t.Size())}, nil
}

// Kind codes of the fingerprint encoding (LAYOUT.md).
var kindCode = map[reflect.Kind]byte{
	reflect.Bool: 1, reflect.Int: 2, reflect.Int8: 3, reflect.Int16: 4, reflect.Int32: 5, reflect.Int64: 6,
	reflect.Uint: 7, reflect.Uint8: 8, reflect.Uint16: 9, reflect.Uint32: 10, reflect.Uint64: 11,
	reflect.Uintptr: 12, reflect.Float32: 13, reflect.Float64: 14, reflect.Complex64: 15,
	reflect.Complex128: 16, reflect.Array: 17, reflect.Struct: 18,
}

// describe appends the encoding of t at offset off and returns how many
// bytes its leaves cover.
func describe(t reflect.Type, off uint64, enc *[]byte, depth int) (uint64, error) {
	if depth > 64 {
		return 0, fmt.Errorf("nested too deeply")
	}
	code, ok := kindCode[t.Kind()]
	if !ok {
		return 0, fmt.Errorf("a %s cannot be shared between processes (it holds a pointer, or is a string, slice, map, interface, channel or function)", t.Kind())
	}
	*enc = binary.LittleEndian.AppendUint64(*enc, off)
	*enc = append(*enc, code)
	*enc = binary.LittleEndian.AppendUint64(*enc, uint64(t.Size()))
	switch t.Kind() {
	case reflect.Array:
		*enc = binary.LittleEndian.AppendUint64(*enc, uint64(t.Len()))
		if t.Len() == 0 {
			return 0, nil
		}
		c, err := describe(t.Elem(), 0, enc, depth+1)
		if err != nil {
			return 0, err
		}
		return c * uint64(t.Len()), nil
	case reflect.Struct:
		*enc = binary.LittleEndian.AppendUint64(*enc, uint64(t.NumField()))
		var covered uint64
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			c, err := describe(f.Type, off+uint64(f.Offset), enc, depth+1)
			if err != nil {
				return 0, fmt.Errorf("field %s: %w", f.Name, err)
			}
			covered += c
		}
		return covered, nil
	}
	return uint64(t.Size()), nil
}

// fieldAt finds the field at the dotted path in t ("" is t itself) and
// returns its offset and type.
func fieldAt(t reflect.Type, path string) (uint64, reflect.Type, error) {
	var off uint64
	for path != "" {
		name := path
		rest := ""
		for i := 0; i < len(path); i++ {
			if path[i] == '.' {
				name, rest = path[:i], path[i+1:]
				break
			}
		}
		if t.Kind() != reflect.Struct {
			return 0, nil, fmt.Errorf("shmheap: %v has no field %q", t, name)
		}
		f, ok := t.FieldByName(name)
		if !ok || len(f.Index) != 1 {
			return 0, nil, fmt.Errorf("shmheap: %v has no field %q", t, name)
		}
		off += uint64(f.Offset)
		t = f.Type
		path = rest
	}
	return off, t, nil
}
