package posix

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/abi"
	"github.com/ipckit/ipckit/internal/shmname"
)

// MqPrioMax is MQ_PRIO_MAX: priorities run from 0 to MqPrioMax-1, and a
// higher priority is received first.
const MqPrioMax = 32768

// ErrInvalidName is returned (wrapped) for queue and shared-memory names
// that glibc would reject.
// It is internal/shmname's sentinel, shared with the semaphore package.
var ErrInvalidName = shmname.ErrInvalid

// QueueAttr describes a message queue (struct mq_attr in Go terms).
type QueueAttr struct {
	MaxMsgs  int64 // capacity in messages (mq_maxmsg)
	MsgSize  int64 // largest message in bytes (mq_msgsize)
	CurMsgs  int64 // messages queued now (mq_curmsgs); ignored on create
	NonBlock bool  // Send and Receive return EAGAIN instead of waiting
}

// Queue is an open POSIX message queue whose waits happen in the Go
// runtime poller: Send and Receive park the calling goroutine, not an OS
// thread, and honour their context. The descriptor that File returns has
// the mode it was opened in (blocking unless O_NONBLOCK), so that
// a process it is handed to sees what mq_open would have given it; the
// Queue's own calls go through a private non-blocking open file
// description of the same queue (see the package doc, "Descriptor
// modes"). A Queue is safe
// for concurrent use; concurrent receivers (senders) take turns, each
// with its own context.
type Queue struct {
	name     string // kernel name, without the leading slash
	p        *pollFD
	nonblock atomic.Bool
	msgSize  int
	maxMsgs  int

	nmu    sync.Mutex // guards the netlink notification state
	notify *mqNotifier

	// One op per direction, used only by the holder of the poller's
	// semaphore (sop: wsem, rop: rsem) or of tmu (top), so that Send and
	// Receive pass a func value made once and do not allocate.
	sop, rop mqOp
	tmu      sync.Mutex
	top      mqOp
}

// queueName applies glibc's mq_open rule (one leading slash, which is then
// stripped) leniently: the slash is optional, as in musl. What is left must
// be a single non-empty path component other than "." and "..", of at
// most NAME_MAX bytes. A refused name gives an error matching
// ErrInvalidName and also the errno that glibc's mq_open and mq_unlink
// (which pass the rest of the name to the kernel) give for it: EACCES for
// another '/' or a dot name (lookup_one_len), ENAMETOOLONG beyond NAME_MAX
// (the mqueue file system's simple_lookup). The empty name is the
// exception: the kernel's ENOENT (getname) would make a refused name match
// os.ErrNotExist and pass for a queue that merely does not exist.
func queueName(name string) (string, error) {
	s := strings.TrimPrefix(name, "/")
	var errno unix.Errno
	switch {
	case strings.Contains(s, "/") || s == "." || s == "..":
		errno = unix.EACCES
	case len(s) > shmname.NameMax:
		errno = unix.ENAMETOOLONG
	}
	if strings.Contains(s, "/") {
		return "", nameError{fmt.Errorf("%w %q: a queue name is one leading '/' and no other", ErrInvalidName, name), errno}
	}
	// After the one slash the rules are shm_open's: non-empty, not "." or
	// "..", no NUL, at most NAME_MAX bytes.
	k, err := shmname.Clean(s, "")
	if err != nil && errno != 0 {
		err = nameError{err, errno}
	}
	return k, err
}

// nameError is an ErrInvalidName error that also matches errno, the error
// the C library gives for the same name.
type nameError struct {
	err   error
	errno unix.Errno
}

func (e nameError) Error() string   { return e.err.Error() + " (" + e.errno.Error() + ")" }
func (e nameError) Unwrap() []error { return []error{e.err, e.errno} }

// OpenQueue opens the existing queue name ("/name" or "name") for sending
// and receiving (O_RDWR); it fails with an error matching os.ErrNotExist
// if there is none.
func OpenQueue(name string) (*Queue, error) {
	return OpenQueueFlags(name, unix.O_RDWR, 0, nil)
}

