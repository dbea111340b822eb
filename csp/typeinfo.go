package csp

import (
	"fmt"
	"hash/fnv"
	"reflect"
	"strconv"
	"strings"
)

// notRaw says why values of t cannot be copied raw ("" if they can): raw
// mode copies a value's memory as it is, so it must be of fixed size and
// hold no pointer of any kind.
func notRaw(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return ""
	case reflect.Array:
		if why := notRaw(t.Elem()); why != "" {
			return "its elements: " + why
		}
		return ""
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if why := notRaw(t.Field(i).Type); why != "" {
				return "field " + t.Field(i).Name + ": " + why
			}
		}
		return ""
	case reflect.Pointer, reflect.UnsafePointer:
		return "it is a pointer"
	case reflect.Slice:
		return "it is a slice"
	case reflect.Map:
		return "it is a map"
	case reflect.String:
		return "it is a string"
	case reflect.Interface:
		return "it is an interface"
	case reflect.Chan:
		return "it is a channel"
	case reflect.Func:
		return "it is a function"
	}
	return "it is a " + t.Kind().String()
}

// describe writes a canonical description of t: its name, kind, size,
// and for composite types their elements and fields with offsets, so that
// two types agree only if their values have the same meaning and layout.
func describe(b *strings.Builder, t reflect.Type, depth int) {
	if t.PkgPath() != "" || t.Name() != "" {
		b.WriteString(t.PkgPath())
		b.WriteByte('.')
		b.WriteString(t.Name())
		b.WriteByte('=')
	}
	b.WriteString(t.Kind().String())
	b.WriteByte('/')
	b.WriteString(strconv.FormatUint(uint64(t.Size()), 10))
	if depth > 32 {
		return // recursive types: the names above suffice
	}
	switch t.Kind() {
	case reflect.Array:
		b.WriteString("[" + strconv.Itoa(t.Len()) + "]")
		describe(b, t.Elem(), depth+1)
	case reflect.Slice, reflect.Pointer, reflect.Chan:
		b.WriteByte('<')
		describe(b, t.Elem(), depth+1)
		b.WriteByte('>')
	case reflect.Map:
		b.WriteByte('<')
		describe(b, t.Key(), depth+1)
		b.WriteByte(',')
		describe(b, t.Elem(), depth+1)
		b.WriteByte('>')
	case reflect.Struct:
		b.WriteByte('{')
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			b.WriteString(f.Name)
			b.WriteByte('@')
			b.WriteString(strconv.FormatUint(uint64(f.Offset), 10))
			b.WriteByte(':')
			describe(b, f.Type, depth+1)
			b.WriteByte(';')
		}
		b.WriteByte('}')
	}
}

// fingerprint identifies the element type of a channel.
func fingerprint(t reflect.Type) uint64 {
	var b strings.Builder
	describe(&b, t, 0)
	h := fnv.New64a()
	h.Write([]byte(b.String()))
	return h.Sum64()
}

// typeName is the name stored in the channel for error messages.
func typeName(t reflect.Type) string {
	s := t.String()
	if len(s) > nameLen {
		s = s[:nameLen-3] + "..."
	}
	return s
}

// Modes of a channel, stored in its header.
const (
	modeRaw   = 1 // values copied as their memory
	modeGob   = 2 // encoding/gob (proc.GobCodec)
	modeCodec = 3 // a codec the program supplied (NewChanCodec)
)

func modeName(m uint32) string {
	switch m {
	case modeRaw:
		return "raw"
	case modeGob:
		return "gob"
	case modeCodec:
		return "a custom codec"
	}
	return fmt.Sprintf("mode %d", m)
}
