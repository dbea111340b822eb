package shmheap

import "math/bits"

// The allocator: boundary-tagged blocks in the arena [arenaOff, arenaEnd),
// free blocks on 64 doubly linked lists binned by floor(log2(size)), a
// bitmap of non-empty bins, and coalescing on free. Every block is
//
//	+0        u64 size|flags (flagAlloc = 1), size a multiple of 16, >= 48
//	+8        u64 ^(size|flags)
//	+16       payload (16-aligned); in a free block: u64 next, u64 prev
//	size-8    u64 size|flags (footer)
//
// Offsets are heap offsets (of a block's header in the lists, of a
// payload everywhere else); 0 means none. All writes go through the
// heap's transaction, so a process killed inside alloc or free leaves an
// undo log the next locker replays.

// block validates the block at b and returns its size and state.
func (h *core) block(b uint64) (size uint64, allocated bool, err error) {
	if b < h.arenaOff || b%blockAlign != 0 || b > h.arenaEnd-minBlock {
		return 0, false, corrupt("block offset %d outside the arena [%d, %d)", b, h.arenaOff, h.arenaEnd)
	}
	w := h.get64(b)
	if h.get64(b+8) != ^w {
		return 0, false, corrupt("block at %d: header check word mismatch", b)
	}
	size = w &^ flagMask
	if w&flagMask&^flagAlloc != 0 || size < minBlock || size%blockAlign != 0 || size > h.arenaEnd-b {
		return 0, false, corrupt("block at %d: bad size %d", b, size)
	}
	if h.get64(b+size-blockFoot) != w {
		return 0, false, corrupt("block at %d: footer does not match header", b)
	}
	return size, w&flagAlloc != 0, nil
}

// freeBlock validates a free-list entry: a free block in bin k (k < 0:
// any bin).
func (h *core) freeBlock(b uint64, k int) (uint64, error) {
	size, a, err := h.block(b)
	if err != nil {
		return 0, err
	}
	if a || (k >= 0 && binOf(size) != k) {
		return 0, corrupt("free list entry %d is not a free block of bin %d", b, k)
	}
	return size, nil
}

func (h *core) setHdr(t *tx, b, size, flags uint64) error {
	w := size | flags
	if err := t.set64(b, w); err != nil {
		return err
	}
	if err := t.set64(b+8, ^w); err != nil {
		return err
	}
	return t.set64(b+size-blockFoot, w)
}

func (h *core) unlink(t *tx, b, size uint64) error {
	k := binOf(size)
	next, prev := h.get64(b+16), h.get64(b+24)
	if next != 0 {
		if _, err := h.freeBlock(next, k); err != nil {
			return err
		}
		if h.get64(next+24) != b {
			return corrupt("free list: block %d's successor does not point back", b)
		}
	}
	if prev == 0 {
		if h.get64(hBins+8*uint64(k)) != b {
			return corrupt("free list: block %d has no predecessor but is not bin %d's head", b, k)
		}
		if err := t.set64(hBins+8*uint64(k), next); err != nil {
			return err
		}
		if next == 0 {
			if err := t.set64(hBinMap, h.get64(hBinMap)&^(1<<k)); err != nil {
				return err
			}
		}
	} else {
		if _, err := h.freeBlock(prev, k); err != nil {
			return err
		}
		if h.get64(prev+16) != b {
			return corrupt("free list: block %d's predecessor does not point to it", b)
		}
		if err := t.set64(prev+16, next); err != nil {
			return err
		}
	}
	if next != 0 {
		return t.set64(next+24, prev)
	}
	return nil
}

func (h *core) insert(t *tx, b, size uint64) error {
	k := binOf(size)
	head := h.get64(hBins + 8*uint64(k))
	if head != 0 {
		if _, err := h.freeBlock(head, k); err != nil {
			return err
		}
	}
	if err := t.set64(b+16, head); err != nil {
		return err
	}
	if err := t.set64(b+24, 0); err != nil {
		return err
	}
	if head != 0 {
		if err := t.set64(head+24, b); err != nil {
			return err
		}
	}
	if err := t.set64(hBins+8*uint64(k), b); err != nil {
		return err
	}
	return t.set64(hBinMap, h.get64(hBinMap)|1<<k)
}

