package shmheap

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"os"
	"reflect"
	"sort"
	"sync"
	"unsafe"
)

// Namespace body (LAYOUT.md): pid lock, table header at +64 (slots of
// {tag, attribute block}), container log at +128. An attribute block's
// payload is
//
//	+0  u32 name length   +4 u32 value length
//	+8  u64 codec id (hash64 of the codec's Name)
//	+16 u64 value capacity
//	+24 name, padded to 8, then the value
const (
	nsTab        = 64
	nsLog        = 128
	nsSlot       = 16
	nsInplaceMax = 512
	aNameLen     = 0
	aValLen      = 4
	aCodec       = 8
	aValCap      = 16
	aName        = 24
)

var nsLogCap = align(nsInplaceMax+logEntHdr+24+logEntHdr+16*(logEntHdr+8), 64)

// Codec encodes a Namespace's attribute values.
type Codec interface {
	// Name identifies the encoding; it is stored (hashed) with each value,
	// and Get refuses a value stored by another codec.
	Name() string
	// Append appends the encoding of v to dst.
	Append(dst []byte, v any) ([]byte, error)
	// Decode decodes data into the value ptr points to.
	Decode(data []byte, ptr any) error
}

// Gob is the default Codec: encoding/gob, one self-describing stream per
// value, so any gob-encodable value of any size can be stored and read by
// any process. Register interface types with gob.Register as usual.
var Gob Codec = gobCodec{}

// Raw is a Codec for fixed-size, pointer-free values (Value's rules): the
// value's bytes, preceded by its type's layout fingerprint, so that Get
// into another type fails with ErrTypeMismatch. It is much faster than Gob.
var Raw Codec = rawCodec{}

type gobCodec struct{}

func (gobCodec) Name() string { return "gob" }

func (gobCodec) Append(dst []byte, v any) ([]byte, error) {
	b := bytes.NewBuffer(dst)
	if err := gob.NewEncoder(b).Encode(v); err != nil {
		return dst, err
	}
	return b.Bytes(), nil
}

func (gobCodec) Decode(data []byte, ptr any) error {
	return gob.NewDecoder(bytes.NewReader(data)).Decode(ptr)
}

type rawCodec struct{}

func (rawCodec) Name() string { return "raw" }

// typeCache holds checkType's answers by type, for the Raw codec.
var typeCache sync.Map // reflect.Type → typeInfo or error

func cachedType(t reflect.Type) (typeInfo, error) {
	if v, ok := typeCache.Load(t); ok {
		if err, bad := v.(error); bad {
			return typeInfo{}, err
		}
		return v.(typeInfo), nil
	}
	ti, err := checkType(t)
	if err != nil {
		typeCache.Store(t, err)
		return ti, err
	}
	typeCache.Store(t, ti)
	return ti, nil
}

// efaceData returns the data pointer of an interface value. For the
// pointer-free types Raw accepts, it points to the value.
func efaceData(v any) unsafe.Pointer { return (*[2]unsafe.Pointer)(unsafe.Pointer(&v))[1] }

func (rawCodec) Append(dst []byte, v any) ([]byte, error) {
	t := reflect.TypeOf(v)
	if t == nil {
		return dst, fmt.Errorf("%w: nil", ErrUnsupportedType)
	}
	p := efaceData(v)
	if t.Kind() == reflect.Pointer {
		if p == nil {
			return dst, fmt.Errorf("%w: nil %v", ErrUnsupportedType, t)
		}
		t = t.Elem()
	}
	ti, err := cachedType(t)
	if err != nil {
		return dst, err
	}
	dst = binary.LittleEndian.AppendUint64(dst, ti.fp)
	return append(dst, unsafe.Slice((*byte)(p), ti.size)...), nil
}

func (rawCodec) Decode(data []byte, ptr any) error {
	t := reflect.TypeOf(ptr)
	if t == nil || t.Kind() != reflect.Pointer || efaceData(ptr) == nil {
		return fmt.Errorf("shmheap: Raw.Decode needs a non-nil pointer, not %T", ptr)
	}
	ti, err := cachedType(t.Elem())
	if err != nil {
		return err
	}
	if uint64(len(data)) != 8+ti.size || binary.LittleEndian.Uint64(data) != ti.fp {
		return fmt.Errorf("%w: the raw value does not hold a %v", ErrTypeMismatch, ti.t)
	}
	copy(unsafe.Slice((*byte)(efaceData(ptr)), ti.size), data[8:])
	return nil
}

// decodeInPlace marks codecs that copy out of data and keep nothing of
// it: Get lets them decode straight from shared memory, under the lock.
func (rawCodec) decodeInPlace() {}

type inPlace interface{ decodeInPlace() }

// encBufs recycles Set's encoding buffers.
var encBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// NamespaceOptions are the settings of a Namespace handle; nil means the
// defaults.
type NamespaceOptions struct {
	// Codec encodes values; default Gob. Every process must use the same
	// codec for an attribute.
	Codec Codec
}

