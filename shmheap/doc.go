// Package shmheap is a crash-safe heap in shared memory, with named,
// typed objects and containers that many processes use at once: Python's
// multiprocessing Value, Array and Manager (its list and Namespace), and
// Boost.Interprocess's managed_shared_memory, for Go, without cgo.
//
// # Heaps
//
// A Heap is one fixed-size segment of shared memory holding an allocator
// and a directory of named objects. Its size is set when it is created;
// growth may come in a later version. It lives in
//
//   - a memfd (New), sealed against resizing, handed to child processes
//     by descriptor: pass File() to proc.Start as a handle (or in
//     exec.Cmd's ExtraFiles) and open it there with FromFile;
//   - a POSIX shared-memory name (CreateShm, OpenShm, OpenOrCreateShm), the
//     file /dev/shm/NAME that C's shm_open names;
//   - a file (CreateFile, OpenFile, OpenOrCreateFile).
//
// A named heap is initialised under a temporary name and then linked to
// its name, so no process ever opens one half-made. The heap maps at
// different addresses in different processes (and in C): it stores
// offsets from its start, never pointers.
//
// # Objects
//
// Objects are created and found by name, as Boost's find_or_construct
// does: CreateX fails with an error matching os.ErrExist if the name is
// taken, OpenX with one matching os.ErrNotExist if it is not, and
// OpenOrCreateX opens or creates, exactly one process creating. Names are
// 1 to 255 bytes without NUL (ErrInvalidName otherwise). Heap.Names and
// Heap.Objects list them; Heap.Remove removes one.
//
//   - Value[T]: one T with a lock of its own (Python's Value and its
//     get_lock()): Load, Store, and Update(func(*T)) under the lock, and
//     lock-free atomic accessors for 32- and 64-bit integer fields
//     (Int64, Int32, Uint64, Uint32).
//   - Array[T]: n T with one lock (Python's Array).
//   - Vector[T]: a growable list (a Manager's list): Append, Get, Set,
//     Len, Delete, Snapshot, Range and All.
//   - Map[K, V]: a hash map with fixed-size keys and values.
//   - Namespace: named attributes whose values may be of any size, encoded
//     by a Codec (Gob by default, Raw for fixed-size values): a Manager's
//     Namespace.
//
// T, K and V must be fixed-size and pointer-free: numbers, bools, arrays
// and structs of them. Creating an object of another type (pointers,
// slices, maps, strings, interfaces, channels, functions, or size zero)
// fails with ErrUnsupportedType. Each object stores its element size and a
// fingerprint of the type's layout (field offsets, kinds and sizes), and
// opening it as another kind or type fails with ErrTypeMismatch: a
// Value[int64] cannot be opened as a Value[int32].
//
// Handles to objects are safe for concurrent use by many goroutines and
// processes. Close releases a handle; every other method of a closed
// handle returns ErrClosed. Closing the Heap does not close its objects:
// the memory stays mapped until the last handle is closed.
//
// # Crash safety
//
// A process may be killed at any instruction. Every change to shared
// metadata (the allocator's blocks and lists, the directory, a container's
// table or length) is made under a lock, inside a transaction whose undo
// log is written before the change; the next process to take the lock
// after its owner died (or left an operation unfinished) rolls the
// transaction back, or finishes it where it had committed. Writes of
// elements go through a scratch copy with a redo flag. So a process killed
// during any operation leaves every object with its state before the
// operation or after it: an element appended or not, a value old or new,
// a block allocated and referenced or free — never half of one, and no
// memory leaked. TestCrashPoints stops every operation at each of its
// crash points; TestKillCampaign SIGKILLs processes at random instants
// while they allocate, free and append.
//
// The heap's metadata is guarded by glibc's robust, process-shared
// pthread_mutex_t (semaphore.Mutex): when its owner dies the kernel marks
// it and the next locker repairs the heap. That mutex needs a 64-bit
// process that can register a robust list, so where it cannot work —
// 32-bit architectures and qemu-user — a heap uses ipckit's pid lock
// instead: the owner's pid and start time in the lock, checked by a waiter
// whose wait has lasted a few milliseconds (a process that died holding it
// is detected within about 100 ms). Options.Lock chooses; LockAuto (the
// default) picks the robust mutex where this process can use it, so a heap
// shared with 32-bit or emulated processes must be created with LockPID.
// Objects always use the pid lock: the robust mutex costs two system
// calls (gettid) per lock and unlock in a cgo-free program, about 30 times
// the cost of the pid lock's compare-and-swap. Either way, processes
// sharing a heap must share a pid namespace, and a lock belongs to a
// process: it is released by unlocking or by the owner's death, not by a
// thread's exit.
//
// Lock-free atomic fields use the CPU's 64-bit atomic instructions, which
// are atomic between processes everywhere except 32-bit MIPS and ARM
// before ARMv7, where Go emulates them with a lock private to each
// process: there, 64-bit atomic fields are updated under the object's lock
// instead (32-bit fields stay lock-free).
//
// # Memory, Remove and errors
//
// Out of space is ErrNoSpace, and the operation that needed the memory
// has no effect. Heap.Stats reports the size, the bytes used and free, and
// the largest free block. Remove takes the name away at once; the memory
// is reclaimed once no process has the object open (like IPC_RMID on a
// System V segment): by the process that closes the last handle, or, if
// the last user died, by the next process that opens the heap, removes an
// object or runs Check.
//
// Everything read from the heap is bounds-checked, since any process that
// maps it can write anything: a corrupt heap gives errors matching
// ErrCorrupt, never a panic or a fault. Heap.Check validates the whole
// heap (every block, free list and counter, every object, and that every
// allocated block is referenced exactly once). A heap behind a shm name or
// a file can be truncated by another process, which would make accesses
// raise SIGBUS; their accesses run under posix.Mapping.Guard, which turns
// such a fault into ErrCorrupt. A memfd from New is sealed, so its
// accesses need no guard.
//
// Operations wait for an object's lock as sync.Mutex does, without a
// context: critical sections are short (a copy, a table update, an
// allocation), except the function passed to Update, which should be
// short too.
//
// # C peers
//
// LAYOUT.md specifies the heap's bytes, and shmheap.h (in this directory)
// is a single-header C implementation of enough of them to open a heap,
// find a named Value or Array, and read or update it under its lock with
// the same crash-safety protocol (a musl peer needs a LockPID heap; glibc's
// robust mutex is not musl's).
package shmheap
