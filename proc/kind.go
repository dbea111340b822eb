package proc

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

var (
	// ErrNoHandle is matched by the error for a handle index the child
	// was not given.
	ErrNoHandle = errors.New("proc: no such handle")
	// ErrWrongKind is matched by the error for a handle asked for as a
	// kind it is not (a Conn asked for as a ring, say).
	ErrWrongKind = errors.New("proc: handle is of another kind")
	// ErrUnsupported is matched by Start's error for a value it does not
	// know how to pass; RegisterKind teaches it new types.
	ErrUnsupported = errors.New("proc: cannot pass a value of this type")
)

// HandleError reports a handle that could not be passed (in the parent)
// or given back (in the child). errors.Is matches ErrNoHandle,
// ErrWrongKind, ErrUnsupported or the underlying error.
type HandleError struct {
	Index int    // the handle's index
	Kind  string // its kind ("" when out of range or unknown)
	Want  string // the kind asked for (child) or the Go type (parent)
	Err   error
}

func (e *HandleError) Error() string {
	var nh *noHandle
	switch {
	case errors.As(e.Err, &nh):
		return fmt.Sprintf("proc: no handle %d (asked for as %s): the child was given %d", e.Index, e.Want, nh.n)
	case e.Err == ErrWrongKind:
		return fmt.Sprintf("proc: handle %d is %s %s, not %s %s", e.Index, article(e.Kind), e.Kind, article(e.Want), e.Want)
	case errors.Is(e.Err, ErrUnsupported):
		return fmt.Sprintf("proc: handle %d: %v", e.Index, e.Err)
	case e.Kind != "":
		return fmt.Sprintf("proc: handle %d (%s): %v", e.Index, e.Kind, e.Err)
	}
	return fmt.Sprintf("proc: handle %d: %v", e.Index, e.Err)
}

func (e *HandleError) Unwrap() error { return e.Err }

// noHandle is the error of an index out of range: it matches ErrNoHandle.
type noHandle struct{ n int }

func (e *noHandle) Error() string        { return fmt.Sprintf("%v: the child was given %d", ErrNoHandle, e.n) }
func (e *noHandle) Is(target error) bool { return target == ErrNoHandle }

func article(s string) string {
	if s != "" && strings.ContainsRune("aeiouAEIOU", rune(s[0])) {
		return "an"
	}
	return "a"
}

// kindInfo is one registered kind of handle.
type kindInfo struct {
	name string
	typ  reflect.Type
	// enc returns the descriptor to pass (nil for a plain value; borrowed:
	// Start duplicates it) and metadata for the child.
	enc func(h any) (*os.File, []byte, error)
	// dec rebuilds the handle in the child from a descriptor it must not
	// close or keep (duplicate what you keep) and the metadata.
	dec func(f *os.File, meta []byte) (any, error)
}

var kinds = struct {
	sync.RWMutex
	byName map[string]*kindInfo
	byType map[reflect.Type]*kindInfo
	ifaces []*kindInfo // kinds registered for interface types, in order
}{byName: map[string]*kindInfo{}, byType: map[reflect.Type]*kindInfo{}}

// RegisterKind teaches Start to pass values of type T to a child and Get
// to give them back there. encode runs in the parent: it returns the
// descriptor to pass (nil for a plain value; Start duplicates it, so the
// caller keeps its own) and metadata. decode runs in the child: f is the
// inherited descriptor (nil for a plain value), which decode must neither
// close nor keep — it duplicates what it keeps, as the XFromFile
// constructors do. name identifies the kind in both processes and in
// errors ("csp.Chan"); the parent and child are the same program, so both
// register it in the same init function.
//
// T may be an interface type: a value whose type has no kind of its own
// is passed by the first interface kind (in registration order) it
// implements. RegisterKind panics if name or T is taken.
func RegisterKind[T any](name string, encode func(h T) (f *os.File, meta []byte, err error), decode func(f *os.File, meta []byte) (T, error)) {
	t := reflect.TypeFor[T]()
	k := &kindInfo{name: name, typ: t,
		enc: func(h any) (*os.File, []byte, error) { return encode(h.(T)) },
		dec: func(f *os.File, meta []byte) (any, error) { return decode(f, meta) },
	}
	if err := addKind(k); err != nil {
		panic(err)
	}
}

