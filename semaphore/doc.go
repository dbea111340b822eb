// Package semaphore provides futex-based semaphores and locks in shared
// memory that interoperate with C: glibc-compatible POSIX semaphores (named
// and unnamed), an explicit musl format, SysV-backed semaphores whose units
// come back when a holder dies, a crash-safe cross-process mutex in glibc's
// robust pthread_mutex_t layout, and a cross-process Event. It needs no cgo.
//
// # POSIX semaphores: Sem
//
// [Create], [Open], [OpenOrCreate] and [OpenFlags] (sem_open itself, with
// its flags, mode and value) open or create exactly the object that glibc's
// sem_open does: the 32-byte file /dev/shm/sem.NAME, created atomically
// through a temporary file and link(2), holding a glibc sem_t; [Unlink] is
// sem_unlink. [Sem.Wait], [Sem.TryWait],
// [Sem.Post] and [Sem.Value] follow glibc's futex protocol (nptl/sem_post.c,
// nptl/sem_waitcommon.c) step by step: the value lives in the low 32 bits
// of a 64-bit word and the waiter count in the high 32 bits, so a C
// sem_post wakes a blocked Go waiter and a Go Post wakes a blocked C
// sem_wait, and the waiter count stays consistent. Python's
// multiprocessing semaphores are glibc's too (tested: a Python process that
// opens one by name, as multiprocessing does, and Go wake each other);
// posix_ipc, which calls sem_open, should behave the same (not tested).
//
// [Init] and [Attach] place or find a sem_t at an offset of shared memory,
// compatible with C's sem_init(sem, 1, value) on the same bytes. Offsets
// are bounds- and alignment-checked (an error, never a panic); Attach
// rejects a sem_t that is not process-shared.
//
// Wait takes a context: cancellation and deadlines are honoured promptly
// (context.Canceled, context.DeadlineExceeded) and take nothing. A futex
// wait cannot be interrupted by a signal in Go, so cancellation wakes the
// waiter: on Linux 5.16+ through futex_waitv and a private per-waiter
// word, which wakes nobody else; on older kernels by waking the semaphore's
// word, which other waiters, C ones included, treat as a spurious wake-up.
// A waiter that gives up passes on a wake-up it may have consumed, so no
// other waiter sleeps beside an available unit.
//
// Every value read from the shared sem_t is treated as untrusted: a
// corrupt value makes Post report overflow or a waiter wait, never a
// panic. One hazard is inherent to mapped files, in C as in Go: a process
// that can write /dev/shm/sem.NAME can truncate it, and touching the
// mapping then raises SIGBUS. Give semaphores shared with untrusted
// processes restrictive modes.
//
// Post, TryWait, Value and an uncontended Wait make no system call and no
// allocation. A blocked Wait with a cancellable context allocates its
// cancellation hook.
//
// # Formats: glibc and musl
//
// glibc's and musl's semaphores are not interoperable (different path,
// "private" flag sense and waiter encoding; mixing them loses wake-ups), so
// the format is always explicit, never guessed: [Glibc] (the format of the
// package-level functions), [Musl123] for musl ≤ 1.2.3 (Debian 12's
// musl-tools; value −1 means "zero with waiters"), and [Musl124] for musl
// ≥ 1.2.4 (sticky sign bit). musl's named semaphores are /dev/shm/NAME,
// without "sem.", with names up to 255 bytes (glibc: 251). Every
// package-level function has a method of the same name on [Format] for
// the other formats: Musl123.Open(name), Musl123.Init(mem, off, value),
// Musl123.Unlink(name) and so on. Musl123 is tested against
// programs built with musl-gcc; Musl124 is tested Go to Go only, as no
// musl ≥ 1.2.4 is packaged for Debian 12.
//
// # Architectures
//
// Everything builds on every Linux GOARCH. glibc's sem_t has two layouts,
// both implemented: on 64-bit targets the 32-byte one with 64-bit atomics
// (the value word is at offset 4 on big-endian targets), on 32-bit targets
// (386, arm, mips, mipsle) the 16-byte one where word 0 holds value<<1 |
// a waiters-present bit and nwaiters is at offset 12. A 32-bit process and
// a 64-bit one therefore cannot share a glibc semaphore, exactly as in C.
// The musl formats are 32 bytes on 64-bit and 16 on 32-bit targets. [Mutex]
// is implemented for 64-bit targets only ([ErrNotSupported] elsewhere);
// [SysV] and [Event] work everywhere. Under qemu-user, which does not
// implement robust futex lists, Mutex.Lock fails with ENOSYS.
//
// # SysV semaphores with SEM_UNDO: SysV
//
// [SysV] has the same Wait/TryWait/Post/Value surface over one semaphore of
// a System V set (package sysv): [CreateSysV] makes one, [OpenOrCreateSysV]
// opens or makes one and sets its value exactly once, [OpenSysV] opens one,
// and [SysVFromSet] uses a semaphore of a set passed by id. With SEM_UNDO (the default) the kernel
// reverses a process's adjustments when it exits, SIGKILL included, so a
// unit held by a process that dies comes back. Every operation is a
// semop(2) system call.
//
// # Crash-safe mutex: Mutex
//
// [Mutex] is a process-shared robust mutex in glibc's pthread_mutex_t
// layout (64-bit targets). When a holder dies — crash, SIGKILL, or a
// goroutine that exits while holding it — the kernel marks the lock word
// FUTEX_OWNER_DIED and wakes a waiter; the next [Mutex.Lock] returns
// [ErrOwnerDead] with the mutex held, the caller repairs the protected
// state and calls [Mutex.Consistent]. Unlocking without Consistent makes
// the mutex permanently unrecoverable ([ErrNotRecoverable]), as in C.
// Nothing hangs.
//
// How it works: each OS thread that locks registers a robust-list head with
// set_robust_list(2), and every held mutex is linked on it with glibc's
// conventions (futex_offset −32, entries at &__list.__next), so the kernel
// releases it when the thread dies. In a cgo-free binary Go threads have no
// robust list and ipckit registers its own head in never-freed mmap'd
// memory; in a binary with cgo (or -race), glibc has registered a head on
// every thread and ipckit links its mutexes into glibc's list, exactly as
// pthread_mutex_lock would. A sentinel entry on each list, whose futex word
// the kernel rewrites when the thread dies, tells a live registration from
// one whose thread has exited and whose TID was reused.
//
// Rules that follow from the kernel's design:
//
//   - Ownership belongs to an OS thread: Lock locks the calling goroutine to
//     its thread (runtime.LockOSThread) until the matching Unlock, which
//     must come from the same goroutine ([ErrNotOwner] otherwise).
//   - A goroutine that exits while holding the mutex ends its OS thread and
//     the kernel releases the mutex at once, except on the main thread,
//     which the Go runtime keeps: then the release happens only when the
//     process exits. Call runtime.LockOSThread in an init function to pin
//     the main goroutine to the main thread if that matters.
//   - All processes must share one PID namespace (the lock word holds TIDs).
//   - The mutex must live in a MAP_SHARED mapping (shared memory, a memfd or
//     file mapped shared, MAP_SHARED|MAP_ANONYMOUS): [InitMutex] and
//     [AttachMutex] refuse Go heap memory and private mappings, because the
//     kernel writes through the robust list's pointers when a thread exits.
//   - Do not unmap the memory while holding the mutex.
//
// Compatible C mutexes: glibc pthread_mutex_t initialised with
// pthread_mutexattr_setpshared(PTHREAD_PROCESS_SHARED) and
// pthread_mutexattr_setrobust(PTHREAD_MUTEX_ROBUST), of type NORMAL
// (DEFAULT), ERRORCHECK or RECURSIVE ([MutexNormal], [MutexErrorCheck],
// [MutexRecursive]), on 64-bit glibc. Not compatible, and refused by
// [AttachMutex]: non-robust or process-private mutexes, priority-inheritance
// (PTHREAD_PRIO_INHERIT) and priority-protect mutexes, musl's
// pthread_mutex_t (a different layout and robust-list offset), and glibc on
// 32-bit targets. C condition variables are not supported (glibc changed
// their internals in point releases).
//
// Lock and Unlock each make one gettid(2) system call, because Go cannot
// otherwise tell which OS thread it runs on, so an uncontended pair costs
// well over glibc's (BENCHMARKS.md has the measurements).
//
// # Event
//
// [Event] is a manual-reset event in one 32-bit word of shared memory:
// [Event.Set] wakes every waiter in every process and the event stays set
// until [Event.Clear]; setting an event that nobody waits for makes no
// system call.
//
// # Errors
//
// Errors wrap errno values: errors.Is works with unix.EAGAIN
// ([ErrWouldBlock]), unix.EOVERFLOW ([ErrOverflow]), unix.EBUSY
// ([ErrBusy], Mutex.TryLock), unix.EOWNERDEAD, unix.ENOTRECOVERABLE,
// os.ErrNotExist, os.ErrExist, os.ErrPermission, context.Canceled and
// context.DeadlineExceeded. [ErrClosed] and [ErrNotSupported] are the
// values every ipckit package shares (they match os.ErrClosed and
// errors.ErrUnsupported); this package's not-supported errors also match
// unix.ENOTSUP.
//
// # Performance
//
// Uncontended Post and TryWait cost about what glibc's sem_post and
// sem_trywait cost, and a cross-process wake-up costs the same from Go and
// from C (the kernel's futex wake dominates); Mutex pays two gettid calls
// per Lock and Unlock. BENCHMARKS.md has the numbers, measured against C
// in the same runs, and the commands that reproduce them.
package semaphore
