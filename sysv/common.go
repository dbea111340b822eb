package sysv

import (
	"context"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/blocking"
)

// accessRW asks a get call for read and write access: the kernel checks
// the requested bits against the caller's class (owner, group, other).
const accessRW = 0o666

// Options control how an object is created (by the Create and
// OpenOrCreate functions); nil means the defaults.
type Options struct {
	// Mode holds the permission bits; zero means 0600.
	Mode os.FileMode
	// Flags are ORed into the get call: SHM_HUGETLB, SHM_NORESERVE and
	// SHM_HUGE_* for segments.
	Flags int
}

// getFlags returns the get call's flags: IPC_CREAT, the mode, o.Flags and,
// when excl, IPC_EXCL.
func (o *Options) getFlags(excl bool) int {
	mode := os.FileMode(0o600)
	var extra int
	if o != nil {
		if o.Mode != 0 {
			mode = o.Mode
		}
		extra = o.Flags
	}
	fl := IPC_CREAT | int(mode.Perm()) | extra
	if excl {
		fl |= IPC_EXCL
	}
	return fl
}

// Perm is the ownership and permissions of a System V object.
type Perm struct {
	Key  Key
	UID  uint32 // owner
	GID  uint32
	CUID uint32 // creator
	CGID uint32
	Mode os.FileMode // permission bits only
	Seq  uint32      // slot usage sequence number
}

func permOf(p *IpcPerm) Perm {
	return Perm{
		Key: Key(p.Key), UID: p.Uid, GID: p.Gid, CUID: p.Cuid, CGID: p.Cgid,
		Mode: os.FileMode(p.Mode) & os.ModePerm, Seq: uint32(p.Seq),
	}
}

// unixTime converts seconds since the epoch; 0 (never) gives the zero Time.
func unixTime(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}

// wrap names the operation in err so that errors.Is still matches the
// errno (and os.ErrNotExist, os.ErrExist, os.ErrPermission through it).
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return os.NewSyscallError(op, err)
}

func errnoOf(err error) unix.Errno {
	if err == nil {
		return 0
	}
	if e, ok := err.(unix.Errno); ok {
		return e
	}
	return unix.EINVAL
}

// block runs a blocking System V call until it completes, retrying EINTR
// (the kernel never restarts these calls), and interrupts it when ctx is
// done, returning ctx.Err() wrapped with op.
func block(ctx context.Context, op string, call func() unix.Errno) error {
	for {
		if err := ctx.Err(); err != nil {
			return wrap(op, err)
		}
		switch e := blocking.Interruptible(ctx, call); e {
		case 0:
			return nil
		case unix.EINTR:
			continue // a signal, or ctx: the loop's check decides
		default:
			return wrap(op, e)
		}
	}
}

// Message buffers for Send and Receive come from a pool, so those calls
// do not allocate once the pool holds buffers of the sizes in use.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 8192+SizeofLong); return &b }}

func getBuf(n int) *[]byte {
	bp := bufPool.Get().(*[]byte)
	if cap(*bp) < n {
		*bp = make([]byte, 0, n)
	}
	*bp = (*bp)[:n]
	return bp
}

func putBuf(bp *[]byte) { bufPool.Put(bp) }

// setMode replaces the permission bits of an ipc_perm mode, whose width
// differs between architectures.
func setMode[T ~uint16 | ~uint32](m *T, mode os.FileMode) {
	*m = *m&^0o777 | T(mode.Perm())
}
