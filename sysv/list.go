package sysv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Kind is the kind of a System V object.
type Kind int

const (
	MessageQueue Kind = iota + 1
	SemaphoreSet
	SharedMemory
)

func (k Kind) String() string {
	switch k {
	case MessageQueue:
		return "msg"
	case SemaphoreSet:
		return "sem"
	case SharedMemory:
		return "shm"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Object describes one System V object with the fields ipcs shows. Fields
// that do not apply to a kind are zero.
type Object struct {
	Kind    Kind
	ID      int
	Perm    Perm
	Changed time.Time

	// Message queues.
	Bytes          uint64 // text bytes queued
	Messages       uint64
	LastSendPID    int
	LastReceivePID int
	LastSend       time.Time
	LastReceive    time.Time

	// Semaphore sets.
	NSems  int
	LastOp time.Time

	// Shared memory.
	Size       uint64
	Attaches   uint64
	CreatorPID int
	LastPID    int
	LastAttach time.Time
	LastDetach time.Time
	Removed    bool   // SHM_DEST: deleted once the last process detaches
	Locked     bool   // SHM_LOCKED
	RSS        uint64 // resident bytes (procfs only)
	Swap       uint64 // swapped bytes (procfs only)
}

// List returns every System V object in this IPC namespace, as ipcs does:
// from /proc/sysvipc when it can be read, else from the kernel with
// MSG_STAT_ANY, SEM_STAT_ANY and SHM_STAT_ANY (Linux 4.17; older kernels
// fall back to *_STAT, which skips objects the caller may not read). The
// result is sorted by kind and id.
func List() ([]Object, error) {
	objs, err := ListProc("/proc/sysvipc")
	if err == nil {
		return objs, nil
	}
	if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, os.ErrPermission) {
		return nil, err
	}
	return ListStat()
}

// ListProc parses the three files under dir (normally /proc/sysvipc).
func ListProc(dir string) ([]Object, error) {
	var all []Object
	for _, k := range []Kind{MessageQueue, SemaphoreSet, SharedMemory} {
		f, err := os.Open(dir + "/" + k.String())
		if err != nil {
			return nil, err
		}
		objs, err := parseProc(k, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", dir, k, err)
		}
		all = append(all, objs...)
	}
	sortObjects(all)
	return all, nil
}

func parseProc(k Kind, r io.Reader) ([]Object, error) {
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		return nil, errors.New("missing header line")
	}
	header := strings.Fields(sc.Text())
	col := map[string]int{}
	for i, name := range header {
		col[name] = i
	}
	need := []string{"key", "perms", "uid", "gid", "cuid", "cgid", "ctime"}
	for _, n := range need {
		if _, ok := col[n]; !ok {
			return nil, fmt.Errorf("header lacks column %q", n)
		}
	}
	var objs []Object
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < len(header) {
			continue
		}
		num := func(name string) int64 {
			i, ok := col[name]
			if !ok {
				return 0
			}
			v, _ := strconv.ParseInt(fs[i], 10, 64)
			return v
		}
		unum := func(name string) uint64 {
			i, ok := col[name]
			if !ok {
				return 0
			}
			v, _ := strconv.ParseUint(fs[i], 10, 64)
			return v
		}
		mode, _ := strconv.ParseUint(fs[col["perms"]], 8, 32)
		o := Object{Kind: k, Changed: unixTime(num("ctime"))}
		o.Perm = Perm{
			Key: Key(int32(num("key"))), UID: uint32(unum("uid")), GID: uint32(unum("gid")),
			CUID: uint32(unum("cuid")), CGID: uint32(unum("cgid")), Mode: os.FileMode(mode) & os.ModePerm,
		}
		switch k {
		case MessageQueue:
			o.ID = int(num("msqid"))
			o.Bytes, o.Messages = unum("cbytes"), unum("qnum")
			o.LastSendPID, o.LastReceivePID = int(num("lspid")), int(num("lrpid"))
			o.LastSend, o.LastReceive = unixTime(num("stime")), unixTime(num("rtime"))
		case SemaphoreSet:
			o.ID = int(num("semid"))
			o.NSems = int(num("nsems"))
			o.LastOp = unixTime(num("otime"))
		case SharedMemory:
			o.ID = int(num("shmid"))
			o.Size, o.Attaches = unum("size"), unum("nattch")
			o.CreatorPID, o.LastPID = int(num("cpid")), int(num("lpid"))
			o.LastAttach, o.LastDetach = unixTime(num("atime")), unixTime(num("dtime"))
			o.Removed, o.Locked = mode&shmDest != 0, mode&shmLocked != 0
			o.RSS, o.Swap = unum("rss"), unum("swap")
		}
		objs = append(objs, o)
	}
	return objs, sc.Err()
}

