package proc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/posix"
	"github.com/ipckit/ipckit/semaphore"
	"github.com/ipckit/ipckit/sysv"
)

// Resource is a kind of named object that Track can own.
type Resource string

// The kinds of object the tracker removes, each with the name Track takes.
const (
	ShmName     Resource = "shm"      // a POSIX shared-memory name (posix.CreateShm, mmapring.CreateShm)
	QueueName   Resource = "mq"       // a POSIX message queue name
	SemName     Resource = "sem"      // a glibc named semaphore (semaphore.Create): /dev/shm/sem.NAME
	FilePath    Resource = "path"     // a file (mmapring.CreatePath, a FIFO); made absolute by Track
	SysVQueue   Resource = "sysv-msg" // a System V message queue id (TrackID)
	SysVSemSet  Resource = "sysv-sem" // a System V semaphore set id (TrackID)
	SysVSegment Resource = "sysv-shm" // a System V shared-memory segment id (TrackID)
)

// ErrTracker is matched by the errors of Track and Untrack when the
// resource tracker cannot be reached.
var ErrTracker = errors.New("proc: resource tracker unavailable")

const trackerName = "ipckit/proc.tracker"

func init() { registerInternal(trackerName, trackerMain, true) }

// The tracker is a copy of this program, started on the first Start or
// Track, that outlives it: it has no parent-death signal and its own
// process group, and ignores SIGINT, SIGTERM and SIGHUP. It reads a pipe
// whose write ends only this process and its descendants hold (Start
// passes one to every child). Track and Untrack write one line each, well
// under PIPE_BUF, so lines from several processes never interleave, and a
// line written before a process is killed is read after. When every
// writer is gone, that is when this process and all its descendants have
// exited however they died, the read returns EOF and the tracker removes
// what is still tracked. It removes nothing it was not told to own.
var trk struct {
	mu   sync.Mutex
	w    *os.File // the write end: our own tracker's, or inherited
	proc *Process // our own tracker (nil when inherited)
}

// inheritTracker adopts the tracker descriptor a parent handed over.
func inheritTracker(w *os.File) {
	trk.mu.Lock()
	trk.w = w
	trk.mu.Unlock()
}

// trackerEnd returns a duplicate of the tracker's write end for a child,
// or nil when there is no tracker.
func trackerEnd() (*os.File, error) {
	trk.mu.Lock()
	defer trk.mu.Unlock()
	if trk.w == nil {
		return nil, nil
	}
	return dupFile(trk.w, "proc-tracker")
}

// ensureTracker starts this process's tracker unless it has one (its own,
// or inherited from a parent started by Start).
func ensureTracker() error {
	trk.mu.Lock()
	defer trk.mu.Unlock()
	if trk.w != nil {
		return nil
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return fmt.Errorf("%w: %v", ErrTracker, os.NewSyscallError("pipe2", err))
	}
	r := os.NewFile(uintptr(fds[0]), "proc-tracker")
	w := os.NewFile(uintptr(fds[1]), "proc-tracker")
	defer r.Close()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		w.Close()
		return fmt.Errorf("%w: %v", ErrTracker, err)
	}
	defer null.Close()
	p, err := start(context.Background(), trackerName,
		&Options{Handles: []any{r}, Stdin: null, Stdout: null, Dir: "/"}, spawnConfig{detached: true})
	if err != nil {
		w.Close()
		return fmt.Errorf("%w: starting it: %v", ErrTracker, err)
	}
	trk.w, trk.proc = w, p
	return nil
}

// Track hands the named object to the resource tracker: once this process
// and every process it started with Start (and theirs) have exited,
// however they died, the tracker removes it. Track the objects you create,
// right after creating them; never track an object another program
// created and still uses. Untrack gives the object back (before handing
// it to a program outside the tree, or after removing it yourself).
// Tracking the same object twice is the same as once.
//
// For the System V kinds use TrackID. FilePath names are made absolute.
func Track(res Resource, name string) error { return trackLine('T', res, name, "") }

// Untrack tells the tracker to leave the object alone.
func Untrack(res Resource, name string) error { return trackLine('U', res, name, "") }

// TrackID is Track for a System V object by id. The tracker removes it
// only if the id still has the key it had when it was tracked.
func TrackID(res Resource, id int) error {
	key, err := sysvKey(res, id)
	if err != nil {
		return err
	}
	return trackLine('T', res, strconv.Itoa(id), strconv.FormatInt(int64(key), 10))
}

// UntrackID is Untrack for a System V object by id.
func UntrackID(res Resource, id int) error {
	if !res.sysv() {
		return fmt.Errorf("proc: UntrackID of %q: not a System V kind", res)
	}
	return trackLine('U', res, strconv.Itoa(id), "")
}

func (r Resource) sysv() bool { return r == SysVQueue || r == SysVSemSet || r == SysVSegment }

func (r Resource) valid() bool {
	switch r {
	case ShmName, QueueName, SemName, FilePath, SysVQueue, SysVSemSet, SysVSegment:
		return true
	}
	return false
}

const trackLineMax = 4000 // below PIPE_BUF (4096), so each write is atomic

