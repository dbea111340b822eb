// Package mmapring provides lock-free rings in shared memory for passing
// messages between processes on one host: a single-producer/single-consumer
// byte ring for variable-length messages and a multi-producer/multi-consumer
// ring of fixed-size cells, both blocking through shared futexes, with a
// C header (mmapring.h, also in CHeader) so C processes are full peers.
//
// # Rings and backing
//
// New makes a ring in a memfd (nothing is left behind); hand Ring.File
// to a child with exec.Cmd.ExtraFiles or SCM_RIGHTS (or package proc,
// which does that) and attach to it there with FromFile. CreateShm/OpenShm
// meet by POSIX shm name, CreatePath/OpenPath by file path; Ring.Unlink
// (or UnlinkShm) removes the name. Creation is exclusive and mode 0600 by
// default; names follow glibc's rules and paths are opened with
// O_NOFOLLOW. Every open validates the header against the file
// (see LAYOUT.md, the byte-level specification).
//
// # Sending and receiving
//
// Producer.Send copies a message in and publishes it (when Send returns,
// the consumer can see it); TrySend does not wait; SendBatch publishes a
// run of messages with one store; Reserve/Commit write in place.
// Consumer.Receive copies the next message out; TryReceive does not wait;
// Peek/Release read in place; ReceiveBatch drains what is ready and frees
// it in one step. TrySend and TryReceive fail with ErrFull and ErrEmpty,
// which match unix.EAGAIN. A Producer's Close makes consumers return io.EOF
// once they have drained the ring (Detach leaves without that). Handles
// are not safe for concurrent use: make one per goroutine. Queue adds
// Python JoinableQueue semantics (maxsize, TaskDone, Join, Shutdown)
// across processes on an MPMC ring.
//
// # Blocking
//
// A blocked call spins for DefaultSpin (SetSpin changes it), then sleeps
// on an eventcount: a futex word that the other side bumps and wakes only
// when a waiter is registered, so a pair that keeps up makes no system
// calls at all (Producer.Syscalls and Consumer.Syscalls count them).
// Contexts and deadlines are honoured; the send, receive and wait paths
// never allocate, also when they sleep with a context that can be
// cancelled.
//
// # Lifetime
//
// A Ring and every Producer, Consumer and Queue made from it share one
// mapping, unmapped when the last of them is closed, so handles may be
// closed in any order. After Ring.Close every method of the Ring and of
// its handles returns ErrClosed (which matches os.ErrClosed), calls
// blocked in the process wake up and return it, and a handle's Close
// still releases its peer slot. Close is idempotent everywhere. The
// Ring's descriptor (File) is closed by Ring.Close; each handle holds its
// own reference to the mapping (a posix.Mapping handle).
//
// # Dead and hostile peers
//
// Every handle records its pid and process start time in the ring. A
// sleeper wakes every LivenessInterval to check its peers: when every
// process of the other role that attached is proven dead (gone, zombie, or
// its pid reused), it returns ErrPeerDead after delivering what was
// committed. On an MPMC ring, a cell claimed by a process that was killed
// is repaired once its death is proven: an uncommitted cell is skipped, a
// committed one whose consumer died before freeing its cell is
// redelivered.
// The protocol is built so that a process killed at any single store
// leaves a ring the others recover (LAYOUT.md lists the invariants), and
// no state of the shared memory can make a call spin or ignore its
// context.
//
// Delivery: a message Send returned nil for is delivered before consumers
// see io.EOF. It is delivered once, except that (MPMC) a consumer that
// dies between Peek and Release has its message redelivered, and (SPSC) a
// consumer that dies can leave up to a quarter of the ring's bytes of
// messages it already returned unpublished, which its replacement
// receives again: SPSC is at-least-once across a consumer's death. A
// consumer killed inside Receive after it freed the message's space (in the
// wake-up of a waiting producer, just before returning) takes that one
// message with it, as if it had been killed right after Receive returned.
//
// Everything read from shared memory is bounds-checked; corruption is
// reported as ErrCorrupt, never a panic (the package is fuzzed), and
// Config.Checksum adds a CRC32C to every message for peers whose memory
// cannot be trusted. New seals its memfd so no process can truncate it;
// rings in POSIX shm or plain files cannot be sealed, and a truncation
// there makes calls fail with ErrCorrupt instead of killing the process
// (except in a binary built with -race, whose atomic operations run in the
// race runtime's C code, where a fault cannot be turned into an error).
//
// A FUTEX_WAKE that fails after a message was published is reported by
// the publishing call as an error matching ErrWakeFailed (the message is
// in the ring; do not send it again).
//
// # Performance
//
// Positions are on their own 128-byte spans, the opposite position is
// cached in process-private memory, and consumers publish their position
// once per batch. Publication is a release store, not a full barrier (on
// amd64 a plain MOV): the rare side of the eventcount, a waiter about to
// sleep, pays for the barrier instead, with membarrier(2), for which every
// process registers when it first maps a ring (LAYOUT.md, "Memory order";
// without membarrier a process publishes with sequentially consistent
// stores). An SPSC consumer reads the record header at its position rather
// than the producer's position, so a message arrives with the cache line
// that holds its header. Run `go run ./cmd/ipckit bench` to compare the
// rings with the C ring, pipes, sockets, SysV and POSIX message queues and
// a Go channel on the machine at hand.
package mmapring
