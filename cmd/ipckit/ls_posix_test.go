package main

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/posix"
)

func findObj(objs []object, kind, name string) *object {
	for i := range objs {
		if objs[i].Kind == kind && objs[i].Name == name {
			return &objs[i]
		}
	}
	return nil
}

func TestPosixListAndRemove(t *testing.T) {
	shmName := ipctest.Name("lsshm")
	shm, err := posix.CreateShm(shmName, 12345)
	if err != nil {
		t.Fatal(err)
	}
	shm.Close()
	t.Cleanup(func() { posix.ShmUnlink(shmName) })

	semName := ipctest.Name("lssem")
	if err := os.WriteFile("/dev/shm/sem."+semName, make([]byte, 32), 0o640); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove("/dev/shm/sem." + semName) })

	qName := ipctest.Name("lsmq")
	q, err := posix.CreateQueue(qName, 4, 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close(); posix.UnlinkQueue(qName) })
	q.TrySend([]byte("12345"), 1)
	q.TrySend([]byte("678"), 2)

	objs, err := listPosix()
	if err != nil {
		if os.Geteuid() != 0 {
			testenv.SkipOrFail(t, "listing queues needs /dev/mqueue mounted or CAP_SYS_ADMIN: %v", err)
		}
		t.Fatal(err)
	}
	if o := findObj(objs, "posix-shm", shmName); o == nil {
		t.Errorf("shm %s not listed", shmName)
	} else if o.Size != 12345 || o.Perms != "0600" || o.ID != -1 || o.Owner == "" {
		t.Errorf("shm object %+v", *o)
	}
	if o := findObj(objs, "posix-sem", semName); o == nil {
		t.Errorf("semaphore %s not listed", semName)
	} else if o.Perms != "0640" || o.Size != 32 {
		t.Errorf("sem object %+v", *o)
	}
	if findObj(objs, "posix-shm", "sem."+semName) != nil {
		t.Error("semaphore also listed as shm")
	}
	if o := findObj(objs, "mqueue", qName); o == nil {
		t.Errorf("queue %s not listed", qName)
	} else if o.Size != 8 || o.Count != 2 || o.Perms != "0600" || !strings.Contains(o.Detail, "maxmsg=4 msgsize=64") {
		t.Errorf("mqueue object %+v", *o)
	}

	// rm, through the registered removers, with and without a slash.
	for _, c := range []struct{ kind, arg string }{
		{"posix-shm", "/" + shmName}, {"posix-sem", semName}, {"mqueue", "/" + qName},
	} {
		if err := removers[c.kind](c.arg); err != nil {
			t.Errorf("rm %s %s: %v", c.kind, c.arg, err)
		}
		if err := removers[c.kind](c.arg); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("second rm %s %s: %v, want ErrNotExist", c.kind, c.arg, err)
		}
	}
	objs, _ = listPosix()
	for _, n := range []string{shmName, semName, qName} {
		for _, o := range objs {
			if o.Name == n {
				t.Errorf("%s %s still listed after rm", o.Kind, n)
			}
		}
	}
	// Bad names are rejected, not turned into paths.
	for kind, rm := range map[string]func(string) error{"posix-shm": removePosixShm, "posix-sem": removePosixSem, "mqueue": removeMqueue} {
		for _, bad := range []string{"", "../etc/passwd", "/a/b", ".."} {
			if bad == ".." && kind == "posix-sem" {
				continue // glibc's sem_open accepts ".." (the file sem...), so it is a name, not an error
			}
			if err := rm(bad); err == nil || errors.Is(err, os.ErrNotExist) {
				t.Errorf("rm %s %q: %v, want a name error", kind, bad, err)
			}
		}
	}
	if err := removePosixShm("sem.x"); err == nil || !strings.Contains(err.Error(), "posix-sem") {
		t.Errorf("rm posix-shm sem.x: %v", err)
	}
}
