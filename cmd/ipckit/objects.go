package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/shmname"
	"github.com/ipckit/ipckit/mmapring"
	"github.com/ipckit/ipckit/posix"
	"github.com/ipckit/ipckit/sysv"
)

// The kinds of object ipckit knows, in the order ls shows them.
const (
	kindMsg      = "msg"
	kindSem      = "sem"
	kindShm      = "shm"
	kindPosixShm = "posix-shm"
	kindPosixSem = "posix-sem"
	kindMqueue   = "mqueue"
	kindRing     = "ring"
)

var kinds = []struct{ name, desc string }{
	{kindMsg, "System V message queues"},
	{kindSem, "System V semaphore sets"},
	{kindShm, "System V shared-memory segments"},
	{kindPosixShm, "POSIX shared memory (/dev/shm/NAME)"},
	{kindPosixSem, "POSIX named semaphores, glibc's format (/dev/shm/sem.NAME)"},
	{kindMqueue, "POSIX message queues"},
	{kindRing, "mmapring rings with a name (/dev/shm/NAME holding a ring header)"},
}

func isKind(k string) bool {
	for _, x := range kinds {
		if x.name == k {
			return true
		}
	}
	return false
}

func kindNames() string {
	var s []string
	for _, k := range kinds {
		s = append(s, k.name)
	}
	return strings.Join(s, ", ")
}

func kindHelp() string {
	var b strings.Builder
	b.WriteString("kinds:\n")
	for _, k := range kinds {
		fmt.Fprintf(&b, "  %-10s %s\n", k.name, k.desc)
	}
	return b.String()
}

func isSysV(kind string) bool { return kind == kindMsg || kind == kindSem || kind == kindShm }

// object is one IPC object as ls and info see it. SysV objects carry the
// kernel's record; POSIX objects and rings their file's metadata and,
// where it could be read, their state.
type object struct {
	Kind string
	SV   *sysv.Object // msg, sem, shm

	Name         string // POSIX objects and rings, without the leading slash
	UID, GID     uint32
	Mode         os.FileMode
	Size         int64 // file size (posix-shm, posix-sem, ring)
	MTime, CTime time.Time

	MQ      *posix.QueueInfo // mqueue
	MQAttr  *posix.QueueAttr // mqueue, when it could be opened
	Ring    *mmapring.Stats  // ring, when it could be opened
	RingErr error            // why a ring could not be read
}

// uid returns the owner's uid of any kind of object.
func (o *object) uid() uint32 {
	if o.SV != nil {
		return o.SV.Perm.UID
	}
	return o.UID
}

func (o *object) gid() uint32 {
	if o.SV != nil {
		return o.SV.Perm.GID
	}
	return o.GID
}

func (o *object) mode() os.FileMode {
	if o.SV != nil {
		return o.SV.Perm.Mode
	}
	return o.Mode
}

var userNames = map[uint32]string{}

func userName(uid uint32) string {
	if n, ok := userNames[uid]; ok {
		return n
	}
	n := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(n); err == nil {
		n = u.Username
	}
	userNames[uid] = n
	return n
}

// listObjects returns the objects of the wanted kinds (all when want is
// empty), SysV first, then POSIX objects and rings by name. Errors of one
// source do not hide the others.
func listObjects(want map[string]bool) ([]object, []error) {
	all := len(want) == 0
	var objs []object
	var errs []error
	if all || want[kindMsg] || want[kindSem] || want[kindShm] {
		svs, err := sysv.List()
		if err != nil {
			errs = append(errs, fmt.Errorf("System V objects: %w", err))
		}
		for i := range svs {
			k := svs[i].Kind.String()
			if all || want[k] {
				objs = append(objs, object{Kind: k, SV: &svs[i]})
			}
		}
	}
	if all || want[kindPosixShm] || want[kindPosixSem] || want[kindRing] {
		got, err := listShmDir(shmname.Dir)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", shmname.Dir, err))
		}
		for _, o := range got {
			if all || want[o.Kind] {
				if o.Kind == kindRing {
					readRing(&o)
				}
				objs = append(objs, o)
			}
		}
	}
	if all || want[kindMqueue] {
		got, err := listMqueues()
		if err != nil {
			errs = append(errs, err)
		}
		objs = append(objs, got...)
	}
	order := map[string]int{}
	for i, k := range kinds {
		order[k.name] = i
	}
	sort.SliceStable(objs, func(i, j int) bool {
		a, b := &objs[i], &objs[j]
		if a.Kind != b.Kind {
			return order[a.Kind] < order[b.Kind]
		}
		if a.SV != nil && b.SV != nil {
			return a.SV.ID < b.SV.ID
		}
		return a.Name < b.Name
	})
	return objs, errs
}

// ringMagic is the first word of every mmapring ring: "IPCKRING" in the
// host's byte order (mmapring/LAYOUT.md, offset 0).
const ringMagic = 0x474e49524b435049

