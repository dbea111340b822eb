package futex

import "github.com/ipckit/ipckit/internal/abi"

var _ abi.Timespec

// Prototypes for ../../gen: one //sys line per system call; the generator
// writes zsyscall_linux.go from them.

//sys	Futex(addr *uint32, op int, val uint32, timeout *abi.Timespec, addr2 *uint32, val3 uint32) (n int, err error) = abi.SysFutex
//sys	futexClassic(addr *uint32, op int, val uint32, timeout *abi.OldTimespec, addr2 *uint32, val3 uint32) (n int, err error) = unix.SYS_FUTEX
//sys	FutexWaitv(waiters *abi.FutexWaitv, nr uint32, flags uint32, timeout *abi.Timespec, clockid int32) (n int, err error) = unix.SYS_FUTEX_WAITV
//sys	FutexWake(addr *uint32, mask uintptr, nr int, flags uint32) (n int, err error) = unix.SYS_FUTEX_WAKE