// Namespace is a named set of attributes in a heap, each a name and a
// value of any size: the Namespace of Python's multiprocessing Manager.
// Values are encoded by the handle's Codec (Gob by default, Raw for
// fixed-size values). Set, Get and Delete from many processes take the
// namespace's lock; Set and Delete are crash-atomic: a process killed
// during one leaves the attribute's old or new value, and no memory
// leaked. A value replaced by one of no more than its size (and at most
// 512 bytes) is rewritten in place; otherwise it moves to a new block
// from the heap (ErrNoSpace, with the namespace unchanged, when there is
// none).
type Namespace struct {
	o     *object
	codec Codec
	cid   uint64
}

func nsSpec() *spec {
	return &spec{kind: kindNamespace, fp: hash64([]byte("namespace")), elem: nsSlot, bodyLen: nsLog + logHdrSize + nsLogCap}
}

func openNamespace(h *Heap, name string, o *NamespaceOptions, mode int) (*Namespace, error) {
	c, err := h.core()
	if err != nil {
		return nil, err
	}
	codec := Gob
	if o != nil && o.Codec != nil {
		codec = o.Codec
	}
	sp := nsSpec()
	sp.init = func(t *tx, body uint64) error { return c.newTable(t, body+nsTab, nsSlot, minTableCap) }
	obj, err := h.openObject(name, sp, mode)
	if err != nil {
		return nil, err
	}
	return &Namespace{o: obj, codec: codec, cid: hash64([]byte(codec.Name()))}, nil
}

// CreateNamespace creates the empty Namespace name.
func CreateNamespace(h *Heap, name string, o *NamespaceOptions) (*Namespace, error) {
	return openNamespace(h, name, o, modeCreate)
}

// OpenNamespace opens the Namespace name.
func OpenNamespace(h *Heap, name string, o *NamespaceOptions) (*Namespace, error) {
	return openNamespace(h, name, o, modeOpen)
}

// OpenOrCreateNamespace opens the Namespace name or creates it empty.
func OpenOrCreateNamespace(h *Heap, name string, o *NamespaceOptions) (*Namespace, error) {
	return openNamespace(h, name, o, modeEither)
}

// Name returns the object's name.
func (ns *Namespace) Name() string { return ns.o.name }

// Close releases the handle; it is idempotent.
func (ns *Namespace) Close() error { return ns.o.close() }

func (ns *Namespace) guarded(fn func(c *core, body uint64) error) error {
	if err := ns.o.check(); err != nil {
		return err
	}
	c := ns.o.c
	return c.run(func() error {
		body := ns.o.body
		if err := c.lockCtr(body, body+nsLog, nsLogCap); err != nil {
			return err
		}
		defer pidUnlock(&c.mem, body)
		return fn(c, body)
	})
}

// attr validates the attribute block at p and returns its name, value
// offset, value length and capacity.
func (c *core) attr(p uint64) (name []byte, val, vlen, vcap uint64, err error) {
	n, err := c.payload(p)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	nl, vl, vc := uint64(c.get32(p+aNameLen)), uint64(c.get32(p+aValLen)), c.get64(p+aValCap)
	if n < aName || nl == 0 || nl > MaxNameLen || align(nl, 8) > n-aName || vc > n-aName-align(nl, 8) || vl > vc {
		return nil, 0, 0, 0, corrupt("namespace attribute at %d: bad lengths", p)
	}
	return c.bytes(p+aName, nl), p + aName + align(nl, 8), vl, vc, nil
}

func (c *core) nsFind(tb *table, name string) (s, ins uint64, ok bool, err error) {
	return c.probe(tb, hash64(strBytes(name)), func(s uint64) (bool, error) {
		nm, _, _, _, err := c.attr(c.get64(s + 8))
		return err == nil && string(nm) == name, err
	})
}

// fillAttr writes a new attribute block (not yet referenced).
func (c *core) fillAttr(p uint64, name string, cid uint64, val []byte) error {
	n, err := c.payload(p)
	if err != nil {
		return err
	}
	nl := uint64(len(name))
	*c.u32(p + aNameLen) = uint32(nl)
	*c.u32(p + aValLen) = uint32(len(val))
	c.put64(p+aCodec, cid)
	c.put64(p+aValCap, n-aName-align(nl, 8))
	copy(c.bytes(p+aName, nl), name)
	copy(c.bytes(p+aName+align(nl, 8), uint64(len(val))), val)
	return nil
}

