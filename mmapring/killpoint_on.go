//go:build mmapring_killpoints

package mmapring

// Kill points: crash-consistency testing of the shared-memory protocol,
// the way CrashMonkey and ALICE test file systems. Built with the
// mmapring_killpoints tag, every store this package makes to shared
// memory (every call of a helper in store.go) is numbered from 1 in
// program order, and when the number reaches MMAPRING_KILLPOINT the
// process exits at once, before that store, with status
// KillpointStatus, as if SIGKILL had struck it there: no deferred call
// runs, no buffer is flushed, no handle is closed. Before exiting it
// writes one line to stderr naming the store and its caller:
//
//	mmapring killpoint 17: cas64 in (*Consumer).mpmcClaim (consumer.go:512) < (*Consumer).tryPeek < ...
//
// killpoint_test.go drives it: it runs a scenario in a child process for
// every K until the scenario completes without reaching K, and checks
// after each death that the documented recovery keeps every promise of
// LAYOUT.md ("Protocol invariants"). The default build has none of this
// (killpoint_off.go): its killpoint is empty and inlined away.

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// killpointEnv names the environment variable holding K.
const killpointEnv = "MMAPRING_KILLPOINT"

const killpointsBuilt = true

var (
	kpCount atomic.Uint64
	kpAt    = func() uint64 {
		k, _ := strconv.ParseUint(os.Getenv(killpointEnv), 10, 64)
		return k
	}()
)

func killpointStores() uint64 { return kpCount.Load() }

func killpoint() {
	if n := kpCount.Add(1); n == kpAt {
		killpointDie(n)
	}
}

//go:noinline
func killpointDie(n uint64) {
	// Frames: killpointDie, killpoint, the store helper, then its callers
	// (the helpers and killpoint are inlined; CallersFrames expands them).
	var pcs [16]uintptr
	frames := runtime.CallersFrames(pcs[:runtime.Callers(1, pcs[:])])
	var b strings.Builder
	b.WriteString("mmapring killpoint " + strconv.FormatUint(n, 10) + ": ")
	for i := 0; i < 10; i++ {
		f, more := frames.Next()
		name := f.Function
		if j := strings.LastIndexByte(name, '/'); j >= 0 {
			name = name[j+1:]
		}
		name = strings.TrimPrefix(name, "mmapring.")
		switch {
		case i == 2:
			b.WriteString(name + " in ")
		case i == 3:
			b.WriteString(name + " (" + f.File[strings.LastIndexByte(f.File, '/')+1:] + ":" + strconv.Itoa(f.Line) + ")")
		case i > 3:
			b.WriteString(" < " + name)
		}
		if !more || !strings.HasPrefix(f.Function, "github.com/ipckit/ipckit/mmapring.") && i > 3 {
			break
		}
	}
	b.WriteString("\n")
	unix.Write(2, []byte(b.String()))
	unix.Exit(killpointStatus) // exit_group: no defers, no flushing, as SIGKILL
}