// OpenOrCreateQueue opens the queue name for sending and receiving, or
// creates it (as CreateQueue, with room for maxMsgs messages of up to
// msgSize bytes) if there is none; mq_open(O_CREAT) does both atomically,
// and a new queue needs no initialising. An existing queue keeps its own
// capacity: check MaxMsgs and MsgSize.
func OpenOrCreateQueue(name string, maxMsgs, msgSize int) (*Queue, error) {
	return OpenQueueFlags(name, unix.O_RDWR|unix.O_CREAT, 0o600, &QueueAttr{MaxMsgs: int64(maxMsgs), MsgSize: int64(msgSize)})
}

// OpenQueueFlags opens or creates the queue name ("/name" or "name"), like
// glibc's mq_open. flag is O_RDONLY, O_WRONLY or O_RDWR, optionally with
// O_CREAT, O_EXCL and O_NONBLOCK. perm applies on creation; 0 means 0600.
// attr sets the capacity on creation (nil takes the system defaults,
// /proc/sys/fs/mqueue/msg_default and msgsize_default).
func OpenQueueFlags(name string, flag int, perm os.FileMode, attr *QueueAttr) (*Queue, error) {
	kname, err := queueName(name)
	if err != nil {
		return nil, &os.PathError{Op: "mq_open", Path: name, Err: err}
	}
	if perm == 0 {
		perm = 0o600
	}
	var a *abi.MqAttr
	if attr != nil && flag&unix.O_CREAT != 0 {
		a = &abi.MqAttr{Maxmsg: int(attr.MaxMsgs), Msgsize: int(attr.MsgSize)}
	}
	fd, err := MqOpen(kname, flag|unix.O_CLOEXEC, uint32(perm.Perm()), a)
	if err != nil {
		return nil, &os.PathError{Op: "mq_open", Path: "/" + kname, Err: err}
	}
	return newQueue(fd, kname, "/"+kname, flag&unix.O_NONBLOCK != 0)
}

// newQueue makes a Queue of fd, which it owns: kname is the name without
// its slash ("" if unknown), path names it in errors.
func newQueue(fd int, kname, path string, nonblock bool) (*Queue, error) {
	var cur abi.MqAttr
	if err := MqGetsetattr(fd, nil, &cur); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "mq_getattr", Path: path, Err: err}
	}
	p, err := adoptPollFD(fd, "mqueue:"+path)
	if err != nil {
		return nil, err
	}
	q := &Queue{name: kname, p: p, msgSize: cur.Msgsize, maxMsgs: cur.Maxmsg}
	q.sop.init()
	q.rop.init()
	q.top.init()
	q.nonblock.Store(nonblock)
	return q, nil
}

// QueueFromFile adopts a message-queue descriptor inherited or received
// from another process (ExtraFiles, SendFiles/ReceiveFiles, proc). It
// duplicates the descriptor (the caller still owns f), leaves the mode of
// the open file description as it is (a blocking descriptor stays
// blocking for every process that shares it; the Queue does its own I/O
// through a private non-blocking description, as OpenQueueFlags does),
// and fails with an error matching unix.EBADF if f is not a message
// queue. Send and Receive wait unless the descriptor is O_NONBLOCK, as
// for OpenQueueFlags.
//
// A descriptor does not say reliably which name, if any, still leads to
// its queue (the name may have been unlinked and given to another queue),
// so the Queue has no name: Name returns "" and Unlink does nothing.
func QueueFromFile(f *os.File) (*Queue, error) {
	fd, err := dupFile(f)
	if err != nil {
		return nil, err
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		unix.Close(fd)
		return nil, opError("fcntl(F_GETFL)", err)
	}
	return newQueue(fd, "", f.Name(), fl&unix.O_NONBLOCK != 0)
}

