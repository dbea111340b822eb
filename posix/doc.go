// Package posix gives Go programs POSIX IPC without cgo: shared-memory
// objects and mappings, POSIX message queues that wait in the Go runtime
// poller, pipes, FIFOs, eventfd and descriptor passing. Everything
// interoperates with C programs using glibc (or musl) and with Python.
//
// # Shared memory
//
// CreateShm, OpenShm, OpenShmFlags and UnlinkShm name exactly the objects
// glibc's shm_open and shm_unlink name: the file /dev/shm/NAME, with every
// leading slash stripped and names with another '/', "." or ".." or over
// 255 bytes rejected (errors wrap ErrInvalidName and the errno glibc sets,
// EINVAL or ENAMETOOLONG). CreateShm creates exclusively with mode 0600,
// OpenShm opens an existing object, and OpenShmFlags is shm_open itself
// (open flags and mode). Every named object (shm names and the files of CreateSharedFile
// and OpenSharedFile) is opened through one path: O_NOFOLLOW, O_CLOEXEC,
// O_NOCTTY, and O_NONBLOCK while opening, so a FIFO planted at the name
// cannot block the caller; anything but a regular file is refused.
// Python's multiprocessing.shared_memory.SharedMemory uses the
// same files, with one hazard: before Python 3.13 (and in 3.13 unless
// track=False is passed) a Python process that merely attaches to a
// segment unlinks it when it exits (CPython gh-82300). Python peers must
// call resource_tracker.unregister(shm._name, "shared_memory") right after
// attaching, or pass track=False on 3.13 and later.
//
// # Mappings, sealing and faults
//
// Mapping is the one mapping type of ipckit: POSIX shm, memfds, files,
// anonymous memory and System V segments (sysv.Segment.Attach) all map to
// it. A Mapping is a handle holding a reference: Acquire makes another
// handle, and the memory is unmapped when the last one is closed. Close is
// idempotent; any other method of a closed handle returns ErrClosed. A
// handle dropped without Close is unmapped by a cleanup after a garbage
// collection, so keep it reachable while using its memory. Map maps a
// descriptor (SharedMemory.Map its whole object) and MapAnonymous
// anonymous memory; a Mapping can also Sync, Advise, Lock and Resize
// (mremap).
//
// NewSharedMemory makes a memfd sealed against resizing, to hand to other
// processes by descriptor (exec.Cmd's ExtraFiles, SendFiles); the receiver
// adopts it with SharedMemoryFromFile and verifies the seals with
// CheckSealed. Memory behind a shm name or a file cannot be sealed: a
// process that truncates the object makes the next access to the lost
// pages raise SIGBUS, which kills a Go program. Mapping.Truncatable tells
// whether that can happen, and Mapping.Guard runs the accesses so that
// such a fault becomes a FaultError (matching ErrCorrupt) instead.
//
// ValueAt, ArrayAt and the atomic views Int32At, Uint32At, Int64At and
// Uint64At are this package's multiprocessing.Value and Array: they place
// pointer-free Go values in a mapping after checking bounds and alignment,
// and return errors (never panic) when the layout does not fit.
//
// # Message queues
//
// CreateQueue, OpenQueue, OpenOrCreateQueue and OpenQueueFlags (mq_open
// itself: open flags, mode and attributes) apply glibc's mq_open naming
// (one leading slash, optional here) and return a Queue that waits in the
// runtime poller; QueueFromFile adopts a queue's descriptor from another
// process, and UnlinkQueue removes a name. Send and Receive park the
// calling goroutine, not an OS thread: a thousand blocked receivers cost a
// thousand goroutines and no threads. Each call honours its own context;
// concurrent receivers
// (and senders) on one Queue take turns, and one call's deadline never
// disturbs another's. With context.Background, Send and Receive do not
// allocate. TrySend and TryReceive never wait; a queue opened with
// O_NONBLOCK (or switched with SetAttr) makes Send and Receive behave so.
//
// Queue.Notify is the Go form of mq_notify's SIGEV_THREAD: the kernel
// sends a 32-byte cookie to a netlink socket, which the runtime poller
// reads, and the result arrives on a channel (glibc starts a thread for
// this). NotifySignal and NotifyNone cover SIGEV_SIGNAL and SIGEV_NONE.
// Any close of the queue's descriptor by the registered process ends a
// registration (kernel rule), and so does reading the queue's status file.
//
// ListQueues lists queues with their QSIZE. It reads /dev/mqueue where it
// is mounted; otherwise it mounts a private mqueue instance in a throwaway
// mount namespace on a locked OS thread (needs CAP_SYS_ADMIN).
//
// The raw system calls MqOpen, MqUnlink, MqTimedsend, MqTimedreceive,
// MqNotify and MqGetsetattr are exported too, generated from
// syscall_linux.go: they take kernel names (no leading slash) and absolute
// CLOCK_REALTIME timeouts, and use the _time64 calls on 32-bit
// architectures.
//
// # Pipes, FIFOs, eventfd and descriptor passing
//
// Pipe returns two Conns like multiprocessing.Pipe: a socket pair (duplex)
// or a pipe (reader, writer), carrying messages framed as Python's
// multiprocessing.connection frames them (a 4-byte big-endian length), so
// a Python Connection on the other end can read them. Mkfifo and OpenFifo
// give the same Conn over a named pipe, ConnFromFile adopts an end
// inherited from another process, NewEventFD makes a poller-integrated
// eventfd in counter or semaphore mode (EventFDFromFile adopts one), and
// SendFiles and ReceiveFiles pass descriptors (SCM_RIGHTS) to another
// process over a Unix socket.
//
// To hand any of these to a child process, put its File in
// exec.Cmd.ExtraFiles (descriptor 3 onwards in the child, which adopts it
// with the matching FromFile function), or use package proc, which does
// that bookkeeping. The examples show both directions across two
// processes.
//
// # Descriptor modes
//
// O_NONBLOCK belongs to the open file description, not to the descriptor:
// every duplicate, and every process that inherits or receives the
// descriptor, shares it. A process handed a descriptor expects the mode
// that pipe(2), socketpair(2) and eventfd(2) give, blocking: Python's
// Connection.recv_bytes raises BlockingIOError on a non-blocking one, and
// C's read(2) fails with EAGAIN. So this package keeps every descriptor
// that can reach another process in blocking mode, and never changes the
// mode of one it adopts, while its own calls still wait in the Go runtime
// poller (a parked goroutine, no OS thread) and honour their contexts:
//
//   - Pipe, OpenFifo and NewEventFD make blocking descriptors; File (on
//     Conn and EventFD) returns that descriptor, ready for ExtraFiles or
//     SendFiles.
//   - A Conn on a pipe or FIFO, and a Queue, do their own I/O through a
//     private non-blocking open file description of the same object,
//     opened again through /proc/self/fd (which makes a new description
//     each time: fifo_open in the kernel's fs/pipe.c). Where that fails
//     (no /proc, or an object of another user), the descriptor itself is
//     made non-blocking as a last resort.
//   - A Conn on a socket reads and writes with MSG_DONTWAIT, which never
//     waits whatever the mode.
//   - An EventFD reads with preadv2(RWF_NOWAIT) where the kernel's eventfd
//     honours that flag (probed at run time), otherwise only after a
//     zero-timeout poll(2) found the count non-zero, and writes only after
//     poll(2) found room; see EventFD for the one case where that can
//     occupy a thread.
//   - ConnFromFile, EventFDFromFile and QueueFromFile leave the adopted
//     description's mode as it is. The poller cannot take a blocking descriptor through
//     os.NewFile, so a blocking socket or eventfd from elsewhere is watched
//     by two private epoll instances (one for input, one for output),
//     which are registered in its place.
//
// A Queue's File has the mode the queue was opened in (blocking unless
// OpenQueueFlags was given O_NONBLOCK), as mq_open gives it; the Queue's own calls go through a
// private non-blocking description of the same queue, reopened the same
// way.
//
// SendFiles and EventFDFromFile reach a file's descriptor through its
// RawConn, never through os.File.Fd, which switches files made by os.Pipe,
// os.OpenFile or a net.Conn's File method to blocking mode for good.
//
// # Errors and cancellation
//
// Errors wrap the errno with the operation, so errors.Is works with
// unix.Errno values, os.ErrNotExist, os.ErrExist and os.ErrPermission. A
// call ended by its context returns an error matching context.Canceled or
// context.DeadlineExceeded. Close is idempotent and unblocks every waiting
// call; every later call on the handle (Conn, EventFD, Queue,
// SharedMemory, Mapping) fails with an error matching ErrClosed, which
// matches os.ErrClosed too and is the same value as the ErrClosed of
// every other ipckit package. TrySend, TryReceive and TryWait fail with an
// error matching unix.EAGAIN when they would have to wait.
package posix
