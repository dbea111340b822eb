package sysv

import (
	"strings"
	"testing"
)

// FuzzParseProc feeds arbitrary text to the /proc/sysvipc parser: it must
// return objects or an error, never panic.
func FuzzParseProc(f *testing.F) {
	f.Add("       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n  305441741          0   644           3          1  1234     0     0     0     0     0 1700000000          0 1700000000\n")
	f.Add("       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n          0      32768   600          3     0     0     0     0          0 1700000000\n")
	f.Add("       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n          0          5  1600                  4096   100   100      1     0     0     0     0 1700000000          0 1700000000                  4096                     0\n")
	f.Add("key perms uid gid cuid cgid ctime\n-1 99999999999 x y z\n")
	// Repeated column names once indexed past a short row.
	f.Add("key key perms uid gid cuid cgid ctime msqid shmid semid\n1 2 3 4 5 6 7 8 9 10\n")
	f.Fuzz(func(t *testing.T, text string) {
		for _, k := range []Kind{MessageQueue, SemaphoreSet, SharedMemory} {
			objs, err := parseProc(k, strings.NewReader(text))
			if err == nil {
				for _, o := range objs {
					if o.Kind != k {
						t.Fatalf("kind %v in a %v listing", o.Kind, k)
					}
				}
			}
		}
	})
}