// CreateQueue creates a new queue exclusively (O_RDWR|O_CREAT|O_EXCL, mode
// 0600) with room for maxMsgs messages of up to msgSize bytes.
func CreateQueue(name string, maxMsgs, msgSize int) (*Queue, error) {
	return OpenQueueFlags(name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600, &QueueAttr{MaxMsgs: int64(maxMsgs), MsgSize: int64(msgSize)})
}

// UnlinkQueue removes the queue name; queues still open stay usable until
// closed. As glibc's mq_unlink does, it reports the kernel's EPERM (another
// user's queue in the sticky /dev/mqueue directory) as EACCES.
func UnlinkQueue(name string) error {
	kname, err := queueName(name)
	if err != nil {
		return &os.PathError{Op: "mq_unlink", Path: name, Err: err}
	}
	if err := MqUnlink(kname); err != nil {
		if err == unix.EPERM {
			err = unix.EACCES
		}
		return &os.PathError{Op: "mq_unlink", Path: "/" + kname, Err: err}
	}
	return nil
}

// Name returns the queue's name with its leading slash, as glibc spells
// it; "" for a queue adopted with QueueFromFile.
func (q *Queue) Name() string {
	if q.name == "" {
		return ""
	}
	return "/" + q.name
}

// MsgSize returns mq_msgsize: Receive needs a buffer at least this long.
func (q *Queue) MsgSize() int { return q.msgSize }

// MaxMsgs returns mq_maxmsg, the queue's capacity.
func (q *Queue) MaxMsgs() int { return q.maxMsgs }

// File returns the queue's descriptor, in the mode it was opened in
// (blocking unless O_NONBLOCK was asked for), for passing to a child through ExtraFiles or SCM_RIGHTS. It stays
// owned by the Queue.
func (q *Queue) File() *os.File { return q.p.f }

// Unlink removes the queue's name (UnlinkQueue); the queue lives on until
// its last descriptor closes. A queue adopted with QueueFromFile has no
// name to remove: Unlink returns nil.
func (q *Queue) Unlink() error {
	if q.name == "" {
		return nil
	}
	return UnlinkQueue(q.name)
}

// Close closes the descriptor. Goroutines blocked in Send or Receive, and
// every later call but Close, Name and Unlink, return an error matching
// ErrClosed (and os.ErrClosed). Closing also cancels this
// process's mq_notify registration on the queue (kernel rule). Close is
// idempotent.
func (q *Queue) Close() error {
	err := q.p.close()
	q.nmu.Lock()
	if q.notify != nil {
		q.notify.close()
		q.notify = nil
	}
	q.nmu.Unlock()
	return opError("close", err)
}

// mqOp carries one call's arguments into the poller callback.
type mqOp struct {
	buf  []byte
	prio uint32
	n    int
	err  error
	once bool // non-blocking: report EAGAIN instead of waiting

	sendFn, recvFn func(uintptr) bool
	sendCt, recvCt func(uintptr)
}

func (o *mqOp) init() {
	o.sendFn, o.recvFn = o.send, o.recv
	o.sendCt, o.recvCt = o.sendControl, o.recvControl
}

func (o *mqOp) send(fd uintptr) bool {
	o.err = MqTimedsend(int(fd), o.buf, o.prio, nil)
	return o.once || ready(o.err)
}

func (o *mqOp) recv(fd uintptr) bool {
	var prio uint32
	o.n, o.err = MqTimedreceive(int(fd), o.buf, &prio, nil)
	o.prio = prio
	return o.once || ready(o.err)
}

func (o *mqOp) sendControl(fd uintptr) {
	for {
		if o.send(fd); o.err != unix.EINTR {
			return
		}
	}
}

func (o *mqOp) recvControl(fd uintptr) {
	for {
		if o.recv(fd); o.err != unix.EINTR {
			return
		}
	}
}

func (o *mqOp) reset() { o.buf, o.err, o.n, o.prio = nil, nil, 0, 0 }