func addKind(k *kindInfo) error {
	kinds.Lock()
	defer kinds.Unlock()
	if k.name == "" {
		return errors.New("proc: RegisterKind with an empty name")
	}
	if _, dup := kinds.byName[k.name]; dup {
		return fmt.Errorf("proc: kind %q registered twice", k.name)
	}
	if k.typ != nil {
		if _, dup := kinds.byType[k.typ]; dup {
			return fmt.Errorf("proc: type %v registered twice", k.typ)
		}
		kinds.byType[k.typ] = k
		if k.typ.Kind() == reflect.Interface {
			kinds.ifaces = append(kinds.ifaces, k)
		}
	}
	kinds.byName[k.name] = k
	return nil
}

// kindOf finds the kind that passes h.
func kindOf(h any) *kindInfo {
	if h == nil {
		return nil
	}
	t := reflect.TypeOf(h)
	kinds.RLock()
	defer kinds.RUnlock()
	if k, ok := kinds.byType[t]; ok {
		return k
	}
	for _, k := range kinds.ifaces {
		if t.Implements(k.typ) {
			return k
		}
	}
	// Plain values by underlying kind (named int types, say).
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return kinds.byName[kindInt]
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return kinds.byName[kindUint]
	case reflect.String:
		return kinds.byName[kindString]
	case reflect.Bool:
		return kinds.byName[kindBool]
	case reflect.Float32, reflect.Float64:
		return kinds.byName[kindFloat]
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return kinds.byName[kindBytes]
		}
	}
	return nil
}

func kindNamed(name string) *kindInfo {
	kinds.RLock()
	defer kinds.RUnlock()
	return kinds.byName[name]
}

// Child is what a child process was handed: its name and its handles,
// each retrieved by index with a type check (Get and the typed
// accessors). Every call returns a new handle of its own (a duplicate of
// the inherited descriptor), which the caller closes; the inherited
// descriptors stay open until the Func returns. A Child is safe for
// concurrent use.
type Child struct {
	name    string
	handles []handleEntry
	m       *manifest
}

func newChild(m *manifest) (*Child, error) {
	return &Child{name: m.Name, handles: m.Handles, m: m}, nil
}

// Name returns the name the child was started as.
func (c *Child) Name() string { return c.name }

// Len returns the number of handles the child was given.
func (c *Child) Len() int { return len(c.handles) }

// Kind returns the kind of handle i ("mmapring.Ring", "posix.Conn",
// "int", ...).
func (c *Child) Kind(i int) (string, error) {
	if i < 0 || i >= len(c.handles) {
		return "", c.rangeErr(i, "any kind")
	}
	return c.handles[i].Kind, nil
}

func (c *Child) rangeErr(i int, want string) error {
	return &HandleError{Index: i, Want: want, Err: &noHandle{len(c.handles)}}
}

// entry returns handle i with its kind, or an error naming what was
// asked for.
func (c *Child) entry(i int, want string) (handleEntry, *kindInfo, error) {
	if i < 0 || i >= len(c.handles) {
		return handleEntry{}, nil, c.rangeErr(i, want)
	}
	h := c.handles[i]
	k := kindNamed(h.Kind)
	if k == nil {
		return h, nil, &HandleError{Index: i, Kind: h.Kind, Want: want, Err: fmt.Errorf("%w: kind %q is not registered in the child", ErrWrongKind, h.Kind)}
	}
	return h, k, nil
}

