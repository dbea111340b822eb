// Package sysv gives Go programs System V IPC — message queues, semaphore
// sets and shared-memory segments — with exact kernel semantics and without cgo.
//
// # Two layers
//
// The raw layer ([Msgget], [Msgsnd], [Msgrcv], [Msgctl], [Semget], [Semop],
// [Semtimedop], [Semctl], [Shmget], [Shmat], [Shmdt], [Shmctl], [Ftok]) is a
// thin, allocation-free wrapper over the system calls. It returns errno values
// as [golang.org/x/sys/unix.Errno] and leaves every flag and command to the
// caller, exactly as the C functions do, with the per-architecture quirks
// (IPC_64, the by-value union semun, the long msgtyp, the _time64 calls on
// 32-bit systems) handled by generated code.
//
// The handle layer ([Queue], [SemSet], [Segment]) follows Go conventions
// and the vocabulary of every ipckit package: CreateX creates exclusively
// (an existing key is an error matching [os.ErrExist]) with mode 0600
// unless told otherwise, OpenX opens an existing object, OpenOrCreateX
// does either, XFromID turns an id from another process (or ipcs) into a
// handle after checking it with IPC_STAT, and Remove (or RemoveX with an
// id) deletes the object. A handle is an id and holds nothing in the
// process, so it has no Close. Blocking calls take a [context.Context] and
// return promptly when it is cancelled, EINTR is retried with the time
// left recomputed, TrySend and TryReceive fail with an error matching
// [golang.org/x/sys/unix.EAGAIN] instead of waiting, and errors name the
// operation and match [os.ErrNotExist], [os.ErrExist], [os.ErrPermission]
// and the [golang.org/x/sys/unix.Errno] values with [errors.Is].
//
// [Segment.Attach] maps a segment as a [posix.Mapping], the one mapping type
// of ipckit (POSIX shm, memfds and files map to it too): reference-counted
// handles whose last Close detaches, errors instead of faults after Close.
//
// # EINTR in the raw layer
//
// The raw blocking calls ([Msgsnd], [Msgrcv], [Semop], [Semtimedop] without
// IPC_NOWAIT) return [golang.org/x/sys/unix.EINTR] whenever a signal
// reaches the thread while it is blocked: the kernel never restarts them
// after a signal handler, whatever SA_RESTART says (ipc/msg.c and
// ipc/sem.c return -EINTR, or -ERESTARTNOHAND, which becomes EINTR when a
// handler runs). A Go program does not need to send a signal of its own for
// this to happen: the runtime's asynchronous preemption sends SIGURG to
// its threads, and a preemption request that lands just as a thread enters
// one of these calls interrupts it (a few per thousand blocking calls in a
// busy program; none with GODEBUG=asyncpreemptoff=1). The raw layer keeps
// the kernel's semantics, as golang.org/x/sys does, so callers of these
// four must retry EINTR themselves; for Semtimedop, recompute the time
// left from an absolute deadline, because the kernel does not update the
// relative timeout it was given (see the example of Semtimedop).
//
// The handle layer does that for you: [Queue.Send], [Queue.Receive] and
// [SemSet.Op] retry EINTR and never return it, and return only when the
// call completes, fails otherwise, or the context is done.
//
// # Persistence
//
// System V objects outlive the process that made them. Remove what you
// create (Remove, or IPC_RMID), or use [IPCPrivate] keys in tests.
package sysv