// Send queues msg with priority prio (0 to MqPrioMax-1), waiting while the
// queue is full until ctx is done. On cancellation or deadline it returns
// an error matching ctx.Err(); with a closed queue, ErrClosed. On a
// non-blocking queue a full queue gives unix.EAGAIN.
func (q *Queue) Send(ctx context.Context, msg []byte, prio uint) error {
	if q.nonblock.Load() {
		return q.TrySend(msg, prio)
	}
	if prio >= MqPrioMax {
		return opError("mq_timedsend", unix.EINVAL)
	}
	raceReadRange(msg)
	if err := q.p.acquire(ctx, true); err != nil {
		return opError("mq_timedsend", err)
	}
	o := &q.sop
	o.buf, o.prio, o.once = msg, uint32(prio), false
	err := q.p.waitHeld(ctx, true, o.sendFn)
	if err == nil {
		err = o.err
	}
	o.reset()
	q.p.release(true)
	return opError("mq_timedsend", err)
}

// TrySend queues msg without waiting: a full queue gives unix.EAGAIN.
func (q *Queue) TrySend(msg []byte, prio uint) error {
	if prio >= MqPrioMax {
		return opError("mq_timedsend", unix.EINVAL)
	}
	raceReadRange(msg)
	q.tmu.Lock()
	o := &q.top
	o.buf, o.prio, o.once = msg, uint32(prio), true
	err := q.p.control(o.sendCt)
	if err == nil {
		err = o.err
	}
	o.reset()
	q.tmu.Unlock()
	return opError("mq_timedsend", err)
}

// Receive removes the oldest message of the highest priority into buf,
// waiting while the queue is empty until ctx is done. buf must hold at
// least MsgSize bytes (unix.EMSGSIZE otherwise). It returns the message
// length and priority.
func (q *Queue) Receive(ctx context.Context, buf []byte) (n int, prio uint, err error) {
	if q.nonblock.Load() {
		return q.TryReceive(buf)
	}
	if err := q.p.acquire(ctx, false); err != nil {
		return 0, 0, opError("mq_timedreceive", err)
	}
	o := &q.rop
	o.buf, o.once = buf, false
	err = q.p.waitHeld(ctx, false, o.recvFn)
	if err == nil {
		err = o.err
	}
	n, prio = o.n, uint(o.prio)
	o.reset()
	q.p.release(false)
	if err != nil {
		return 0, 0, opError("mq_timedreceive", err)
	}
	raceWriteRange(buf[:n])
	return n, prio, nil
}

// TryReceive is Receive without waiting: an empty queue gives unix.EAGAIN.
func (q *Queue) TryReceive(buf []byte) (n int, prio uint, err error) {
	q.tmu.Lock()
	o := &q.top
	o.buf, o.once = buf, true
	err = q.p.control(o.recvCt)
	if err == nil {
		err = o.err
	}
	n, prio = o.n, uint(o.prio)
	o.reset()
	q.tmu.Unlock()
	if err != nil {
		return 0, 0, opError("mq_timedreceive", err)
	}
	raceWriteRange(buf[:n])
	return n, prio, nil
}

// Attr returns the queue's attributes; NonBlock is this handle's mode.
func (q *Queue) Attr() (QueueAttr, error) {
	var a abi.MqAttr
	var serr error
	err := q.p.control(func(fd uintptr) { serr = MqGetsetattr(int(fd), nil, &a) })
	if err == nil {
		err = serr
	}
	if err != nil {
		return QueueAttr{}, opError("mq_getsetattr", err)
	}
	return QueueAttr{MaxMsgs: int64(a.Maxmsg), MsgSize: int64(a.Msgsize), CurMsgs: int64(a.Curmsgs), NonBlock: q.nonblock.Load()}, nil
}

// SetAttr changes what mq_setattr can change, the non-blocking mode, and
// returns the previous attributes. It changes this handle only: NonBlock
// decides whether Send and Receive wait, and the descriptor File returns
// keeps its mode.
func (q *Queue) SetAttr(a QueueAttr) (QueueAttr, error) {
	old, err := q.Attr()
	if err != nil {
		return old, err
	}
	q.nonblock.Store(a.NonBlock)
	return old, nil
}