// ListStat lists objects through the kernel's *_INFO and *_STAT_ANY
// commands, as ipcs does when /proc/sysvipc is unavailable.
func ListStat() ([]Object, error) {
	var all []Object
	var mi Msginfo
	maxIdx, err := MsgctlInfo(MSG_INFO, &mi)
	if err != nil {
		return nil, wrap("msgctl MSG_INFO", err)
	}
	for i := 0; i <= maxIdx; i++ {
		var ds MsqidDS
		id, err := statAny(func(cmd int) (int, error) { return Msgctl(i, cmd, &ds) }, MSG_STAT_ANY, MSG_STAT)
		if err != nil {
			continue // an unused slot
		}
		st := queueStatOf(&ds)
		all = append(all, Object{Kind: MessageQueue, ID: id, Perm: st.Perm, Changed: st.Changed,
			Bytes: st.Bytes, Messages: st.Messages, LastSendPID: st.LastSendPID, LastReceivePID: st.LastReceivePID,
			LastSend: st.LastSend, LastReceive: st.LastReceive})
	}
	var si Seminfo
	if maxIdx, err = SemctlInfo(SEM_INFO, &si); err != nil {
		return nil, wrap("semctl SEM_INFO", err)
	}
	for i := 0; i <= maxIdx; i++ {
		var ds SemidDS
		id, err := statAny(func(cmd int) (int, error) { return SemctlBuf(i, cmd, &ds) }, SEM_STAT_ANY, SEM_STAT)
		if err != nil {
			continue
		}
		all = append(all, Object{Kind: SemaphoreSet, ID: id, Perm: permOf(&ds.Perm), Changed: unixTime(ds.CtimeSec()),
			NSems: int(ds.Nsems), LastOp: unixTime(ds.OtimeSec())})
	}
	var shi ShmInfo
	if maxIdx, err = ShmctlShmInfo(&shi); err != nil {
		return nil, wrap("shmctl SHM_INFO", err)
	}
	for i := 0; i <= maxIdx; i++ {
		var ds ShmidDS
		id, err := statAny(func(cmd int) (int, error) { return Shmctl(i, cmd, &ds) }, SHM_STAT_ANY, SHM_STAT)
		if err != nil {
			continue
		}
		st := segmentStatOf(&ds)
		all = append(all, Object{Kind: SharedMemory, ID: id, Perm: st.Perm, Changed: st.Changed,
			Size: st.Size, Attaches: st.Attaches, CreatorPID: st.CreatorPID, LastPID: st.LastPID,
			LastAttach: st.LastAttach, LastDetach: st.LastDetach, Removed: st.Removed, Locked: st.Locked})
	}
	sortObjects(all)
	return all, nil
}

// statAny tries the *_STAT_ANY command and falls back to *_STAT on
// kernels before 4.17, which reject the former with EINVAL.
func statAny(stat func(cmd int) (int, error), anyCmd, plainCmd int) (int, error) {
	id, err := stat(anyCmd)
	if err == unix.EINVAL {
		id, err = stat(plainCmd)
	}
	return id, err
}

func sortObjects(objs []Object) {
	sort.Slice(objs, func(i, j int) bool {
		if objs[i].Kind != objs[j].Kind {
			return objs[i].Kind < objs[j].Kind
		}
		return objs[i].ID < objs[j].ID
	})
}
