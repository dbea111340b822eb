package shmheap

import (
	"fmt"
	"iter"
	"unsafe"
)

// Map body (LAYOUT.md):
//
//	+0    pid lock (64 bytes)
//	+64   table header: table, cap, count, tombs
//	+128  container log (32-byte header, then entries)
//
// Slots: u64 tag, the key (padded to 8), the value (padded to 8).
const (
	mTab = 64
	mLog = 128
)

func mapLogCap(v uint64) uint64 { return align(align(v, 8)+logEntHdr+16*(logEntHdr+8), 64) }

func mapSlot(k, v uint64) uint64 { return 8 + align(k, 8) + align(v, 8) }

// Map is a named hash map from K to V in a heap, with fixed-size keys and
// values (Value's rules for both; K must also have no padding bytes,
// since keys are compared byte for byte, as C's memcmp would). Every
// method takes the map's lock, and every change is crash-atomic: a
// process killed during Put or Delete leaves the map with or without the
// change, never half of it. The table doubles (a new block from the heap)
// before it would be three quarters full; ErrNoSpace, with the map
// unchanged, when the heap cannot give it.
type Map[K comparable, V any] struct {
	o      *object
	ks, vs uint64
	slot   uint64
	logCap uint64
}

func mapSpec(kt, vt typeInfo) *spec {
	lc := mapLogCap(vt.size)
	fp := hash64(append(append([]byte{}, u64bytes(kt.fp)...), u64bytes(vt.fp)...))
	return &spec{kind: kindMap, fp: fp, elem: kt.size, elem2: vt.size, align: kt.align, bodyLen: mLog + logHdrSize + lc}
}

func u64bytes(x uint64) []byte {
	b := make([]byte, 8)
	for i := range b {
		b[i] = byte(x >> (8 * i))
	}
	return b
}

func openMap[K comparable, V any](h *Heap, name string, mode int) (*Map[K, V], error) {
	kt, err := typeOf[K]()
	if err != nil {
		return nil, err
	}
	if kt.padding {
		return nil, fmt.Errorf("%w: key type %v has padding bytes; keys are compared byte for byte", ErrUnsupportedType, kt.t)
	}
	vt, err := typeOf[V]()
	if err != nil {
		return nil, err
	}
	c, err := h.core()
	if err != nil {
		return nil, err
	}
	sp := mapSpec(kt, vt)
	sl := mapSlot(kt.size, vt.size)
	sp.init = func(t *tx, body uint64) error { return c.newTable(t, body+mTab, sl, minTableCap) }
	o, err := h.openObject(name, sp, mode)
	if err != nil {
		return nil, err
	}
	return &Map[K, V]{o: o, ks: kt.size, vs: vt.size, slot: sl, logCap: mapLogCap(vt.size)}, nil
}

// CreateMap creates the empty Map name.
func CreateMap[K comparable, V any](h *Heap, name string) (*Map[K, V], error) {
	return openMap[K, V](h, name, modeCreate)
}

// OpenMap opens the Map name.
func OpenMap[K comparable, V any](h *Heap, name string) (*Map[K, V], error) {
	return openMap[K, V](h, name, modeOpen)
}

// OpenOrCreateMap opens the Map name or creates it empty.
func OpenOrCreateMap[K comparable, V any](h *Heap, name string) (*Map[K, V], error) {
	return openMap[K, V](h, name, modeEither)
}

// Name returns the object's name.
func (m *Map[K, V]) Name() string { return m.o.name }

// Close releases the handle; it is idempotent.
func (m *Map[K, V]) Close() error { return m.o.close() }

func (m *Map[K, V]) guarded(fn func(c *core, body uint64) error) error {
	if err := m.o.check(); err != nil {
		return err
	}
	c := m.o.c
	if !c.trunc {
		return m.locked(fn)
	}
	return c.mp.Guard(func() error { return m.locked(fn) })
}

func (m *Map[K, V]) locked(fn func(c *core, body uint64) error) error {
	c, body := m.o.c, m.o.body
	if err := c.lockCtr(body, body+mLog, m.logCap); err != nil {
		return err
	}
	defer pidUnlock(&c.mem, body)
	return fn(c, body)
}

// lockCtr takes a container's lock and brings its log back to idle.
func (c *core) lockCtr(body, logOff, cap uint64) error {
	dead := pidLock(&c.mem, body)
	if dead || c.load32(logOff+lState) != 0 {
		noteRepair()
		if err := c.ctrRecover(logOff, cap); err != nil {
			pidUnlock(&c.mem, body)
			return err
		}
	}
	return nil
}

// loadCtrTable is loadTable with a cheap bounds check of the table block
// instead of a walk of its header (hot path); Check validates fully.
func (c *core) loadCtrTable(hdr, slot uint64) (table, error) {
	t := table{hdr: hdr, slot: slot, tab: c.get64(hdr + tTab), cap: c.get64(hdr + tCap),
		count: c.get64(hdr + tCount), tombs: c.get64(hdr + tTombs)}
	if t.cap < minTableCap || t.cap&(t.cap-1) != 0 || t.cap > (c.arenaEnd-c.arenaOff)/slot ||
		t.count+t.tombs >= t.cap || t.count > t.cap {
		return t, errBadTable
	}
	if t.tab < c.arenaOff+blockHead || t.tab > c.arenaEnd || t.cap*slot > c.arenaEnd-t.tab {
		return t, errBadTable
	}
	return t, nil
}

