package csp

import (
	"os"
	"sync"
	"sync/atomic"

	"github.com/ipckit/ipckit/internal/procstat"
)

// Liveness of the process holding an end. An end's slot records
// ident = pid<<32 | (start time & 0xffffffff), the start time being field
// 22 of /proc/PID/stat (clock ticks since boot), as mmapring's peer table
// does (mmapring/LAYOUT.md, "Peer table"). A holder is proven dead when
// /proc/PID/stat is gone, shows a zombie (Z) or dead (X) state, or shows a
// start time more than procstat.Tolerance ticks away (the pid was reused).
// Peers must share a pid namespace.

// myIdent is this process's ident as other processes see it (its start
// time: procstat.SelfStart, which reads the main thread's stat file, as
// qemu-user would otherwise answer with the calling thread's).
// It is computed once.
var myIdent = sync.OnceValue(func() uint64 {
	return uint64(uint32(os.Getpid()))<<32 | (procstat.SelfStart() & 0xffffffff)
})

// identOf returns the ident of a running process (start time 0, meaning
// unknown, when /proc cannot tell).
func identOf(pid int) uint64 {
	if pid == os.Getpid() {
		return myIdent()
	}
	st, _, _ := procstat.Stat(pid)
	return uint64(uint32(pid))<<32 | (st & 0xffffffff)
}

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
	start, alive, ok := procstat.Stat(pid)
	if !alive {
		return false
	}
	if want := uint32(ident); ok && want != 0 && start != 0 {
		if !procstat.SameStart(uint32(start), want) {
			return false
		}
	}
	return true
}

// sameProcess reports whether two idents name the same process: the same
// pid, and start times within procstat.Tolerance of each other (or unknown).
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
	return procstat.SameStart(sa, sb)
}

// holds reports whether this process holds the end in slot.
func (s *shared) holds(slot int) bool {
	return sameProcess(atomic.LoadUint64(s.slotIdent(slot)), myIdent())
}
