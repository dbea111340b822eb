// Package procstat tells whether a process recorded by pid and start time
// still runs, for the liveness checks of mmapring's peer table, csp's end
// slots and shmheap's locks. A process is named by its pid and its start
// time, field 22 of /proc/PID/stat (clock ticks since boot), so that a
// pid reused by a newer process is not taken for the old one. Only proven
// death counts: a process is reported gone when /proc/PID/stat is absent,
// shows a zombie (Z) or dead (X, x) state, or (for callers comparing start
// times) a start time more than Tolerance ticks away. Peers must share a
// pid namespace. docs/ABI.md §10 has the sources.
package procstat

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// Tolerance is how far (in clock ticks, usually 1/100 s) a recorded start
// time may be from the one /proc shows and still name the same process.
// qemu-user reports a guest's own start time a few ticks later than the
// kernel does; a pid reused within a second would need the whole pid space
// to cycle in that second.
const Tolerance = 100

// SameStart reports whether two start times (their low 32 bits) are within
// Tolerance of each other.
func SameStart(a, b uint32) bool {
	d := int32(a - b)
	return d >= -Tolerance && d <= Tolerance
}

// Stat returns the start time of pid and whether it is running (neither
// gone, a zombie nor dead). ok is false when /proc could not be read for
// another reason than the process's absence; then running comes from
// kill(pid, 0) and start is 0.
func Stat(pid int) (start uint64, running bool, ok bool) {
	return statFile("/proc/"+strconv.Itoa(pid)+"/stat", pid)
}

var (
	selfOnce  sync.Once
	selfStart uint64
)

// SelfStart returns this process's start time as every other process sees
// it (0 if /proc cannot tell). It is read from /proc/PID/task/PID/stat, the
// main thread's, which is the process's: qemu-user answers /proc/self/stat
// and /proc/PID/stat itself when a guest reads its own, with the start time
// of the calling thread (a thread made seconds after the process would make
// every other process take this one for a pid reused by a newer process),
// and passes task/ paths to the kernel.
func SelfStart() uint64 {
	selfOnce.Do(func() {
		pid := os.Getpid()
		p := strconv.Itoa(pid)
		selfStart, _, _ = statFile("/proc/"+p+"/task/"+p+"/stat", pid)
		if selfStart == 0 {
			selfStart, _, _ = Stat(pid)
		}
	})
	return selfStart
}

// statFile is Stat reading the stat file at path.
func statFile(path string, pid int) (start uint64, running bool, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) || errors.Is(err, unix.ESRCH) {
			return 0, false, true
		}
		// No /proc: only the pid can be checked.
		kerr := unix.Kill(pid, 0)
		return 0, kerr == nil || kerr == unix.EPERM, false
	}
	// The command name is in parentheses and may contain anything; fields
	// resume after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0, true, false
	}
	fields := bytes.Fields(b[i+2:])
	// fields[0] is field 3 (state); the start time is field 22: fields[19].
	if len(fields) < 20 {
		return 0, true, false
	}
	if s := fields[0]; len(s) == 1 && (s[0] == 'Z' || s[0] == 'X' || s[0] == 'x') {
		return 0, false, true
	}
	st, err := strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return 0, true, false
	}
	return st, true, true
}
