package feature

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Constants that golang.org/x/sys does not define (<linux/msg.h>,
// <linux/ipc.h>, <linux/futex.h>).
const (
	ipcPrivate = 0
	ipcCreat   = 0o1000
	ipcNowait  = 0o4000
	ipcRmid    = 0
	msgInfo    = 12
	msgStatAny = 13
	msgCopy    = 0o40000
	futexWake  = 1
)

// SysVIPC probes the direct System V IPC system calls (msgget, semctl,
// shmat, ...). On i386, s390x, powerpc and mips o32 the kernel offered
// only the ipc(2) multiplexer before Linux 5.1 ("arch: add split IPC
// system calls where needed", Arnd Bergmann's y2038 series); ipckit, like
// golang.org/x/sys, uses the direct calls. Elsewhere they are as old as
// the architecture's port. CONFIG_SYSVIPC=n also removes them.
var SysVIPC = configurable(NewTest("System V IPC system calls", sysvMinimum(), func() error {
	var info [8]int32 // struct msginfo
	_, _, errno := unix.Syscall(unix.SYS_MSGCTL, 0, msgInfo, uintptr(unsafe.Pointer(&info)))
	return probeErrno(errno)
}))

func sysvMinimum() string {
	switch runtime.GOARCH {
	case "386", "s390x", "ppc64", "ppc64le", "mips", "mipsle":
		return "5.1"
	}
	return "2.6"
}

// StatAny probes MSG_STAT_ANY, SEM_STAT_ANY and SHM_STAT_ANY, which
// enumerate objects without read permission; all three arrived together
// in Linux 4.17. An unknown command and a free index both give EINVAL, so
// the probe creates a private message queue (removed at once) and looks
// for any index that MSG_STAT_ANY accepts.
var StatAny = NewTest("MSG_STAT_ANY/SEM_STAT_ANY/SHM_STAT_ANY", "4.17", func() error {
	id, _, errno := unix.Syscall(unix.SYS_MSGGET, ipcPrivate, ipcCreat|0o600, 0)
	if errno == unix.ENOSYS {
		return ErrNotSupported
	}
	if errno != 0 {
		return os.NewSyscallError("msgget", errno)
	}
	defer unix.Syscall(unix.SYS_MSGCTL, id, ipcRmid, 0)
	var info [8]int32
	maxIdx, _, errno := unix.Syscall(unix.SYS_MSGCTL, 0, msgInfo, uintptr(unsafe.Pointer(&info)))
	if errno != 0 {
		return os.NewSyscallError("msgctl(MSG_INFO)", errno)
	}
	var ds [64]uint64 // larger than struct msqid64_ds on every ABI
	for i := uintptr(0); i <= maxIdx; i++ {
		_, _, errno := unix.Syscall(unix.SYS_MSGCTL, i, msgStatAny, uintptr(unsafe.Pointer(&ds)))
		if errno == 0 {
			return nil
		}
		if errno != unix.EINVAL {
			return os.NewSyscallError("msgctl(MSG_STAT_ANY)", errno)
		}
	}
	return ErrNotSupported
})

// MsgCopy probes msgrcv's MSG_COPY (Linux 3.8), which exists only with
// CONFIG_CHECKPOINT_RESTORE: without it the kernel answers ENOSYS before
// looking up the queue, with it a queue id that cannot exist gives
// EINVAL (or EIDRM). Kernels before 3.8 silently ignore the flag (and
// would remove the message), so the probe trusts no kernel that old.
var MsgCopy = configurable(NewTest("msgrcv MSG_COPY", "3.8", func() error {
	kv, err := KernelVersion()
	if err != nil {
		return err
	}
	if kv.Less(Version{3, 8, 0}) {
		return ErrNotSupported
	}
	var buf [16]uint64
	_, _, errno := unix.Syscall6(unix.SYS_MSGRCV, 0x7fffffff, uintptr(unsafe.Pointer(&buf)), 8, 0, msgCopy|ipcNowait, 0)
	switch errno {
	case unix.ENOSYS, unix.EPERM:
		return ErrNotSupported
	case unix.EINVAL, unix.EIDRM, unix.ENOMSG, 0:
		return nil
	}
	return os.NewSyscallError("msgrcv(MSG_COPY)", errno)
}))

// Mqueue probes POSIX message queues (Linux 2.6.6, CONFIG_POSIX_MQUEUE):
// opening a name that does not exist gives ENOENT, a kernel without them
// ENOSYS.
var Mqueue = configurable(NewTest("POSIX message queues", "2.6.6", func() error {
	// Like glibc, pass the name without its leading slash but keep the
	// slash in the byte before it: qemu-user hands name-1 to the host's
	// mq_open(3), which requires the slash (EINVAL otherwise).
	name, err := unix.ByteSliceFromString(fmt.Sprintf("/ipckit-feature-probe-%d-absent", os.Getpid()))
	if err != nil {
		return err
	}
	fd, _, errno := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(&name[1])), unix.O_RDONLY, 0, 0, 0, 0)
	switch errno {
	case 0:
		unix.Close(int(fd))
		return nil
	case unix.ENOENT, unix.EACCES:
		return nil
	case unix.ENOSYS:
		return ErrNotSupported
	}
	return os.NewSyscallError("mq_open", errno)
}))