// hasRingMagic reports whether the file at path starts with a ring's
// magic. It opens without following links and never blocks.
func hasRingMagic(path string) bool {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var b [8]byte
	n, err := unix.Pread(fd, b[:], 0)
	return err == nil && n == 8 && binary.NativeEndian.Uint64(b[:]) == ringMagic
}

// shmObject describes the file /dev/shm/ENTRY: a posix-sem for "sem.NAME",
// a ring if it holds a ring's magic, else a posix-shm.
func shmObject(dir, entry string, fi fs.FileInfo) object {
	o := object{Kind: kindPosixShm, Name: entry, Size: fi.Size(), Mode: fi.Mode().Perm(), MTime: fi.ModTime()}
	if rest, ok := strings.CutPrefix(entry, "sem."); ok && rest != "" {
		o.Kind, o.Name = kindPosixSem, rest
	} else if fi.Size() >= 4096 && hasRingMagic(filepath.Join(dir, entry)) {
		o.Kind = kindRing
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		o.UID, o.GID = st.Uid, st.Gid
		o.CTime = time.Unix(int64(st.Ctim.Sec), int64(st.Ctim.Nsec))
	}
	return o
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
			continue // directories, links: not shm_open objects
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		objs = append(objs, shmObject(dir, e.Name(), fi))
	}
	return objs, nil
}

// readRing opens a ring by name to read its shared state; it never
// attaches as a producer or consumer.
func readRing(o *object) {
	r, err := mmapring.OpenShm(o.Name)
	if err != nil {
		o.RingErr = err
		return
	}
	defer r.Close()
	st, err := r.Stats()
	if err != nil {
		o.RingErr = err
		return
	}
	o.Ring = &st
}

func listMqueues() ([]object, error) {
	qs, err := posix.ListQueues()
	if err != nil {
		return nil, fmt.Errorf("message queues: %w", err)
	}
	var objs []object
	for i := range qs {
		q := &qs[i]
		o := object{Kind: kindMqueue, Name: q.Name, UID: q.UID, GID: q.GID, Mode: q.Mode, MTime: q.ModTime, MQ: q}
		o.MQAttr = mqAttr(q.Name)
		objs = append(objs, o)
	}
	return objs, nil
}

// mqAttr reads a queue's attributes (mq_getattr). Opening needs read or
// write permission, so it tries both; nil if neither works.
func mqAttr(name string) *posix.QueueAttr {
	for _, flag := range []int{unix.O_RDONLY, unix.O_WRONLY} {
		mq, err := posix.OpenQueueFlags(name, flag|unix.O_NONBLOCK, 0, nil)
		if err != nil {
			continue
		}
		a, err := mq.Attr()
		mq.Close()
		if err == nil {
			return &a
		}
	}
	return nil
}

func notifyString(q *posix.QueueInfo) string {
	if q == nil || q.NotifyPID == 0 {
		return ""
	}
	kind := map[int]string{0: "signal", 1: "none", 2: "thread"}[q.Notify]
	if kind == "" {
		kind = strconv.Itoa(q.Notify)
	}
	s := fmt.Sprintf("notify=%s,pid=%d", kind, q.NotifyPID)
	if q.Notify == 0 {
		s += fmt.Sprintf(",signo=%d", q.Signo)
	}
	return s
}

func ringKind(k mmapring.Kind) string {
	switch k {
	case mmapring.KindSPSC:
		return "spsc"
	case mmapring.KindMPMC:
		return "mpmc"
	}
	return fmt.Sprintf("kind %d", k)
}

// status is the STATUS column: flags of the object's state.
func (o *object) status() string {
	var s []string
	switch {
	case o.SV != nil && o.SV.Kind == sysv.SharedMemory:
		if o.SV.Removed {
			s = append(s, "dest")
		}
		if o.SV.Locked {
			s = append(s, "locked")
		}
	case o.Kind == kindMqueue:
		if n := notifyString(o.MQ); n != "" {
			s = append(s, n)
		}
	case o.Kind == kindRing:
		if o.Ring == nil {
			if o.RingErr != nil {
				s = append(s, "unreadable")
			}
			break
		}
		s = append(s, ringKind(o.Ring.Kind))
		if o.Ring.Closed {
			s = append(s, "closed")
		}
		dead := 0
		for _, p := range o.Ring.Peers {
			if !p.Alive {
				dead++
			}
		}
		if dead > 0 {
			s = append(s, fmt.Sprintf("dead-peers=%d", dead))
		}
	}
	return strings.Join(s, ",")
}

// livePeers counts a ring's attached processes that are alive.
func livePeers(st *mmapring.Stats) int {
	n := 0
	for _, p := range st.Peers {
		if p.Alive {
			n++
		}
	}
	return n
}
