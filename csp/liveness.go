package csp

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Liveness of the process holding an end. An end's slot records
// ident = pid<<32 | (start time & 0xffffffff), the start time being field
// 22 of /proc/PID/stat (clock ticks since boot), as mmapring's peer table
// does (mmapring/LAYOUT.md, "Peer table"). A holder is proven dead when
// /proc/PID/stat is gone, shows a zombie (Z) or dead (X) state, or shows a
// start time more than startTolerance ticks away (the pid was reused).
// Peers must share a pid namespace.

var (
	selfOnce  sync.Once
	selfIdent uint64
)

func myIdent() uint64 {
	selfOnce.Do(func() { selfIdent = ownIdent() })
	return selfIdent
}

// ownIdent returns this process's ident as every other process sees it.
// Its start time comes from /proc/PID/task/PID/stat, the main thread's,
// which is the process's: qemu-user answers /proc/self/stat and
// /proc/PID/stat itself when a guest reads its own, with the start time
// of the calling thread (a thread made seconds after the process would
// make every other process take this one for a pid reused by a newer
// process), and passes task/ paths to the kernel (docs/ABI.md §10).
func ownIdent() uint64 {
	pid := os.Getpid()
	p := strconv.Itoa(pid)
	st, _, _ := statFile("/proc/"+p+"/task/"+p+"/stat", pid)
	if st == 0 {
		st, _, _ = procStat(pid)
	}
	return uint64(uint32(pid))<<32 | (st & 0xffffffff)
}

// identOf returns the ident of a running process (start time 0, meaning
// unknown, when /proc cannot tell).
func identOf(pid int) uint64 {
	if pid == os.Getpid() {
		return myIdent()
	}
	st, _, _ := procStat(pid)
	return uint64(uint32(pid))<<32 | (st & 0xffffffff)
}

// procStat returns the start time of pid and whether it is running
// (neither gone, zombie nor dead). ok is false when /proc could not be read
// for another reason than the process's absence.
func procStat(pid int) (start uint64, alive bool, ok bool) {
	return statFile("/proc/"+strconv.Itoa(pid)+"/stat", pid)
}

// statFile is procStat reading the stat file at path.
func statFile(path string, pid int) (start uint64, alive bool, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return 0, false, true
		}
		kerr := unix.Kill(pid, 0)
		return 0, kerr == nil || kerr == unix.EPERM, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0, true, false
	}
	fields := bytes.Fields(b[i+2:])
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

// startTolerance: see mmapring (qemu-user reports a guest's start time a
// few ticks late).
const startTolerance = 100

// identAlive reports whether the process named by ident is alive; only
// proven death returns false.
func identAlive(ident uint64) bool {
	pid := int(ident >> 32)
	if pid <= 0 {
		return false
	}
	if ident == myIdent() {
		return true
	}
	start, alive, ok := procStat(pid)
	if !alive {
		return false
	}
	if want := uint32(ident); ok && want != 0 && start != 0 {
		if d := int32(uint32(start) - want); d < -startTolerance || d > startTolerance {
			return false
		}
	}
	return true
}

// sameProcess reports whether two idents name the same process: the same
// pid, and start times within startTolerance of each other (or unknown).
// A process's own view of its start time and its parent's view can differ
// by a few ticks under qemu-user.
func sameProcess(a, b uint64) bool {
	if a>>32 != b>>32 {
		return false
	}
	sa, sb := uint32(a), uint32(b)
	if sa == 0 || sb == 0 {
		return true
	}
	d := int32(sa - sb)
	return d >= -startTolerance && d <= startTolerance
}

// holds reports whether this process holds the end in slot.
func (s *shared) holds(slot int) bool {
	return sameProcess(atomic.LoadUint64(s.slotIdent(slot)), myIdent())
}
