package testenv

import (
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// OnNewThread runs f on an OS thread created after the call began (not
// one the runtime already had), locked to it, and returns when f has.
// Under qemu-user, /proc/self/stat (and /proc/<own pid>/stat) report the
// calling thread's start time, not the process's: code that reads its own
// start time from such a thread long after the process started sees a
// later time than every other process sees. Tests of that use this.
func OnNewThread(f func()) {
	old := map[int]bool{}
	if ents, err := os.ReadDir("/proc/self/task"); err == nil {
		for _, e := range ents {
			if tid, err := strconv.Atoi(e.Name()); err == nil {
				old[tid] = true
			}
		}
	}
	release := make(chan struct{})
	defer close(release)
	for {
		ran := make(chan bool)
		go func() {
			runtime.LockOSThread() // the thread ends with the goroutine
			if old[unix.Gettid()] {
				// Keep this thread busy so that the next goroutine needs
				// another one.
				ran <- false
				<-release
				return
			}
			defer func() { ran <- true }()
			f()
		}()
		if <-ran {
			return
		}
	}
}
