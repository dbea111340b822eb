package proc_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/posix"
	"github.com/ipckit/ipckit/proc"
	"github.com/ipckit/ipckit/sysv"
)

func init() {
	// tracker-root is a program of its own (started by the test with plain
	// exec, so it is the root of its process tree and has its own tracker).
	// It creates objects, tracks some, starts a child and reports; then the
	// test SIGKILLs it. Args: tracked shm, tracked mq, untracked shm,
	// shm tracked then untracked.
	testenv.RegisterChild("tracker-root", func(args []string) int {
		if err := trackerRoot(args); err != nil {
			fmt.Fprintln(os.Stderr, "tracker-root:", err)
			return 1
		}
		select {}
	})
	proc.Register("track-and-exit", func(ctx context.Context, c *proc.Child) error {
		name, err := c.String(0)
		if err != nil {
			return err
		}
		if pid := proc.TrackerPID(); pid != 0 {
			return fmt.Errorf("the child started its own tracker (pid %d) instead of using its parent's", pid)
		}
		s, err := posix.CreateShm(name, 4096)
		if err != nil {
			return err
		}
		s.Close()
		return proc.Track(proc.ShmName, name)
	})
}

func trackerRoot(args []string) error {
	if len(args) != 4 {
		return fmt.Errorf("want 4 names, got %q", args)
	}
	shmTracked, mqTracked, shmUntracked, shmLater := args[0], args[1], args[2], args[3]
	s, err := posix.CreateShm(shmTracked, 4096)
	if err != nil {
		return err
	}
	s.Close()
	if err := proc.Track(proc.ShmName, shmTracked); err != nil {
		return err
	}
	mq, err := posix.CreateQueue(mqTracked, 4, 64)
	if err != nil {
		return err
	}
	mq.Close()
	if err := proc.Track(proc.QueueName, mqTracked); err != nil {
		return err
	}
	q, err := sysv.CreateQueue(sysv.IPCPrivate, nil)
	if err != nil {
		return err
	}
	if err := proc.TrackID(proc.SysVQueue, q.ID()); err != nil {
		return err
	}
	for _, n := range []string{shmUntracked, shmLater} {
		s, err := posix.CreateShm(n, 4096)
		if err != nil {
			return err
		}
		s.Close()
	}
	if err := proc.Track(proc.ShmName, shmLater); err != nil {
		return err
	}
	if err := proc.Untrack(proc.ShmName, shmLater); err != nil {
		return err
	}
	child, err := proc.Start(context.Background(), "stubborn", nil)
	if err != nil {
		return err
	}
	_, err = fmt.Printf("%d %d %d\n", q.ID(), child.Pid(), proc.TrackerPID())
	return err
}

func shmExists(t *testing.T, name string) bool {
	t.Helper()
	p, err := posix.ShmPath(name)
	if err != nil {
		t.Fatal(err)
	}
	_, err = os.Stat(p)
	return err == nil
}

// TestTrackerAfterSIGKILL: a program tracks a shm name, a POSIX queue and
// a SysV queue, starts a child, and is SIGKILLed. Once the tree is gone
// (the child dies with its parent), the tracker removes the tracked
// objects, and only those.
func TestTrackerAfterSIGKILL(t *testing.T) {
	names := []string{ipctest.Name("tracked-shm"), ipctest.Name("tracked-mq"), ipctest.Name("untracked-shm"), ipctest.Name("untracked-later")}
	qid := -1
	t.Cleanup(func() {
		posix.UnlinkShm(names[0])
		posix.UnlinkQueue(names[1])
		posix.UnlinkShm(names[2])
		posix.UnlinkShm(names[3])
		if qid >= 0 {
			sysv.RemoveQueue(qid)
		}
	})
	stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	cmd := testenv.Child(t, "tracker-root", names...)
	cmd.Stderr = stderr // a file, so that Wait does not wait for the tracker to close it
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var childPid, trackerPid int
	line, err := bufio.NewReader(out).ReadString('\n')
	if _, serr := fmt.Sscan(line, &qid, &childPid, &trackerPid); err != nil || serr != nil || trackerPid == 0 {
		cmd.Process.Kill()
		cmd.Wait()
		b, _ := os.ReadFile(stderr.Name())
		t.Fatalf("tracker-root said %q (%v, %v); stderr:\n%s", line, err, serr, b)
	}
	childFD, err := unix.PidfdOpen(childPid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(childFD)
	trackerFD, err := unix.PidfdOpen(trackerPid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(trackerFD)
	for _, n := range names[:1] {
		if !shmExists(t, n) {
			t.Fatalf("%s missing before the kill", n)
		}
	}

	cmd.Process.Kill()
	cmd.Wait()
	if !pidfdExited(t, childFD, time.Second) {
		t.Errorf("the child %d outlived its SIGKILLed parent by a second", childPid)
	}
	if !pidfdExited(t, trackerFD, time.Minute) {
		t.Fatalf("the tracker %d did not finish after its process tree died", trackerPid)
	}
	if shmExists(t, names[0]) {
		t.Errorf("tracked shm %s survived", names[0])
	}
	if _, err := posix.OpenQueueFlags(names[1], unix.O_RDONLY, 0, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("tracked mq %s: open: %v, want ErrNotExist", names[1], err)
	}
	var ds sysv.MsqidDS
	if _, err := sysv.Msgctl(qid, sysv.IPC_STAT, &ds); err == nil {
		t.Errorf("tracked SysV queue %d survived", qid)
	}
	if !shmExists(t, names[2]) {
		t.Errorf("untracked shm %s was removed", names[2])
	}
	if !shmExists(t, names[3]) {
		t.Errorf("untracked (after tracking) shm %s was removed", names[3])
	}
	log, _ := os.ReadFile(stderr.Name())
	for _, want := range []string{"removed shm " + names[0], "removed mq " + names[1], fmt.Sprintf("removed sysv-msg %d", qid)} {
		if !strings.Contains(string(log), want) {
			t.Errorf("the tracker's report lacks %q:\n%s", want, log)
		}
	}
}

// TestTrackerSharedWithChildren: children use their parent's tracker, so
// an object a child tracks survives the child while the tree lives.
func TestTrackerSharedWithChildren(t *testing.T) {
	name := ipctest.Name("child-tracked")
	t.Cleanup(func() { posix.UnlinkShm(name) })
	if err := wait(t, start(t, "track-and-exit", &proc.Options{Handles: []any{name}})); err != nil {
		t.Fatal(err)
	}
	if !shmExists(t, name) {
		t.Fatal("the object a child tracked was removed when the child exited")
	}
	if err := proc.Untrack(proc.ShmName, name); err != nil {
		t.Fatal(err)
	}
}

func TestTrackBadInput(t *testing.T) {
	for _, c := range []struct {
		res  proc.Resource
		name string
	}{
		{"nonsense", "x"},
		{proc.ShmName, ""},
		{proc.ShmName, "a\nb"},
		{proc.ShmName, "a\tb"},
		{proc.QueueName, strings.Repeat("x", 5000)},
		{proc.SysVQueue, "12"}, // needs TrackID
	} {
		if err := proc.Track(c.res, c.name); err == nil {
			t.Errorf("Track(%q, %q) succeeded", c.res, c.name)
		}
	}
	if err := proc.TrackID(proc.SysVQueue, 1<<30); !errors.Is(err, unix.EINVAL) {
		t.Errorf("TrackID of a queue that does not exist: %v, want EINVAL", err)
	}
	if err := proc.TrackID(proc.ShmName, 1); err == nil {
		t.Error("TrackID of a named kind succeeded")
	}
}