// Get returns handle i of c as a T: the kind registered for T must be the
// handle's kind, or T is *os.File and the handle has a descriptor, or T
// is a numeric, string, bool or []byte type and the handle is such a
// plain value that converts to T without loss. Anything else is a
// *HandleError matching ErrWrongKind (ErrNoHandle for an index out of
// range).
func Get[T any](c *Child, i int) (T, error) {
	var zero T
	t := reflect.TypeFor[T]()
	want := t.String()
	kinds.RLock()
	wk := kinds.byType[t]
	kinds.RUnlock()
	if wk != nil {
		want = wk.name
	}
	h, k, err := c.entry(i, want)
	if err != nil {
		return zero, err
	}
	switch {
	case isValueKind(h.Kind):
		v, err := c.decode(i, h, k)
		if err != nil {
			return zero, err
		}
		out := reflect.New(t).Elem()
		if convertValue(reflect.ValueOf(v), out) {
			return out.Interface().(T), nil
		}
	case wk != nil && k == wk:
		v, err := c.decode(i, h, k)
		if err != nil {
			return zero, err
		}
		return v.(T), nil
	case t == reflect.TypeFor[*os.File]():
		f, err := c.File(i)
		if err != nil {
			return zero, err
		}
		return any(f).(T), nil
	}
	return zero, &HandleError{Index: i, Kind: h.Kind, Want: want, Err: ErrWrongKind}
}

func (c *Child) decode(i int, h handleEntry, k *kindInfo) (any, error) {
	var f *os.File
	if h.FD >= 0 {
		f = c.m.file(h.FD, h.Kind)
	}
	v, err := k.dec(f, h.Meta)
	if err != nil {
		return nil, &HandleError{Index: i, Kind: h.Kind, Want: k.name, Err: err}
	}
	return v, nil
}

// typed returns handle i when its kind is exactly name.
func (c *Child) typed(i int, name string) (any, error) {
	h, k, err := c.entry(i, name)
	if err != nil {
		return nil, err
	}
	if h.Kind != name {
		return nil, &HandleError{Index: i, Kind: h.Kind, Want: name, Err: ErrWrongKind}
	}
	return c.decode(i, h, k)
}

// File returns a duplicate of the descriptor of handle i, whatever its
// kind (a ring's memfd, a Conn's pipe, a file); the caller closes it. The
// descriptor shares its open file description, and so its blocking mode
// and offset, with the parent's: proc never changes either.
func (c *Child) File(i int) (*os.File, error) {
	h, _, err := c.entry(i, "descriptor")
	if err != nil && !errors.Is(err, ErrWrongKind) {
		return nil, err
	}
	if h.FD < 0 {
		return nil, &HandleError{Index: i, Kind: h.Kind, Want: "descriptor", Err: ErrWrongKind}
	}
	f, err := dupFile(c.m.file(h.FD, h.Kind), h.Kind)
	if err != nil {
		return nil, &HandleError{Index: i, Kind: h.Kind, Want: "descriptor", Err: err}
	}
	return f, nil
}

// Value returns plain value i: an int64 (any signed integer passed), a
// uint64 (unsigned), a string, a []byte, a bool or a float64.
func (c *Child) Value(i int) (any, error) {
	h, k, err := c.entry(i, "value")
	if err != nil {
		return nil, err
	}
	if !isValueKind(h.Kind) {
		return nil, &HandleError{Index: i, Kind: h.Kind, Want: "value", Err: ErrWrongKind}
	}
	return c.decode(i, h, k)
}

// Int returns plain value i as an int (a signed or unsigned integer that
// fits).
func (c *Child) Int(i int) (int, error) { return Get[int](c, i) }

// String returns plain value i, a string.
func (c *Child) String(i int) (string, error) { return Get[string](c, i) }

// Bytes returns plain value i, a []byte.
func (c *Child) Bytes(i int) ([]byte, error) { return Get[[]byte](c, i) }

