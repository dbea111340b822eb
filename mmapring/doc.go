// Package mmapring provides lock-free rings in shared memory for passing
// messages between processes on one host: a single-producer/single-consumer
// byte ring for variable-length messages and a multi-producer/multi-consumer
// ring of fixed-size cells, both blocking through shared futexes, with a
// C header (mmapring.h, also in CHeader) so C processes are full peers.
//
// # Rings and backing
//
// Create makes a ring in a memfd (nothing is left behind); hand Ring.File
// to a child with exec.Cmd.ExtraFiles or SCM_RIGHTS and open it there with
// OpenFd or OpenFile. CreateShm/OpenShm meet by POSIX shm name (remove it
// with Unlink), CreatePath/OpenPath by file path. Creation is exclusive
// and mode 0600 by default; names follow glibc's rules and paths are
// opened with O_NOFOLLOW. Every open validates the header against the file
// (see LAYOUT.md, the byte-level specification).
//
// # Sending and receiving
//
// Producer.Send copies a message in and publishes it (when Send returns,
// the consumer can see it); TrySend does not wait; SendBatch publishes a
// run of messages with one store; Reserve/Commit write in place. Consumer.Recv
// copies the next message out; TryRecv does not wait; Peek/Release read in
// place; RecvBatch drains what is ready and frees it in one step. A
// Producer's Close makes consumers return io.EOF once they have drained
// the ring. Handles are not safe for concurrent use: make one per
// goroutine. Queue adds Python JoinableQueue semantics (maxsize, TaskDone,
// Join) across processes on an MPMC ring.
//
// # Blocking
//
// A blocked call spins for DefaultSpin (SetSpin changes it), then sleeps
// on an eventcount: a futex word that the other side bumps and wakes only
// when a waiter is registered, so a pair that keeps up makes no system
// calls at all (Producer.Syscalls and Consumer.Syscalls count them).
// Contexts and deadlines are honoured; with a context whose Done is nil
// the send and receive paths never allocate.
//
// # Dead and hostile peers
//
// Every handle records its pid and process start time in the ring. A
// sleeper wakes every LivenessInterval to check its peers: when every
// process of the other role that attached is proven dead (gone, zombie, or
// its pid reused), it returns ErrPeerDead after delivering what was
// committed. On an MPMC ring, a cell claimed by a process that was killed
// is repaired only after its death is proven: an uncommitted cell is
// skipped, a committed one whose consumer died is redelivered exactly once.
// Everything read from shared memory is bounds-checked; corruption is
// reported as ErrCorrupt, never a panic (the package is fuzzed).
//
// # Performance
//
// Positions are on their own 128-byte spans, the opposite position is
// cached in process-private memory, and consumers publish their position
// once per batch. Run `go run ./cmd/ipckit bench` to compare the rings with
// the C ring, pipes, sockets, SysV and POSIX message queues and a Go
// channel on the machine at hand.
package mmapring
