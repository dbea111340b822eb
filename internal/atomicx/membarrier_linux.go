package atomicx

import (
	"os"

	"golang.org/x/sys/unix"
)

// membarrier(2) commands (include/uapi/linux/membarrier.h; docs/ABI.md
// §"membarrier").
const (
	membarrierQuery                   = 0
	membarrierGlobalExpedited         = 1 << 1
	membarrierRegisterGlobalExpedited = 1 << 2
)

// RegisterMembarrier registers this process for
// MEMBARRIER_CMD_GLOBAL_EXPEDITED (Linux 4.16): from then on, whenever
// any process calls Membarrier, every thread of this process executes a
// full memory barrier before that call returns (a running thread by an
// IPI, one that is not running at its next context switch). Registration
// is per process and idempotent. It fails (matching unix.ENOSYS, EINVAL
// or EPERM) where the kernel lacks the command or a seccomp filter
// denies membarrier.
func RegisterMembarrier() error {
	mask, _, e := unix.RawSyscall(unix.SYS_MEMBARRIER, membarrierQuery, 0, 0)
	if e != 0 {
		return os.NewSyscallError("membarrier", e)
	}
	const need = membarrierGlobalExpedited | membarrierRegisterGlobalExpedited
	if mask&need != need {
		return os.NewSyscallError("membarrier", unix.EINVAL)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_MEMBARRIER, membarrierRegisterGlobalExpedited, 0, 0); e != 0 {
		return os.NewSyscallError("membarrier", e)
	}
	return nil
}

// Membarrier issues MEMBARRIER_CMD_GLOBAL_EXPEDITED: when it returns,
// every thread of every process registered with RegisterMembarrier has
// executed a full memory barrier at some point after the call began (the
// calling thread too, on entry and on return). The caller need not be
// registered. It costs a system call plus an inter-processor interrupt
// per CPU that is running a registered process at the time.
func Membarrier() error {
	if _, _, e := unix.Syscall(unix.SYS_MEMBARRIER, membarrierGlobalExpedited, 0, 0); e != 0 {
		return os.NewSyscallError("membarrier", e)
	}
	return nil
}
