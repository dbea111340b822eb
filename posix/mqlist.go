package posix

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// MqueueDir is where the mqueue filesystem is normally mounted.
const MqueueDir = "/dev/mqueue"

const mqueueMagic = 0x19800202

// QueueInfo is one message queue as the mqueue filesystem shows it.
type QueueInfo struct {
	Name      string // without the leading slash
	QSize     uint64 // bytes queued (sum of message lengths)
	Notify    int    // sigev_notify of the registration (0 signal, 1 none, 2 thread); meaningful when NotifyPID != 0
	Signo     int    // signal of a SIGEV_SIGNAL registration
	NotifyPID int    // registered process (0: no registration), in the reader's pid namespace
	Mode      os.FileMode
	UID, GID  uint32
	ModTime   time.Time
}

// ListQueues lists the message queues of the calling thread's IPC
// namespace with their QSIZE and notification state.
//
// No system call enumerates queues; the mqueue filesystem is the only
// source. If it is mounted at /dev/mqueue, ListQueues reads it there.
// Otherwise it mounts a private instance: on a locked OS thread it enters
// a new mount namespace (unshare(CLONE_NEWNS), which on Linux affects only
// that thread), makes every mount private so nothing propagates back,
// mounts mqueue on a fresh temporary directory, reads it, and lets the
// thread exit, which discards the namespace and the mount (that thread is
// never the process's main thread, which the Go runtime cannot end). That
// needs CAP_SYS_ADMIN; without it ListQueues returns an error matching
// os.ErrPermission. The temporary directory is removed afterwards.
//
// Reading a queue's status file opens and closes the queue, which cancels
// a notification registration held by this process (kernel rule).
func ListQueues() ([]QueueInfo, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(MqueueDir, &st); err == nil && st.Type == mqueueMagic {
		return readQueueDir(MqueueDir)
	}
	return listQueuesPrivateMount()
}

func listQueuesPrivateMount() ([]QueueInfo, error) {
	dir, err := os.MkdirTemp("", "ipckit-mqueue-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(dir)
	type result struct {
		qs  []QueueInfo
		err error
	}
	ch := make(chan result, 1)
	onDiscardedThread(func() {
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			ch <- result{err: &os.SyscallError{Syscall: "unshare(CLONE_NEWNS) for a private mqueue mount", Err: err}}
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			ch <- result{err: &os.SyscallError{Syscall: "mount(MS_PRIVATE)", Err: err}}
			return
		}
		if err := unix.Mount("mqueue", dir, "mqueue", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			ch <- result{err: &os.SyscallError{Syscall: "mount(mqueue)", Err: err}}
			return
		}
		qs, err := readQueueDir(dir)
		unix.Unmount(dir, unix.MNT_DETACH)
		ch <- result{qs, err}
	})
	r := <-ch
	return r.qs, r.err
}

// onDiscardedThread runs body on a goroutine locked to an OS thread that
// the runtime ends when body returns (the goroutine exits still locked),
// and waits for it, so that what body does to its thread (unshare) dies
// with the thread. The main thread is never used: the runtime cannot end
// it and would keep it, in body's namespace, for good. A goroutine that
// lands on the main thread keeps it locked while body runs on a goroutine
// of its own, which then cannot be scheduled there, and gives it back
// unchanged afterwards.
func onDiscardedThread(body func()) {
	done := make(chan struct{})
	go runLockedOffMain(body, done)
	<-done
}

func runLockedOffMain(body func(), finished chan<- struct{}) {
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		inner := make(chan struct{})
		go runLockedOffMain(body, inner)
		<-inner
		runtime.UnlockOSThread()
		close(finished)
		return
	}
	defer close(finished)
	body()
	// Return still locked: the thread exits with the goroutine.
}

func readQueueDir(dir string) ([]QueueInfo, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []QueueInfo
	for _, e := range ents {
		qi, err := readQueueStatus(filepath.Join(dir, e.Name()))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // unlinked meanwhile
			}
			return out, err
		}
		qi.Name = e.Name()
		out = append(out, qi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// readQueueStatus parses "QSIZE:%-10lu NOTIFY:%-5d SIGNO:%-5d NOTIFY_PID:%-6d".
func readQueueStatus(path string) (QueueInfo, error) {
	var qi QueueInfo
	f, err := os.Open(path)
	if err != nil {
		return qi, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return qi, err
	}
	qi.Mode = fi.Mode().Perm()
	qi.ModTime = fi.ModTime()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		qi.UID, qi.GID = st.Uid, st.Gid
	}
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && line == "" {
		return qi, err
	}
	if err := parseQueueStatus(line, &qi); err != nil {
		return qi, fmt.Errorf("%s: %w", path, err)
	}
	return qi, nil
}

func parseQueueStatus(line string, qi *QueueInfo) error {
	seen := 0
	for _, field := range strings.Fields(line) {
		k, v, ok := strings.Cut(field, ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("mqueue status %q: %v", line, err)
		}
		switch k {
		case "QSIZE":
			qi.QSize = uint64(n)
			seen++
		case "NOTIFY":
			qi.Notify = int(n)
		case "SIGNO":
			qi.Signo = int(n)
		case "NOTIFY_PID":
			qi.NotifyPID = int(n)
		}
	}
	if seen == 0 {
		return fmt.Errorf("mqueue status %q: no QSIZE", line)
	}
	return nil
}