// MqNotify probes mq_notify(2) (Linux 2.6.6, with POSIX message queues):
// a bad descriptor gives EBADF when the call exists. qemu-user 7.2 does
// not implement it (ENOSYS) although the host kernel does.
var MqNotify = configurable(NewTest("mq_notify", "2.6.6", func() error {
	_, _, errno := unix.Syscall(unix.SYS_MQ_NOTIFY, ^uintptr(0), 0, 0)
	return probeErrno(errno)
}))

// RobustList probes the robust futex list (set_robust_list and
// get_robust_list, Linux 2.6.17), which crash-safe locks shared with
// glibc's robust mutexes need. The probe only reads the calling thread's
// head (get_robust_list), so it changes nothing. qemu-user does not
// implement either call (ENOSYS): the list lives in guest memory that the
// host kernel cannot walk at thread exit.
var RobustList = NewTest("robust futex list (set_robust_list)", "2.6.17", func() error {
	var head, size uintptr
	_, _, errno := unix.Syscall(unix.SYS_GET_ROBUST_LIST, 0, uintptr(unsafe.Pointer(&head)), uintptr(unsafe.Pointer(&size)))
	return probeErrno(errno)
})

// IPCNamespace probes IPC namespaces (CLONE_NEWIPC, CONFIG_IPC_NS). The
// probe looks for /proc/self/ns/ipc, which Linux 3.0 introduced; creating
// a namespace needs CAP_SYS_ADMIN, which a probe must not assume.
var IPCNamespace = configurable(NewTest("IPC namespaces", "3.0", func() error {
	if _, err := os.Stat("/proc/self/ns"); err != nil {
		return fmt.Errorf("/proc is not mounted: %w", err)
	}
	if _, err := os.Stat("/proc/self/ns/ipc"); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ErrNotSupported
		}
		return err
	}
	return nil
}))

// Time64 probes the _time64 system calls (futex_time64,
// semtimedop_time64, mq_timedsend_time64, ...) that 32-bit architectures
// need for 64-bit time and that ipckit uses there; they arrived in Linux
// 5.1. 64-bit architectures have 64-bit time in the classic calls.
var Time64 = NewTest("_time64 system calls", "5.1", func() error {
	if unsafe.Sizeof(uintptr(0)) == 8 {
		return nil
	}
	// A shared FUTEX_WAKE (the operation ipckit uses on shared memory)
	// of nobody on a word of the probe's own returns 0; a kernel without
	// the call returns ENOSYS.
	var w uint32
	_, _, errno := unix.Syscall6(sysFutexTime64, uintptr(unsafe.Pointer(&w)), futexWake, 0, 0, 0, 0)
	return probeErrno(errno)
})

// FutexWaitv probes futex_waitv(2) (Linux 5.16): zero waiters is EINVAL
// when the call exists.
var FutexWaitv = NewTest("futex_waitv", "5.16", func() error {
	_, _, errno := unix.Syscall6(unix.SYS_FUTEX_WAITV, 0, 0, 0, 0, 0, 0)
	return probeErrno(errno)
})

// Futex2 probes futex_wake, futex_wait and futex_requeue (Linux 6.7):
// futex_wake with a size other than FUTEX2_SIZE_U32 is EINVAL when the
// calls exist.
var Futex2 = NewTest("futex_wake/futex_wait/futex_requeue", "6.7", func() error {
	_, _, errno := unix.Syscall6(unix.SYS_FUTEX_WAKE, 0, 0, 0, 0, 0, 0)
	return probeErrno(errno)
})

// probeErrno maps a probe call's errno: ENOSYS means missing, and so does
// EPERM, which none of the probe calls can return from the kernel itself
// but seccomp filters use for calls they block (Docker's default profile
// did for calls newer than itself); any other outcome means the kernel
// knows the call.
func probeErrno(errno unix.Errno) error {
	if errno == unix.ENOSYS || errno == unix.EPERM {
		return ErrNotSupported
	}
	return nil
}

func configurable(t *Test) *Test {
	t.Configurable = true
	return t
}