func trackLine(op byte, res Resource, name, extra string) error {
	if !mainCalled.Load() {
		return fmt.Errorf("%w: the resource tracker is a copy of this program", ErrNoMain)
	}
	if !res.valid() {
		return fmt.Errorf("proc: unknown resource kind %q", res)
	}
	if res.sysv() && extra == "" && op == 'T' {
		return fmt.Errorf("proc: track System V objects with TrackID")
	}
	if res == FilePath {
		abs, err := filepath.Abs(name)
		if err != nil {
			return err
		}
		name = abs
	}
	if name == "" || strings.ContainsAny(name, "\t\n\x00") {
		return fmt.Errorf("proc: cannot track %s %q: empty, or holds a tab, newline or NUL", res, name)
	}
	line := string(op) + "\t" + string(res) + "\t" + name + "\t" + extra + "\n"
	if len(line) > trackLineMax {
		return fmt.Errorf("proc: cannot track %s: name of %d bytes is too long", res, len(name))
	}
	if err := ensureTracker(); err != nil {
		return err
	}
	trk.mu.Lock()
	w := trk.w
	trk.mu.Unlock()
	if _, err := w.Write([]byte(line)); err != nil {
		return fmt.Errorf("%w: %v", ErrTracker, err)
	}
	return nil
}

func sysvKey(res Resource, id int) (int32, error) {
	switch res {
	case SysVQueue:
		var ds sysv.MsqidDS
		if _, err := sysv.Msgctl(id, sysv.IPC_STAT, &ds); err != nil {
			return 0, os.NewSyscallError("msgctl(IPC_STAT)", err)
		}
		return ds.Perm.Key, nil
	case SysVSemSet:
		var ds sysv.SemidDS
		if _, err := sysv.SemctlBuf(id, sysv.IPC_STAT, &ds); err != nil {
			return 0, os.NewSyscallError("semctl(IPC_STAT)", err)
		}
		return ds.Perm.Key, nil
	case SysVSegment:
		var ds sysv.ShmidDS
		if _, err := sysv.Shmctl(id, sysv.IPC_STAT, &ds); err != nil {
			return 0, os.NewSyscallError("shmctl(IPC_STAT)", err)
		}
		return ds.Perm.Key, nil
	}
	return 0, fmt.Errorf("proc: TrackID of %q: not a System V kind", res)
}

type tracked struct {
	res   Resource
	name  string
	extra string
}

// trackerMain is the tracker process: read until every writer is gone,
// then remove what is still owned.
func trackerMain(_ context.Context, c *Child) error {
	f, err := c.File(0)
	if err != nil {
		return err
	}
	defer f.Close()
	var order []string
	owned := map[string]tracked{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 8192), 64<<10)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), "\t")
		if len(fs) != 4 || len(fs[0]) != 1 || !Resource(fs[1]).valid() || fs[2] == "" {
			fmt.Fprintf(os.Stderr, "proc: resource tracker: ignoring a malformed line %q\n", sc.Text())
			continue
		}
		t := tracked{res: Resource(fs[1]), name: fs[2], extra: fs[3]}
		key := fs[1] + "\t" + fs[2]
		switch fs[0] {
		case "T":
			if _, ok := owned[key]; !ok {
				order = append(order, key)
			}
			owned[key] = t
		case "U":
			delete(owned, key)
		}
	}
	// EOF (or a read error, which cannot be recovered from either): the
	// process tree is gone.
	for _, key := range order {
		t, ok := owned[key]
		if !ok {
			continue
		}
		delete(owned, key)
		err := t.remove()
		switch {
		case err == nil:
			fmt.Fprintf(os.Stderr, "proc: resource tracker: removed %s %s, which its process tree left behind\n", t.res, t.name)
		case errors.Is(err, os.ErrNotExist), errors.Is(err, unix.EINVAL), errors.Is(err, unix.EIDRM):
			// Already gone.
		default:
			fmt.Fprintf(os.Stderr, "proc: resource tracker: removing %s %s: %v\n", t.res, t.name, err)
		}
	}
	return nil
}

func (t tracked) remove() error {
	switch t.res {
	case ShmName:
		return posix.UnlinkShm(t.name)
	case QueueName:
		return posix.UnlinkQueue(t.name)
	case SemName:
		return semaphore.Unlink(t.name)
	case FilePath:
		if err := unix.Unlink(t.name); err != nil {
			return &os.PathError{Op: "unlink", Path: t.name, Err: err}
		}
		return nil
	}
	id, err := strconv.Atoi(t.name)
	if err != nil {
		return err
	}
	key, err := sysvKey(t.res, id)
	if err != nil {
		return err
	}
	if strconv.FormatInt(int64(key), 10) != t.extra {
		// The id was removed and reused for another object: not ours.
		return os.ErrNotExist
	}
	switch t.res {
	case SysVQueue:
		_, err = sysv.Msgctl(id, sysv.IPC_RMID, nil)
	case SysVSemSet:
		_, err = sysv.SemctlVal(id, 0, sysv.IPC_RMID, 0)
	case SysVSegment:
		_, err = sysv.Shmctl(id, sysv.IPC_RMID, nil)
	}
	if err != nil {
		return os.NewSyscallError("IPC_RMID", err)
	}
	return nil
}
