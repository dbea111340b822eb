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
// The handle layer ([Queue], [SemSet], [Segment]) follows Go conventions:
// objects are created with mode 0600 unless told otherwise, blocking calls
// take a [context.Context] and return promptly when it is cancelled, EINTR is
// retried with the time left recomputed, and errors name the operation and
// match [os.ErrNotExist], [os.ErrExist], [os.ErrPermission] and the
// [golang.org/x/sys/unix.Errno] values with [errors.Is].
//
// # Persistence
//
// System V objects outlive the process that made them. Remove what you
// create (Remove, or IPC_RMID), or use [IPCPrivate] keys in tests.
package sysv
