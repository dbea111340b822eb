package testenv

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SeccompRule makes one system call fail with Errno instead of running,
// as a kernel without it (ENOSYS) or a container's filter (EPERM) would.
// With Arg >= 0 the rule applies only when the low 32 bits of argument
// number Arg equal Value.
type SeccompRule struct {
	Nr    uintptr
	Arg   int
	Value uint32
	Errno unix.Errno
}

// DenySyscalls installs a seccomp filter with the rules on every thread
// of the calling process, for good: call it only in a child process
// (Child). It sets no_new_privs, which seccomp requires of an
// unprivileged process. The filter sees the system calls of the process
// itself: under a user-mode emulator it would see the emulator's host
// calls instead, so tests that use it skip under emulation.
func DenySyscalls(rules ...SeccompRule) error {
	const (
		offNr   = 0  // struct seccomp_data.nr
		offArgs = 16 // struct seccomp_data.args[0]
	)
	ld := func(off uint32) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off}
	}
	jeq := func(k uint32, jf uint8) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: k, Jf: jf}
	}
	ret := func(k uint32) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: k}
	}
	var prog []unix.SockFilter
	for _, r := range rules {
		deny := ret(unix.SECCOMP_RET_ERRNO | uint32(r.Errno)&0xffff)
		if r.Arg < 0 {
			prog = append(prog, ld(offNr), jeq(uint32(r.Nr), 1), deny)
			continue
		}
		// The low half of a 64-bit argument slot comes first on
		// little-endian machines.
		off := uint32(offArgs + 8*r.Arg)
		if bigEndian {
			off += 4
		}
		prog = append(prog, ld(offNr), jeq(uint32(r.Nr), 3), ld(off), jeq(r.Value, 1), deny)
	}
	prog = append(prog, ret(unix.SECCOMP_RET_ALLOW))
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return os.NewSyscallError("prctl(PR_SET_NO_NEW_PRIVS)", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	tid, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		return os.NewSyscallError("seccomp(SECCOMP_SET_MODE_FILTER)", errno)
	}
	if tid != 0 {
		return fmt.Errorf("seccomp: thread %d could not be synchronised to the filter", tid)
	}
	return nil
}
