package shmheap

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// Hash tables: open addressing with linear probing in one block of cap
// slots (cap a power of two). A table header is four words: the table's
// payload offset, cap, the number of live entries and of tombstones. A
// slot starts with a u64 tag: 0 empty, 1 tombstone, otherwise the key's
// hash with bit 63 set; the rest of the slot is the entry. A lookup
// starts at hash & (cap-1) and stops at an empty slot. Tables are rebuilt
// (into a new block) before an insert would leave fewer than a quarter of
// the slots empty.
const (
	tTab   = 0
	tCap   = 8
	tCount = 16
	tTombs = 24

	tagEmpty = 0
	tagTomb  = 1
	tagFull  = 1 << 63

	minTableCap = 8
)

// hash64 is the hash of names and keys (LAYOUT.md): the bytes taken as
// little-endian 64-bit words (the last one zero-padded), each mixed into
// the state, then a final avalanche.
func hash64(b []byte) uint64 {
	h := uint64(0x9e3779b97f4a7c15) ^ uint64(len(b))
	for len(b) >= 8 {
		h = (h ^ binary.LittleEndian.Uint64(b)) * 0xbf58476d1ce4e5b9
		h ^= h >> 31
		b = b[8:]
	}
	if len(b) > 0 {
		var w uint64
		for i, x := range b {
			w |= uint64(x) << (8 * i)
		}
		h = (h ^ w) * 0xbf58476d1ce4e5b9
		h ^= h >> 31
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

func strBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// table is a validated snapshot of a table header.
type table struct {
	hdr, tab, cap, count, tombs, slot uint64
}

// loadTable reads and validates the table header at hdr for slots of
// slot bytes.
func (c *core) loadTable(hdr, slot uint64) (table, error) {
	t := table{hdr: hdr, slot: slot, tab: c.get64(hdr + tTab), cap: c.get64(hdr + tCap),
		count: c.get64(hdr + tCount), tombs: c.get64(hdr + tTombs)}
	if t.cap < minTableCap || t.cap&(t.cap-1) != 0 || t.cap > (c.arenaEnd-c.arenaOff)/slot {
		return t, errBadTable
	}
	if t.count+t.tombs >= t.cap || t.count > t.cap {
		return t, errBadTable
	}
	n, err := c.payload(t.tab)
	if err != nil {
		return t, err
	}
	if n < t.cap*slot {
		return t, errBadTable
	}
	return t, nil
}

func (t *table) at(i uint64) uint64 { return t.tab + i*t.slot }

// probe walks the slots for hash h: match is called for full slots with
// the right tag and reports whether the slot holds the key. It returns
// the slot holding the key (found), and the slot an insert should use:
// the first tombstone or the empty slot that ended the walk.
func (c *core) probe(t *table, h uint64, match func(s uint64) (bool, error)) (found, ins uint64, ok bool, err error) {
	tag := h | tagFull
	ins = ^uint64(0)
	i := h & (t.cap - 1)
	for n := uint64(0); n < t.cap; n++ {
		s := t.at(i)
		switch g := c.get64(s); g {
		case tagEmpty:
			if ins == ^uint64(0) {
				ins = s
			}
			return 0, ins, false, nil
		case tagTomb:
			if ins == ^uint64(0) {
				ins = s
			}
		case tag:
			m, err := match(s)
			if err != nil {
				return 0, 0, false, err
			}
			if m {
				return s, ins, true, nil
			}
		}
		i = (i + 1) & (t.cap - 1)
	}
	if ins == ^uint64(0) {
		return 0, 0, false, errTableFull
	}
	return 0, ins, false, nil
}

// probeKey is probe for inline keys: the key's bytes at keyOff in the slot.
func (c *core) probeKey(t *table, h uint64, key []byte, keyOff uint64) (found, ins uint64, ok bool, err error) {
	tag := h | tagFull
	ins = ^uint64(0)
	i := h & (t.cap - 1)
	n := uint64(len(key))
	for k := uint64(0); k < t.cap; k++ {
		s := t.at(i)
		switch g := c.get64(s); g {
		case tagEmpty:
			if ins == ^uint64(0) {
				ins = s
			}
			return 0, ins, false, nil
		case tagTomb:
			if ins == ^uint64(0) {
				ins = s
			}
		case tag:
			if string(c.bytes(s+keyOff, n)) == string(key) {
				return s, ins, true, nil
			}
		}
		i = (i + 1) & (t.cap - 1)
	}
	if ins == ^uint64(0) {
		return 0, 0, false, errTableFull
	}
	return 0, ins, false, nil
}

// needGrow reports whether inserting one more entry needs a rebuild, and
// the capacity of the new table.
func (t *table) needGrow() (bool, uint64) {
	if (t.count+t.tombs+1)*4 <= t.cap*3 {
		return false, 0
	}
	nc := t.cap
	if (t.count+1)*2 > t.cap {
		nc = t.cap * 2
	}
	return true, nc
}

// rehash copies every full slot of t into the zeroed table at dst with
// ncap slots.
func (c *core) rehash(t *table, dst, ncap uint64) error {
	if ncap < minTableCap || bits.OnesCount64(ncap) != 1 {
		return errBadTable
	}
	var moved uint64
	for i := uint64(0); i < t.cap; i++ {
		s := t.at(i)
		g := c.get64(s)
		if g == tagEmpty || g == tagTomb {
			continue
		}
		if g&tagFull == 0 {
			return corrupt("hash table slot %d has tag %#x", s, g)
		}
		j := g & (ncap - 1)
		for n := uint64(0); ; n++ {
			if n == ncap {
				return errTableFull
			}
			d := dst + j*t.slot
			if c.get64(d) == tagEmpty {
				copy(c.bytes(d, t.slot), c.bytes(s, t.slot))
				break
			}
			j = (j + 1) & (ncap - 1)
		}
		moved++
	}
	if moved != t.count {
		return corrupt("hash table holds %d entries, its header says %d", moved, t.count)
	}
	return nil
}

// newTable allocates an empty table of cap slots inside the heap
// transaction t and stores it in the header at hdr (heap-owned tables:
// the directory).
func (c *core) newTable(t *tx, hdr, slot, cap uint64) error {
	p, err := c.alloc(t, cap*slot)
	if err != nil {
		return err
	}
	clear(c.bytes(p, cap*slot))
	for i, v := range [4]uint64{p, cap, 0, 0} {
		if err := t.set64(hdr+8*uint64(i), v); err != nil {
			return err
		}
	}
	return nil
}

// growHeapTable rebuilds a heap-owned table inside the heap transaction.
func (c *core) growHeapTable(t *tx, tb *table, ncap uint64) error {
	p, err := c.alloc(t, ncap*tb.slot)
	if err != nil {
		return err
	}
	clear(c.bytes(p, ncap*tb.slot))
	if err := c.rehash(tb, p, ncap); err != nil {
		return err
	}
	old := tb.tab
	for i, v := range [4]uint64{p, ncap, tb.count, 0} {
		if err := t.set64(tb.hdr+8*uint64(i), v); err != nil {
			return err
		}
	}
	if err := c.free(t, old); err != nil {
		return err
	}
	*tb, err = c.loadTable(tb.hdr, tb.slot)
	return err
}

// tabInsert fills the free slot ins (its entry bytes already written) with
// tag for hash h and counts it, logging in t.
func (c *core) tabInsert(t *tx, tb *table, ins, h uint64) error {
	wasTomb := c.get64(ins) == tagTomb
	if (wasTomb && tb.tombs == 0) || tb.count+1 >= tb.cap {
		return errBadTable
	}
	if err := t.set64(ins, h|tagFull); err != nil {
		return err
	}
	if err := t.set64(tb.hdr+tCount, tb.count+1); err != nil {
		return err
	}
	if wasTomb {
		return t.set64(tb.hdr+tTombs, tb.tombs-1)
	}
	return nil
}

// tabDelete turns the full slot s into a tombstone, logging in t.
func (c *core) tabDelete(t *tx, tb *table, s uint64) error {
	if tb.count == 0 {
		return errBadTable
	}
	if err := t.set64(s, tagTomb); err != nil {
		return err
	}
	if err := t.set64(tb.hdr+tCount, tb.count-1); err != nil {
		return err
	}
	return t.set64(tb.hdr+tTombs, tb.tombs+1)
}
