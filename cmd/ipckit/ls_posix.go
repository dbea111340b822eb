package main

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/shmname"
	"github.com/ipckit/ipckit/posix"
)

// POSIX objects for ls and rm: shared memory (/dev/shm/NAME), glibc named
// semaphores (/dev/shm/sem.NAME) and message queues (the mqueue
// filesystem; see posix.ListQueues for how queues are listed where
// /dev/mqueue is not mounted).
func init() {
	registerLister("posix", listPosix)
	registerRemover("posix-shm", removePosixShm)
	registerRemover("posix-sem", removePosixSem)
	registerRemover("mqueue", removeMqueue)
}

// shmDir is where listPosix looks (a variable for tests).
var shmDir = shmname.Dir

func listPosix() ([]object, error) {
	objs, err := listShmDir(shmDir)
	if err != nil {
		return objs, err
	}
	qs, err := listMqueues()
	objs = append(objs, qs...)
	return objs, err
}

func ownerName(uid uint32) string {
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		return u.Username
	}
	return strconv.FormatUint(uint64(uid), 10)
}

func listShmDir(dir string) ([]object, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var objs []object
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue // directories, symlinks: not shm_open objects
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		o := object{Kind: "posix-shm", ID: -1, Name: e.Name(), Size: uint64(fi.Size()), Perms: fmt.Sprintf("%04o", uint32(fi.Mode().Perm())), Changed: fi.ModTime()}
		if rest, ok := strings.CutPrefix(e.Name(), "sem."); ok && rest != "" {
			o.Kind, o.Name = "posix-sem", rest
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			o.UID, o.GID = st.Uid, st.Gid
			o.Changed = time.Unix(int64(st.Ctim.Sec), int64(st.Ctim.Nsec))
		}
		o.Owner = ownerName(o.UID)
		objs = append(objs, o)
	}
	return objs, nil
}

func listMqueues() ([]object, error) {
	qs, err := posix.ListQueues()
	if err != nil {
		return nil, fmt.Errorf("message queues: %w", err)
	}
	var objs []object
	for _, q := range qs {
		o := object{Kind: "mqueue", ID: -1, Name: q.Name, UID: q.UID, GID: q.GID, Owner: ownerName(q.UID),
			Perms: fmt.Sprintf("%04o", uint32(q.Mode)), Size: q.QSize, Changed: q.ModTime}
		var detail []string
		// The message count and geometry come from mq_getattr; opening
		// the queue needs read or write permission, so try both.
		for _, flag := range []int{unix.O_RDONLY, unix.O_WRONLY} {
			mq, err := posix.OpenQueue(q.Name, flag|unix.O_NONBLOCK, 0, nil)
			if err != nil {
				continue
			}
			if a, err := mq.Attr(); err == nil {
				o.Count = uint64(a.CurMsgs)
				detail = append(detail, fmt.Sprintf("maxmsg=%d msgsize=%d", a.MaxMsgs, a.MsgSize))
			}
			mq.Close()
			break
		}
		if q.NotifyPID != 0 {
			kind := map[int]string{0: "signal", 1: "none", 2: "thread"}[q.Notify]
			if kind == "" {
				kind = strconv.Itoa(q.Notify)
			}
			n := fmt.Sprintf("notify=%s pid=%d", kind, q.NotifyPID)
			if q.Notify == 0 {
				n += fmt.Sprintf(" signo=%d", q.Signo)
			}
			detail = append(detail, n)
		}
		o.Detail = strings.Join(detail, " ")
		objs = append(objs, o)
	}
	return objs, nil
}

func removePosixShm(arg string) error {
	if strings.HasPrefix(strings.TrimLeft(arg, "/"), "sem.") {
		return fmt.Errorf("%q is a named semaphore: use kind posix-sem with the name after \"sem.\"", arg)
	}
	if shmDir != shmname.Dir {
		name, err := shmname.Clean(arg, "")
		if err != nil {
			return err
		}
		return os.Remove(filepath.Join(shmDir, name))
	}
	return posix.ShmUnlink(arg)
}

func removePosixSem(arg string) error {
	name, err := shmname.Clean(strings.TrimPrefix(strings.TrimLeft(arg, "/"), "sem."), "sem.")
	if err != nil {
		return err
	}
	path := filepath.Join(shmDir, name)
	if err := unix.Unlink(path); err != nil {
		return &os.PathError{Op: "sem_unlink", Path: path, Err: err}
	}
	return nil
}

func removeMqueue(arg string) error { return posix.UnlinkQueue(arg) }
