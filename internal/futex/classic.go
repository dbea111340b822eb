package futex

import (
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/abi"
	"github.com/ipckit/ipckit/internal/feature"
)

// Which futex system call an operation uses (docs/ABI.md, "futex and the
// _time64 calls"):
//
//   - Operations without a timeout (every wake, and waits that block
//     forever) use the classic futex(2), which every kernel has. On 32-bit
//     architectures the _time64 variant (futex_time64, Linux 5.1) differs
//     only in the width of its timespec, so nothing is gained by using it
//     where there is no timespec, and kernels before 5.1 answer ENOSYS.
//   - Timed operations on 64-bit architectures use futex(2), whose timespec
//     already has 64-bit seconds.
//   - Timed operations on 32-bit architectures (386, arm, mips, mipsle) use
//     futex_time64 where the kernel has it (feature.Time64, checked once),
//     and otherwise futex(2) with the 32-bit struct timespec, whose seconds
//     end in January 2038: a later deadline is clamped to that limit.
//     A futex_time64 call that fails with ENOSYS (a kernel or seccomp
//     filter the probe did not see) is retried with futex(2) once, and the
//     classic call is used from then on if that retry is accepted.

// classicIsTime64 is true where futex(2) itself takes 64-bit seconds (every
// 64-bit architecture: abi.SysFutex is then SYS_FUTEX).
const classicIsTime64 = abi.SysFutex == unix.SYS_FUTEX

// time64State caches whether futex_time64 is usable: 0 unknown, 1 yes,
// 2 no. Only 32-bit architectures consult it.
var time64State atomic.Int32

// forceClassic makes timed operations on 32-bit architectures take the
// futex(2) path with a 32-bit timespec, as on a kernel older than 5.1;
// tests set it.
var forceClassic atomic.Bool

func useTime64() bool {
	if forceClassic.Load() {
		return false
	}
	switch time64State.Load() {
	case 1:
		return true
	case 2:
		return false
	}
	if feature.Time64.Supported() {
		time64State.Store(1)
		return true
	}
	time64State.Store(2)
	return false
}

// untimed performs a futex operation that takes no timeout, with futex(2).
func untimed(addr *uint32, op int, val uint32, val3 uint32) (int, error) {
	return futexClassic(addr, op, val, nil, nil, val3)
}

// timed performs a futex operation with the timeout ts (relative or
// absolute, as op says; nil blocks without one) through the call that
// this kernel and architecture accept.
func timed(addr *uint32, op int, val uint32, ts *abi.Timespec, val3 uint32) (int, error) {
	if ts == nil {
		return untimed(addr, op, val, val3)
	}
	if classicIsTime64 {
		return Futex(addr, op, val, ts, nil, val3)
	}
	if useTime64() {
		n, err := Futex(addr, op, val, ts, nil, val3)
		if err != unix.ENOSYS {
			return n, err
		}
		// Either futex_time64 is missing (a kernel before 5.1, or a
		// seccomp filter) or op itself is unknown to this kernel: the
		// classic call tells them apart.
		old := oldTimespec(ts)
		n, err = futexClassic(addr, op, val, &old, nil, val3)
		if err != unix.ENOSYS {
			time64State.Store(2)
		}
		return n, err
	}
	old := oldTimespec(ts)
	return futexClassic(addr, op, val, &old, nil, val3)
}

// maxOldSec is the largest tv_sec of the classic timespec: a C long.
const maxOldSec = int64(^uint(0) >> 1)

// oldTimespec converts ts to the classic timespec, clamping seconds that
// do not fit (after 2038 on 32-bit architectures) to the largest value.
func oldTimespec(ts *abi.Timespec) abi.OldTimespec {
	if ts.Sec > maxOldSec {
		return abi.OldTimespec{Sec: int(maxOldSec), Nsec: 999_999_999}
	}
	return abi.OldTimespec{Sec: int(ts.Sec), Nsec: int(ts.Nsec)}
}
