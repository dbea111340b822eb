package ipctest

import (
	"math/rand/v2"
	"os"
	"strings"
	"sync"
)

var keys sync.Map // int32 -> struct{}

// Key returns a SysV IPC key that no message queue, semaphore set or
// segment uses at the time of the call and that Key has not returned
// before in this process. Another process may still take it before the
// caller does, so create objects with IPC_CREAT|IPC_EXCL and retry with a
// new key on EEXIST. Objects with keys from Key count as Owned.
func Key() int32 {
	inUse := map[int32]bool{}
	for _, kind := range []string{"msg", "sem", "shm"} {
		b, err := os.ReadFile("/proc/sysvipc/" + kind)
		if err != nil {
			continue
		}
		lines := strings.Split(string(b), "\n")
		for _, l := range lines[1:] {
			if fs := strings.Fields(l); len(fs) > 0 {
				inUse[parseKey(fs[0])] = true
			}
		}
	}
	for {
		// Positive, non-zero keys with a recognisable top byte ('I'),
		// so that they stand out in ipcs output.
		k := int32(0x49000000 | rand.Uint32()&0x00ffffff)
		if k == 0 || inUse[k] {
			continue
		}
		if _, loaded := keys.LoadOrStore(k, struct{}{}); loaded {
			continue
		}
		return k
	}
}

func keyHandedOut(k int32) bool {
	_, ok := keys.Load(k)
	return ok
}

func parseKey(s string) int32 {
	var n int64
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return int32(n)
}
