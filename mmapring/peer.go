package mmapring

import (
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipckit/ipckit/internal/procstat"
)

// Peer liveness. Every handle holds a slot of the header's peer table:
// ident = pid<<32 | (start time & 0xffffffff), where the start time is
// field 22 of /proc/PID/stat (clock ticks since boot). A process is proven
// dead when /proc/PID/stat is gone, shows a zombie (Z) or dead (X) state,
// or shows a start time more than procstat.Tolerance ticks away (the pid was
// reused). A start time of 0
// in a slot means "unknown" (a C peer that did not look it up): then only
// the pid is compared. Pids are compared in this process's pid namespace,
// so every peer must share it.

// myIdent is this process's ident as other processes see it (its start
// time: procstat.SelfStart, which reads the main thread's stat file, as
// qemu-user would otherwise answer with the calling thread's).
// It is computed once.
var myIdent = sync.OnceValue(func() uint64 {
	return uint64(uint32(os.Getpid()))<<32 | (procstat.SelfStart() & 0xffffffff)
})

// identAlive reports whether the process named by a peer-table ident is
// alive. It errs on the side of "alive": only proven death returns false.
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
	want := uint32(ident)
	if ok && want != 0 && start != 0 && !procstat.SameStart(uint32(start), want) {
		return false // pid reused by a younger process
	}
	return true
}

func (r *Ring) peerIdent(slot int) *uint64 { return r.u64(offPeers + uint64(slot)*peerSize) }
func (r *Ring) peerRole(slot int) *uint32  { return r.u32(offPeers + uint64(slot)*peerSize + 8) }

// register takes a peer slot for role and returns it.
//
// On an SPSC ring the role is exclusive, and two processes (or goroutines)
// may race for it. A claimant first refuses if a live process holds the
// role; it then takes a free slot with the role marked pending
// (rolePending), and re-scans the table: a rival that holds the role
// settled (no pending mark), or pending in a lower slot, wins, and the
// claimant backs off (releases its slot, ErrRoleTaken); a rival pending in a
// higher slot is waited for (it will see this claimant and back off, or
// settle first). A claimant that finds no rival settles by clearing its
// pending mark. Every claimant stores its role before it scans, and all
// these accesses are sequentially consistent, so of two racing claimants
// at least one sees the other: exactly one wins.
func (r *Ring) register(role uint32) (int, error) {
	me := myIdent()
	spsc := r.kind == KindSPSC
	if spsc && r.rival(-1, role) != noRival {
		return -1, ErrRoleTaken
	}
	claim := role
	if spsc {
		claim |= rolePending
	}
	slot := r.claimSlot(me, claim)
	if slot < 0 {
		return -1, ErrRoleTaken
	}
	if !spsc {
		return slot, nil
	}
	for tries := 0; ; tries++ {
		switch r.rival(slot, role) {
		case noRival:
			st32(r.peerRole(slot), role) // settled: the role is ours
			return slot, nil
		case higherPending:
			if tries < maxRegisterWait {
				time.Sleep(time.Duration(tries+1) * 10 * time.Microsecond)
				continue
			}
		}
		r.unregister(slot) // a settled or lower rival wins: back off
		return -1, ErrRoleTaken
	}
}

// maxRegisterWait bounds how long a claimant waits for a higher pending
// rival to settle or back off (a rival stopped in between, by a debugger
// say, must not block registration forever).
const maxRegisterWait = 1000

const (
	noRival = iota
	higherPending
	winningRival // settled, or pending in a lower slot
)

// rival looks for a live process other than slot mine that holds role.
func (r *Ring) rival(mine int, role uint32) int {
	found := noRival
	for s := 0; s < peerSlots; s++ {
		if s == mine {
			continue
		}
		id := atomic.LoadUint64(r.peerIdent(s))
		rl := atomic.LoadUint32(r.peerRole(s))
		if id == 0 || rl&role == 0 || !identAlive(id) {
			continue
		}
		if rl&rolePending == 0 || mine < 0 || s < mine {
			return winningRival
		}
		found = higherPending
	}
	return found
}

// claimSlot takes a free peer slot (or one whose holder is proven dead,
// after repairing every cell that names it) and stores ident and role.
func (r *Ring) claimSlot(me uint64, role uint32) int {
	for pass := 0; pass < 2; pass++ {
		for s := 0; s < peerSlots; s++ {
			id := atomic.LoadUint64(r.peerIdent(s))
			if id == 0 && pass == 0 {
				if cas64(r.peerIdent(s), 0, me) {
					st32(r.peerRole(s), role)
					return s
				}
				continue
			}
			if pass == 1 && id != 0 && !identAlive(id) {
				// Before reusing a dead process's slot, repair every cell it
				// left in flight: afterwards nothing refers to the slot.
				r.repairSlot(s, id)
				if cas64(r.peerIdent(s), id, me) {
					st32(r.peerRole(s), role)
					return s
				}
			}
		}
	}
	return -1
}

// unregister releases a peer slot. It is called by the handle's Close,
// whose reference keeps the mapping alive even after Ring.Close.
func (r *Ring) unregister(slot int) {
	if slot < 0 {
		return
	}
	st32(r.peerRole(slot), 0)
	st64(r.peerIdent(slot), 0)
}

// peersDead reports whether at least one peer with role has attached and
// every such peer is proven dead. Slow path only (reads /proc).
func (r *Ring) peersDead(role uint32) bool {
	seen := false
	for s := 0; s < peerSlots; s++ {
		id := atomic.LoadUint64(r.peerIdent(s))
		if id == 0 || atomic.LoadUint32(r.peerRole(s))&role == 0 {
			continue
		}
		seen = true
		if peerLoaded != nil {
			peerLoaded(s)
		}
		if identAlive(id) {
			return false
		}
		// A peer that left (Close, Detach) and then exited, after the load
		// above, did not die holding the role: only a slot that still
		// names the dead process proves a death. The slot may hold a new
		// peer by now: look again at the next check.
		if atomic.LoadUint64(r.peerIdent(s)) != id {
			return false
		}
	}
	return seen
}

// peerLoaded, when set (by tests only), runs in peersDead between reading
// a peer's ident and testing its process.
var peerLoaded func(slot int)

// Peer describes one attached process in Stats.
type Peer struct {
	Pid      int
	Producer bool
	Consumer bool
	Alive    bool
}