func keyBytes[K any](k *K, n uint64) []byte { return unsafe.Slice((*byte)(unsafe.Pointer(k)), n) }

// Get returns the value of k and whether k is present.
func (m *Map[K, V]) Get(k K) (V, bool, error) {
	var v V
	var ok bool
	err := m.guarded(func(c *core, body uint64) error {
		tb, err := c.loadCtrTable(body+mTab, m.slot)
		if err != nil {
			return err
		}
		key := keyBytes(&k, m.ks)
		s, _, found, err := c.probeKey(&tb, hash64(key), key, 8)
		if err != nil || !found {
			return err
		}
		v = *(*V)(c.ptr(s + 8 + align(m.ks, 8)))
		ok = true
		return nil
	})
	return v, ok, err
}

// Put sets the value of k.
func (m *Map[K, V]) Put(k K, v V) error {
	return m.guarded(func(c *core, body uint64) error {
		tb, err := c.loadCtrTable(body+mTab, m.slot)
		if err != nil {
			return err
		}
		key := keyBytes(&k, m.ks)
		h := hash64(key)
		s, ins, found, err := c.probeKey(&tb, h, key, 8)
		if err != nil {
			return err
		}
		voff := 8 + align(m.ks, 8)
		if found {
			t := c.ctrBegin(body+mLog, m.logCap)
			if err := t.save(s+voff, m.vs); err != nil {
				return c.ctrAbort(&t, err)
			}
			*(*V)(c.ptr(s + voff)) = v
			return c.ctrCommit(&t)
		}
		if grow, ncap := tb.needGrow(); grow {
			if err := c.growCtrTable(body+mLog, m.logCap, &tb, ncap); err != nil {
				return err
			}
			if _, ins, _, err = c.probeKey(&tb, h, key, 8); err != nil {
				return err
			}
		}
		t := c.ctrBegin(body+mLog, m.logCap)
		copy(c.bytes(ins+8, m.ks), key)
		*(*V)(c.ptr(ins + voff)) = v
		if err := c.tabInsert(&t, &tb, ins, h); err != nil {
			return c.ctrAbort(&t, err)
		}
		return c.ctrCommit(&t)
	})
}

// Delete removes k and reports whether it was present.
func (m *Map[K, V]) Delete(k K) (bool, error) {
	var ok bool
	err := m.guarded(func(c *core, body uint64) error {
		tb, err := c.loadCtrTable(body+mTab, m.slot)
		if err != nil {
			return err
		}
		key := keyBytes(&k, m.ks)
		s, _, found, err := c.probeKey(&tb, hash64(key), key, 8)
		if err != nil || !found {
			return err
		}
		t := c.ctrBegin(body+mLog, m.logCap)
		if err := c.tabDelete(&t, &tb, s); err != nil {
			return c.ctrAbort(&t, err)
		}
		ok = true
		return c.ctrCommit(&t)
	})
	return ok, err
}

// Len returns the number of entries.
func (m *Map[K, V]) Len() (int, error) {
	var n uint64
	err := m.guarded(func(c *core, body uint64) error {
		tb, err := c.loadCtrTable(body+mTab, m.slot)
		n = tb.count
		return err
	})
	return int(n), err
}

// Snapshot returns a copy of the map, taken under the lock.
func (m *Map[K, V]) Snapshot() (map[K]V, error) {
	out := map[K]V{}
	err := m.guarded(func(c *core, body uint64) error {
		tb, err := c.loadCtrTable(body+mTab, m.slot)
		if err != nil {
			return err
		}
		voff := 8 + align(m.ks, 8)
		for i := uint64(0); i < tb.cap; i++ {
			s := tb.at(i)
			if c.get64(s)&tagFull != 0 {
				out[*(*K)(c.ptr(s + 8))] = *(*V)(c.ptr(s + voff))
			}
		}
		return nil
	})
	return out, err
}

// All iterates over a Snapshot; it yields nothing if the snapshot fails.
func (m *Map[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		snap, _ := m.Snapshot()
		for k, v := range snap {
			if !yield(k, v) {
				return
			}
		}
	}
}

// growCtrTable rebuilds a container's table into a new block of ncap
// slots, in a container transaction of its own (lock held).
func (c *core) growCtrTable(logOff, logCap uint64, tb *table, ncap uint64) error {
	if ncap > (c.arenaEnd-c.arenaOff)/tb.slot {
		return ErrNoSpace
	}
	t := c.ctrBegin(logOff, logCap)
	p, err := c.allocInto(ncap*tb.slot, logOff+lPendAlloc)
	if err != nil {
		return c.ctrAbort(&t, err)
	}
	clear(c.bytes(p, ncap*tb.slot))
	if err := c.rehash(tb, p, ncap); err != nil {
		return c.ctrAbort(&t, err)
	}
	old := tb.tab
	for i, v := range [4]uint64{p, ncap, tb.count, 0} {
		if err := t.set64(tb.hdr+8*uint64(i), v); err != nil {
			return c.ctrAbort(&t, err)
		}
	}
	c.put64(logOff+lPendFree, old)
	if err := c.ctrCommit(&t); err != nil {
		return err
	}
	*tb, err = c.loadCtrTable(tb.hdr, tb.slot)
	return err
}