// Set sets attribute name to v, encoded by the handle's codec.
func (ns *Namespace) Set(name string, v any) error {
	if err := checkName(name); err != nil {
		return err
	}
	bp := encBufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 64<<10 {
			encBufs.Put(bp)
		}
	}()
	enc, err := ns.codec.Append((*bp)[:0], v)
	if err != nil {
		return err
	}
	*bp = enc
	if uint64(len(enc)) >= 1<<32 {
		return fmt.Errorf("shmheap: value of %d bytes is too large", len(enc))
	}
	return ns.guarded(func(c *core, body uint64) error {
		tb, err := c.loadCtrTable(body+nsTab, nsSlot)
		if err != nil {
			return err
		}
		s, ins, found, err := c.nsFind(&tb, name)
		if err != nil {
			return err
		}
		logOff := body + nsLog
		need := aName + align(uint64(len(name)), 8) + uint64(len(enc))
		if found {
			p := c.get64(s + 8)
			_, val, vlen, vcap, err := c.attr(p)
			if err != nil {
				return err
			}
			if uint64(len(enc)) <= vcap && len(enc) <= nsInplaceMax && vlen <= nsInplaceMax {
				t := c.ctrBegin(logOff, nsLogCap)
				if err := t.save(p, aName); err != nil {
					return c.ctrAbort(&t, err)
				}
				if err := t.save(val, align(uint64(len(enc)), 8)); err != nil {
					return c.ctrAbort(&t, err)
				}
				*c.u32(p + aValLen) = uint32(len(enc))
				c.put64(p+aCodec, ns.cid)
				copy(c.bytes(val, uint64(len(enc))), enc)
				return c.ctrCommit(&t)
			}
			t := c.ctrBegin(logOff, nsLogCap)
			np, err := c.allocInto(need, logOff+lPendAlloc)
			if err != nil {
				return c.ctrAbort(&t, err)
			}
			if err := c.fillAttr(np, name, ns.cid, enc); err != nil {
				return c.ctrAbort(&t, err)
			}
			if err := t.set64(s+8, np); err != nil {
				return c.ctrAbort(&t, err)
			}
			c.put64(logOff+lPendFree, p)
			return c.ctrCommit(&t)
		}
		if grow, ncap := tb.needGrow(); grow {
			if err := c.growCtrTable(logOff, nsLogCap, &tb, ncap); err != nil {
				return err
			}
			if _, ins, _, err = c.nsFind(&tb, name); err != nil {
				return err
			}
		}
		t := c.ctrBegin(logOff, nsLogCap)
		np, err := c.allocInto(need, logOff+lPendAlloc)
		if err != nil {
			return c.ctrAbort(&t, err)
		}
		if err := c.fillAttr(np, name, ns.cid, enc); err != nil {
			return c.ctrAbort(&t, err)
		}
		c.put64(ins+8, np)
		if err := c.tabInsert(&t, &tb, ins, hash64(strBytes(name))); err != nil {
			return c.ctrAbort(&t, err)
		}
		return c.ctrCommit(&t)
	})
}

// Get decodes attribute name into the value ptr points to. It fails with
// an error matching os.ErrNotExist if there is no such attribute, and
// with ErrTypeMismatch if another codec stored it.
func (ns *Namespace) Get(name string, ptr any) error {
	var data []byte
	_, direct := ns.codec.(inPlace)
	var derr error
	err := ns.guarded(func(c *core, body uint64) error {
		tb, err := c.loadCtrTable(body+nsTab, nsSlot)
		if err != nil {
			return err
		}
		s, _, found, err := c.nsFind(&tb, name)
		if err != nil {
			return err
		}
		if !found {
			return &os.PathError{Op: "get", Path: name, Err: os.ErrNotExist}
		}
		p := c.get64(s + 8)
		_, val, vlen, _, err := c.attr(p)
		if err != nil {
			return err
		}
		if c.get64(p+aCodec) != ns.cid {
			return fmt.Errorf("%w: attribute %q was stored by another codec than %s", ErrTypeMismatch, name, ns.codec.Name())
		}
		if direct {
			derr = ns.codec.Decode(c.bytes(val, vlen), ptr)
			return nil
		}
		data = append([]byte(nil), c.bytes(val, vlen)...)
		return nil
	})
	if err != nil || direct {
		if err == nil {
			err = derr
		}
		return err
	}
	return ns.codec.Decode(data, ptr)
}

// Delete removes attribute name; it fails with an error matching
// os.ErrNotExist if there is none.
func (ns *Namespace) Delete(name string) error {
	return ns.guarded(func(c *core, body uint64) error {
		tb, err := c.loadCtrTable(body+nsTab, nsSlot)
		if err != nil {
			return err
		}
		s, _, found, err := c.nsFind(&tb, name)
		if err != nil {
			return err
		}
		if !found {
			return &os.PathError{Op: "delete", Path: name, Err: os.ErrNotExist}
		}
		t := c.ctrBegin(body+nsLog, nsLogCap)
		if err := c.tabDelete(&t, &tb, s); err != nil {
			return c.ctrAbort(&t, err)
		}
		c.put64(body+nsLog+lPendFree, c.get64(s+8))
		return c.ctrCommit(&t)
	})
}

// Names returns the attribute names, sorted.
func (ns *Namespace) Names() ([]string, error) {
	var out []string
	err := ns.guarded(func(c *core, body uint64) error {
		tb, err := c.loadCtrTable(body+nsTab, nsSlot)
		if err != nil {
			return err
		}
		for i := uint64(0); i < tb.cap; i++ {
			s := tb.at(i)
			if c.get64(s)&tagFull == 0 {
				continue
			}
			nm, _, _, _, err := c.attr(c.get64(s + 8))
			if err != nil {
				return err
			}
			out = append(out, string(nm))
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}