// dupFile duplicates f's descriptor without touching its mode (Fd would
// switch a non-blocking *os.File to blocking).
func dupFile(f *os.File, name string) (*os.File, error) {
	fd, err := dupFD(f)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

func dupFD(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	nfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) {
		nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, os.NewSyscallError("fcntl(F_DUPFD_CLOEXEC)", derr)
	}
	return nfd, nil
}

// ---- plain values ----

const (
	kindInt    = "int"
	kindUint   = "uint"
	kindString = "string"
	kindBytes  = "bytes"
	kindBool   = "bool"
	kindFloat  = "float"
)

func isValueKind(k string) bool {
	switch k {
	case kindInt, kindUint, kindString, kindBytes, kindBool, kindFloat:
		return true
	}
	return false
}

func init() {
	val := func(name string, typ reflect.Type, enc func(v reflect.Value) []byte, dec func(meta []byte) (any, error)) {
		addKind(&kindInfo{name: name, typ: typ,
			enc: func(h any) (*os.File, []byte, error) { return nil, enc(reflect.ValueOf(h)), nil },
			dec: func(_ *os.File, meta []byte) (any, error) { return dec(meta) },
		})
	}
	val(kindInt, reflect.TypeFor[int](), func(v reflect.Value) []byte { return strconv.AppendInt(nil, v.Int(), 10) },
		func(m []byte) (any, error) { return strconv.ParseInt(string(m), 10, 64) })
	val(kindUint, reflect.TypeFor[uint](), func(v reflect.Value) []byte { return strconv.AppendUint(nil, v.Uint(), 10) },
		func(m []byte) (any, error) { return strconv.ParseUint(string(m), 10, 64) })
	val(kindString, reflect.TypeFor[string](), func(v reflect.Value) []byte { return []byte(v.String()) },
		func(m []byte) (any, error) { return string(m), nil })
	val(kindBytes, reflect.TypeFor[[]byte](), func(v reflect.Value) []byte {
		b := v.Bytes()
		if b == nil {
			return nil
		}
		return append([]byte{}, b...)
	}, func(m []byte) (any, error) { return append([]byte{}, m...), nil })
	val(kindBool, reflect.TypeFor[bool](), func(v reflect.Value) []byte { return strconv.AppendBool(nil, v.Bool()) },
		func(m []byte) (any, error) { return strconv.ParseBool(string(m)) })
	val(kindFloat, reflect.TypeFor[float64](), func(v reflect.Value) []byte { return strconv.AppendFloat(nil, v.Float(), 'g', -1, 64) },
		func(m []byte) (any, error) { return strconv.ParseFloat(string(m), 64) })
}

// convertValue stores v in out when it fits without loss.
func convertValue(v, out reflect.Value) bool {
	switch out.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var n int64
		switch v.Kind() {
		case reflect.Int64:
			n = v.Int()
		case reflect.Uint64:
			if v.Uint() > 1<<63-1 {
				return false
			}
			n = int64(v.Uint())
		default:
			return false
		}
		if out.OverflowInt(n) {
			return false
		}
		out.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		var n uint64
		switch v.Kind() {
		case reflect.Uint64:
			n = v.Uint()
		case reflect.Int64:
			if v.Int() < 0 {
				return false
			}
			n = uint64(v.Int())
		default:
			return false
		}
		if out.OverflowUint(n) {
			return false
		}
		out.SetUint(n)
	case reflect.Float32, reflect.Float64:
		if v.Kind() != reflect.Float64 || (out.Kind() == reflect.Float32 && out.OverflowFloat(v.Float())) {
			return false
		}
		out.SetFloat(v.Float())
	case reflect.String:
		if v.Kind() != reflect.String {
			return false
		}
		out.SetString(v.String())
	case reflect.Bool:
		if v.Kind() != reflect.Bool {
			return false
		}
		out.SetBool(v.Bool())
	case reflect.Slice:
		if out.Type().Elem().Kind() != reflect.Uint8 || v.Kind() != reflect.Slice {
			return false
		}
		out.SetBytes(v.Bytes())
	default:
		return false
	}
	return true
}