// blockFor returns the block size that holds n payload bytes.
func (h *core) blockFor(n uint64) (uint64, bool) {
	if n > h.arenaEnd-h.arenaOff {
		return 0, false
	}
	s := align(n+blockOver, blockAlign)
	if s < minBlock {
		s = minBlock
	}
	return s, true
}

// alloc allocates a block of at least n payload bytes inside t and returns
// the payload's offset (16-aligned). It fails with ErrNoSpace before
// changing anything when no free block is large enough. The payload is
// not cleared.
func (h *core) alloc(t *tx, n uint64) (uint64, error) {
	s, ok := h.blockFor(n)
	if !ok {
		return 0, ErrNoSpace
	}
	k := binOf(s)
	var b, bs uint64
	cur := h.get64(hBins + 8*uint64(k))
	for steps := 0; cur != 0 && steps < 32; steps++ {
		size, err := h.freeBlock(cur, k)
		if err != nil {
			return 0, err
		}
		if size >= s {
			b, bs = cur, size
			break
		}
		cur = h.get64(cur + 16)
	}
	if b == 0 {
		var above uint64
		if k < 63 {
			above = h.get64(hBinMap) &^ (1<<(k+1) - 1)
		}
		if above == 0 {
			return 0, ErrNoSpace
		}
		j := bits.TrailingZeros64(above)
		b = h.get64(hBins + 8*uint64(j))
		size, err := h.freeBlock(b, j)
		if err != nil {
			return 0, err
		}
		if size < s {
			return 0, corrupt("free block %d of %d bytes in bin %d", b, size, j)
		}
		bs = size
	}
	if err := h.unlink(t, b, bs); err != nil {
		return 0, err
	}
	// The caller fills the payload without logging (nothing refers to it
	// until the transaction commits); the free block's links at its start
	// are all a rollback needs back.
	if err := t.save(b+blockHead, 16); err != nil {
		return 0, err
	}
	if bs-s >= minBlock {
		r, rs := b+s, bs-s
		if err := h.setHdr(t, r, rs, 0); err != nil {
			return 0, err
		}
		if err := h.insert(t, r, rs); err != nil {
			return 0, err
		}
		bs = s
	}
	if err := h.setHdr(t, b, bs, flagAlloc); err != nil {
		return 0, err
	}
	if err := t.set64(hUsed, h.get64(hUsed)+bs); err != nil {
		return 0, err
	}
	if err := t.set64(hNAlloc, h.get64(hNAlloc)+1); err != nil {
		return 0, err
	}
	return b + blockHead, nil
}

// maxBlocks bounds the number of blocks the arena can hold, and so every
// walk of a list of blocks.
func (h *core) maxBlocks() uint64 { return (h.arenaEnd - h.arenaOff) / minBlock }

// payload validates p as the payload of an allocated block and returns
// the payload's usable length.
func (h *core) payload(p uint64) (uint64, error) {
	if p < h.arenaOff+blockHead {
		return 0, corrupt("payload offset %d outside the arena", p)
	}
	size, a, err := h.block(p - blockHead)
	if err != nil {
		return 0, err
	}
	if !a {
		return 0, corrupt("offset %d names a free block", p)
	}
	return size - blockOver, nil
}

// free returns the block whose payload is at p to the free lists,
// coalescing it with free neighbours.
func (h *core) free(t *tx, p uint64) error {
	if _, err := h.payload(p); err != nil {
		return err
	}
	b := p - blockHead
	size, _, _ := h.block(b)
	orig := size
	if n := b + size; n < h.arenaEnd {
		ns, na, err := h.block(n)
		if err != nil {
			return err
		}
		if !na {
			if err := h.unlink(t, n, ns); err != nil {
				return err
			}
			size += ns
		}
	}
	if b > h.arenaOff {
		fw := h.get64(b - blockFoot)
		if fw&flagAlloc == 0 {
			ps := fw &^ flagMask
			if ps < minBlock || ps > b-h.arenaOff {
				return corrupt("block before %d has bad size %d", b, ps)
			}
			pb := b - ps
			if _, err := h.freeBlock(pb, binOf(ps)); err != nil {
				return err
			}
			if s, _, _ := h.block(pb); s != ps {
				return corrupt("block at %d: footer and header disagree", pb)
			}
			if err := h.unlink(t, pb, ps); err != nil {
				return err
			}
			b = pb
			size += ps
		}
	}
	if err := h.setHdr(t, b, size, 0); err != nil {
		return err
	}
	if err := h.insert(t, b, size); err != nil {
		return err
	}
	used, n := h.get64(hUsed), h.get64(hNAlloc)
	if used < orig || n == 0 {
		return corrupt("heap counters: %d bytes in %d blocks, freeing %d", used, n, orig)
	}
	if err := t.set64(hUsed, used-orig); err != nil {
		return err
	}
	return t.set64(hNAlloc, n-1)
}

// largestFree returns the payload size of the largest free block.
func (h *core) largestFree() (uint64, error) {
	bm := h.get64(hBinMap)
	if bm == 0 {
		return 0, nil
	}
	k := 63 - bits.LeadingZeros64(bm)
	var best uint64
	limit := (h.arenaEnd - h.arenaOff) / minBlock
	cur := h.get64(hBins + 8*uint64(k))
	for steps := uint64(0); cur != 0; steps++ {
		if steps > limit {
			return 0, corrupt("free list of bin %d does not end", k)
		}
		size, err := h.freeBlock(cur, k)
		if err != nil {
			return 0, err
		}
		if size > best {
			best = size
		}
		cur = h.get64(cur + 16)
	}
	if best < blockOver {
		return 0, nil
	}
	return best - blockOver, nil
}

// checkArena walks every block and every free list: sizes, check words,
// footers, no two free neighbours, each free block on exactly the list
// of its bin, the bitmap and the counters. It returns the allocated
// blocks' payload offsets.
func (h *core) checkArena() (map[uint64]uint64, error) {
	allocated := map[uint64]uint64{}
	var used, nfree uint64
	prevFree := false
	b := h.arenaOff
	for b < h.arenaEnd {
		if h.arenaEnd-b < minBlock {
			break
		}
		size, a, err := h.block(b)
		if err != nil {
			return nil, err
		}
		if a {
			allocated[b+blockHead] = size - blockOver
			used += size
			prevFree = false
		} else {
			if prevFree {
				return nil, corrupt("free blocks not coalesced at %d", b)
			}
			nfree++
			prevFree = true
		}
		b += size
	}
	if b+minBlock <= h.arenaEnd {
		return nil, corrupt("arena walk ended at %d before %d", b, h.arenaEnd)
	}
	if used != h.get64(hUsed) || uint64(len(allocated)) != h.get64(hNAlloc) {
		return nil, corrupt("counters say %d bytes in %d blocks; the arena holds %d bytes in %d", h.get64(hUsed), h.get64(hNAlloc), used, len(allocated))
	}
	bm := h.get64(hBinMap)
	var listed uint64
	for k := 0; k < nBins; k++ {
		head := h.get64(hBins + 8*uint64(k))
		if (head != 0) != (bm&(1<<k) != 0) {
			return nil, corrupt("bin bitmap disagrees with bin %d", k)
		}
		prev := uint64(0)
		for cur := head; cur != 0; cur = h.get64(cur + 16) {
			if _, err := h.freeBlock(cur, k); err != nil {
				return nil, err
			}
			if h.get64(cur+24) != prev {
				return nil, corrupt("free list of bin %d: bad back link at %d", k, cur)
			}
			listed++
			if listed > nfree {
				return nil, corrupt("free lists hold more entries than the %d free blocks", nfree)
			}
			prev = cur
		}
	}
	if listed != nfree {
		return nil, corrupt("free lists hold %d of the %d free blocks", listed, nfree)
	}
	return allocated, nil
}
