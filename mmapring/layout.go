package mmapring

// Byte offsets of the shared header (LAYOUT.md is the specification and
// mmapring.h asserts every one of them). All fields are in the host's byte
// order; every atomic field is naturally aligned.
const (
	offMagic      = 0  // u64 "IPCKRING"
	offVersion    = 8  // u32 layout version, stored last by the creator
	offKind       = 12 // u32 KindSPSC or KindMPMC
	offHeaderSize = 16 // u32 headerSize
	offCellSize   = 20 // u32 MPMC cell bytes (16-byte cell header + payload); SPSC: 8 (record alignment)
	offCapacity   = 24 // u64 SPSC: data bytes; MPMC: cells (power of two)
	offTotalSize  = 32 // u64 header + data bytes
	offLimit      = 40 // u64 MPMC: most messages queued at once (<= capacity)
	offMaxMsg     = 48 // u32 largest message
	offFlags      = 52 // u32 flagChecksum or 0
	offCreatorPid = 56 // u32

	offProdPos = 128 // u64 SPSC tail / MPMC enqueue position
	offConsPos = 256 // u64 SPSC head / MPMC dequeue position

	offDataEpoch   = 384 // u32 futex word: bumped when data arrives and someone waits
	offDataWaiters = 388 // u32 consumers registered as (about to be) sleeping
	offDataNeed    = 392 // u32 1 while a registered sleeper awaits a wake; the waker swaps it to 0

	offSpaceEpoch   = 512 // u32 futex word: bumped when space frees and someone waits
	offSpaceWaiters = 516 // u32 producers registered as sleeping
	offSpaceNeed    = 520 // u32 as offDataNeed

	offClosed  = 640 // u32 1 once a producer closed the ring
	offOrphans = 644 // u32 MPMC cells in state ORPHAN (committed, to redeliver)

	offUnfinished = 768 // u64 Queue: messages put and not yet TaskDone
	offJoinEpoch  = 896 // u32 futex word for Join
	offJoinWaiter = 900 // u32
	offJoinNeed   = 904 // u32

	offPeers   = 1024 // peer table
	peerSlots  = 64
	peerSize   = 16 // u64 ident (pid<<32 | start-time low 32 bits), u32 role, u32 reserved
	headerSize = 4096

	magic   = 0x474e49524b435049 // "IPCKRING" little-endian
	version = 3

	// flagChecksum: every message carries the CRC32C of its payload
	// (SPSC: in a 16-byte record header; MPMC: in the cell's u32 at +12).
	flagChecksum = 1
	knownFlags   = flagChecksum

	roleProducer = 1
	roleConsumer = 2
	// rolePending marks an SPSC claimant that has taken a slot but not yet
	// made sure no rival holds the role (register).
	rolePending = 1 << 31

	recHeader    = 8  // SPSC record: u32 length, u32 type
	recHeaderSum = 16 // with flagChecksum: u32 length, u32 type, u32 crc32c, u32 0
	// Record types. A header word of 0 (recNone) is where the producer
	// has not published a record yet: it writes such a terminator after
	// every record before publishing it, so the header a consumer reaches
	// next is either published or 0, never a previous lap's bytes.
	recNone    = 0
	recPadding = 1
	recMessage = 2

	cellHeader = 16 // MPMC cell: u64 state, u32 length, u32 crc32c (flagChecksum) or 0

	// MPMC cell states: state = position<<8 | code.
	stEmpty    = 0x00
	stFull     = 0x01
	stSkipped  = 0x02
	stOrphan   = 0x03
	stWriting  = 0x40 // | peer slot
	stReading  = 0x80 // | peer slot
	stSlotMask = 0x3f
	posBits    = 56
	posMask    = 1<<posBits - 1

	minSPSCCapacity = 256
	maxSPSCCapacity = 1 << 40
	maxCells        = 1 << 32
	maxCellSize     = 1 << 30

	// maxRetries bounds the CAS retry loops: contention alone never needs
	// this many rounds, so reaching it means the shared state is corrupt.
	maxRetries = 1 << 20

	// stallLimit is how many times in a row a blocking call may find the
	// ring "ready" without making progress before it sleeps anyway (with
	// a short, growing timeout): whatever state the ring is in, a blocked
	// call never spins for long and always honours its context.
	stallLimit = 64
)

// Kind is the ring's algorithm.
type Kind uint32

const (
	// KindSPSC is a byte ring of variable-length records for one producer
	// and one consumer at a time.
	KindSPSC Kind = 1
	// KindMPMC is a ring of fixed-size cells with per-cell sequence words
	// (Vyukov) for any number of producers and consumers.
	KindMPMC Kind = 2
)

func (k Kind) String() string {
	switch k {
	case KindSPSC:
		return "spsc"
	case KindMPMC:
		return "mpmc"
	}
	return "unknown"
}

func align8(n uint64) uint64 { return (n + 7) &^ 7 }
