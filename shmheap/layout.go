package shmheap

import (
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// The heap's bytes, as LAYOUT.md specifies them. Every integer is in the
// host's byte order; every field is naturally aligned; 64-bit fields are
// at multiples of 8. The only fields updated with atomic instructions are
// 32 bits wide (lock words, log and redo states), so the protocol needs
// no 64-bit atomics, which 32-bit MIPS and ARMv5/6 only emulate inside
// one process.
const (
	heapMagic   = 0x504145484b435049 // "IPCKHEAP" in little-endian
	heapVersion = 1

	// Header fields.
	hMagic      = 0
	hVersion    = 8
	hHeaderSize = 12
	hSize       = 16
	hLockKind   = 24
	hFlags      = 28
	hMaxProcs   = 32
	hLogCap     = 36
	hArenaOff   = 40
	hArenaEnd   = 48
	hCreatorPID = 56
	hDirTable   = 64 // four words: table, cap, count, tombs
	hDirCap     = 72
	hDirCount   = 80
	hDirTombs   = 88
	hGraveyard  = 96
	hUsed       = 104
	hNAlloc     = 112
	hNextID     = 120
	hBinMap     = 128
	hBins       = 136 // 64 words
	nBins       = 64

	hLock    = 1024 // the heap lock: 64 bytes
	hLog     = 1088 // the heap's undo log: 32-byte header, then entries
	hLogEnd  = 8192
	hProcs   = 8192 // process table: maxProcs slots of 8 bytes
	lockSize = 64

	logHdrSize  = 32
	heapLogCap  = hLogEnd - hLog - logHdrSize
	defMaxProcs = 128
	maxMaxProcs = 4096

	lockRobust = 1 // glibc's robust pthread_mutex_t (semaphore.Mutex)
	lockPID    = 2 // ipckit's pid lock (lock.go)

	// Blocks: a 16-byte header (size|flags, and its complement), the
	// payload, an 8-byte footer (size|flags). Sizes are multiples of 16.
	blockAlign = 16
	blockHead  = 16
	blockFoot  = 8
	blockOver  = blockHead + blockFoot
	minBlock   = 48
	flagAlloc  = 1
	flagMask   = 15

	// Log header fields (heap log and container transactions).
	lState     = 0
	lUsed      = 4
	lPendAlloc = 8
	lPendFree  = 16
	logEntHdr  = 16 // u64 offset, u32 length, u32 complement of length

	// Object header (at the payload of the object's block).
	objMagic     = 0x4a424f48 // "HOBJ"
	oMagic       = 0
	oKind        = 4
	oID          = 8
	oFingerprint = 16
	oElemSize    = 24
	oElem2       = 32
	oBodyOff     = 40
	oBodyLen     = 48
	oNameLen     = 56
	oFlags       = 60
	oGraveNext   = 64
	oDestroyer   = 72 // u32 pid, u32 start time of the process reclaiming it
	oElemAlign   = 80
	oOpeners     = 88 // maxProcs bits: the process slots that have it open
	objRemoved   = 1

	// MaxNameLen is the longest object name.
	MaxNameLen = 255
)

// Object kinds.
const (
	kindValue     = 1
	kindArray     = 2
	kindVector    = 3
	kindMap       = 4
	kindNamespace = 5
)

func kindName(k uint32) string {
	switch k {
	case kindValue:
		return "Value"
	case kindArray:
		return "Array"
	case kindVector:
		return "Vector"
	case kindMap:
		return "Map"
	case kindNamespace:
		return "Namespace"
	}
	return "unknown kind"
}

func align(x, a uint64) uint64 { return (x + a - 1) &^ (a - 1) }

// binOf returns the free-list bin of a block of size s (>= minBlock).
func binOf(s uint64) int { return bits.Len64(s) - 1 }

// mem is a view of the mapped heap: the base address and length. Every
// accessor takes an offset that the caller has bounds-checked (in, ok).
type mem struct {
	base unsafe.Pointer
	size uint64
}

// in reports whether [off, off+n) lies inside the heap.
func (m *mem) in(off, n uint64) bool { return off <= m.size && n <= m.size-off }

func (m *mem) ptr(off uint64) unsafe.Pointer { return unsafe.Add(m.base, uintptr(off)) }
func (m *mem) u64(off uint64) *uint64        { return (*uint64)(m.ptr(off)) }
func (m *mem) u32(off uint64) *uint32        { return (*uint32)(m.ptr(off)) }
func (m *mem) get64(off uint64) uint64       { return *m.u64(off) }
func (m *mem) put64(off, v uint64)           { *m.u64(off) = v }
func (m *mem) get32(off uint64) uint32       { return *m.u32(off) }
func (m *mem) load32(off uint64) uint32      { return atomic.LoadUint32(m.u32(off)) }
func (m *mem) store32(off uint64, v uint32)  { atomic.StoreUint32(m.u32(off), v) }

// bytes returns [off, off+n) of the heap as a slice (bounds checked by
// the caller).
func (m *mem) bytes(off, n uint64) []byte {
	return unsafe.Slice((*byte)(m.ptr(off)), n)
}

func unsafeData(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }
