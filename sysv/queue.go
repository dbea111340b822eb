package sysv

import (
	"context"
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/errs"
)

// Queue is a System V message queue. The zero value is not usable; get
// one from CreateQueue, OpenQueue, OpenOrCreateQueue or QueueFromID. A
// Queue is an id, safe for concurrent use by multiple goroutines; it holds
// no resources in the process, so there is nothing to close — Remove
// deletes the queue itself.
type Queue struct{ id int }

// CreateQueue creates a message queue for key (IPCPrivate for a new,
// unnamed one), with mode 0600 unless o says otherwise. An existing queue
// for key is an error matching os.ErrExist.
func CreateQueue(key Key, o *Options) (*Queue, error) {
	id, err := Msgget(key, o.getFlags(true))
	if err != nil {
		return nil, wrap("msgget", err)
	}
	return &Queue{id}, nil
}

// OpenOrCreateQueue opens the queue for key, or creates it (as
// CreateQueue) if there is none; msgget(IPC_CREAT) does both atomically,
// and a new queue needs no initialising.
func OpenOrCreateQueue(key Key, o *Options) (*Queue, error) {
	id, err := Msgget(key, o.getFlags(false))
	if err != nil {
		return nil, wrap("msgget", err)
	}
	return &Queue{id}, nil
}

// OpenQueue opens the existing queue for key; a missing one is an error
// matching os.ErrNotExist, and one this process may not read and write is
// an error matching os.ErrPermission. (The kernel checks only the access a
// get call asks for; Open* ask for read and write, as a C program's
// msgget(key, 0600) does, so a permission problem surfaces here rather
// than at the first send.)
func OpenQueue(key Key) (*Queue, error) {
	id, err := Msgget(key, accessRW)
	if err != nil {
		return nil, wrap("msgget", err)
	}
	return &Queue{id}, nil
}

// QueueFromID returns the queue with the given id (as ipcs shows it, or
// as another process passed it), checked with IPC_STAT: an id that names
// no queue fails here (EINVAL, or EIDRM for one being removed), and so
// does one this process may not read (EACCES, matching os.ErrPermission).
func QueueFromID(id int) (*Queue, error) {
	var ds MsqidDS
	if _, err := Msgctl(id, IPC_STAT, &ds); err != nil {
		return nil, wrap("msgctl", err)
	}
	return &Queue{id}, nil
}

// ID returns the queue's id.
func (q *Queue) ID() int { return q.id }

// ReceiveFlag modifies Receive.
type ReceiveFlag int

const (
	// ReceiveNoWait fails with ENOMSG instead of waiting (IPC_NOWAIT).
	ReceiveNoWait ReceiveFlag = IPC_NOWAIT
	// ReceiveNoError truncates a message longer than the buffer instead of
	// failing with E2BIG (MSG_NOERROR); the rest of it is lost.
	ReceiveNoError ReceiveFlag = MSG_NOERROR
	// ReceiveExcept selects the first message whose type is not mtype
	// (MSG_EXCEPT, with mtype > 0).
	ReceiveExcept ReceiveFlag = MSG_EXCEPT
	// ReceiveCopy copies the message at 0-based position mtype without
	// removing it (MSG_COPY; the kernel needs CONFIG_CHECKPOINT_RESTORE).
	// It never waits.
	ReceiveCopy ReceiveFlag = MSG_COPY
)

// Send sends data as a message of type mtype (> 0). If the queue is full
// it waits until there is room, ctx is done (it then returns ctx.Err()
// wrapped with "msgsnd"), or the queue is removed (EIDRM). It does not
// allocate once its buffer pool is warm.
func (q *Queue) Send(ctx context.Context, mtype int, data []byte) error {
	bp := getBuf(SizeofLong + len(data))
	m := Msgbuf(*bp)
	m.SetType(mtype)
	copy(m.Text(), data)
	err := q.SendMsg(ctx, m)
	putBuf(bp)
	return err
}

// TrySend sends without waiting; a full queue gives an error matching
// unix.EAGAIN.
func (q *Queue) TrySend(mtype int, data []byte) error {
	bp := getBuf(SizeofLong + len(data))
	m := Msgbuf(*bp)
	m.SetType(mtype)
	copy(m.Text(), data)
	err := wrap("msgsnd", Msgsnd(q.id, m, IPC_NOWAIT))
	putBuf(bp)
	return err
}

// SendMsg sends a prepared Msgbuf without copying it.
func (q *Queue) SendMsg(ctx context.Context, m Msgbuf) error {
	if m.Type() <= 0 {
		return wrap("msgsnd", unix.EINVAL)
	}
	if ctx.Done() == nil {
		// Nothing can cancel the wait: block in the kernel directly.
		for {
			if err := Msgsnd(q.id, m, 0); err != unix.EINTR {
				return wrap("msgsnd", err)
			}
		}
	}
	err := Msgsnd(q.id, m, IPC_NOWAIT)
	if err != unix.EAGAIN {
		return wrap("msgsnd", err)
	}
	return block(ctx, "msgsnd", func() unix.Errno { return errnoOf(Msgsnd(q.id, m, 0)) })
}

// Receive receives a message into buf and returns its length and type.
// mtype selects the message: 0 the first in the queue, > 0 the first of
// that type (with ReceiveExcept: of any other type), < 0 the first of the
// lowest type not above -mtype. Without ReceiveNoError, a message longer
// than buf stays queued and Receive fails with E2BIG. It waits for a
// message unless flags has ReceiveNoWait or ReceiveCopy, until ctx is done or
// the queue is removed (EIDRM). It does not allocate once its buffer pool
// is warm.
func (q *Queue) Receive(ctx context.Context, mtype int, buf []byte, flags ReceiveFlag) (n, typ int, err error) {
	bp := getBuf(SizeofLong + len(buf))
	m := Msgbuf(*bp)
	n, err = q.ReceiveMsg(ctx, m, mtype, flags)
	if err == nil {
		copy(buf, m.Text()[:n])
		typ = m.Type()
	}
	putBuf(bp)
	return n, typ, err
}

// TryReceive is Receive without waiting (ReceiveNoWait is implied): when
// no message matches it fails with an error matching unix.EAGAIN, as every
// Try call's does, and unix.ENOMSG, the kernel's answer.
func (q *Queue) TryReceive(mtype int, buf []byte, flags ReceiveFlag) (n, typ int, err error) {
	n, typ, err = q.Receive(context.Background(), mtype, buf, flags|ReceiveNoWait)
	if errors.Is(err, unix.ENOMSG) {
		err = wrap("msgrcv", errs.WouldBlock(unix.ENOMSG))
	}
	return n, typ, err
}

// ReceiveMsg receives into a Msgbuf without copying; it returns the text
// length. See Receive.
func (q *Queue) ReceiveMsg(ctx context.Context, m Msgbuf, mtype int, flags ReceiveFlag) (int, error) {
	fl := int(flags)
	if fl&MSG_COPY != 0 {
		fl |= IPC_NOWAIT // the kernel requires it
	}
	if ctx.Done() == nil || fl&IPC_NOWAIT != 0 {
		// Nothing can cancel the wait (or there is none): one call.
		for {
			n, err := Msgrcv(q.id, m, mtype, fl)
			if err != unix.EINTR {
				return n, wrap("msgrcv", err)
			}
		}
	}
	n, err := Msgrcv(q.id, m, mtype, fl|IPC_NOWAIT)
	if err != unix.ENOMSG {
		return n, wrap("msgrcv", err)
	}
	err = block(ctx, "msgrcv", func() unix.Errno {
		var e error
		n, e = Msgrcv(q.id, m, mtype, fl)
		return errnoOf(e)
	})
	return n, err
}

// QueueStat is a message queue's state.
type QueueStat struct {
	Perm           Perm
	Bytes          uint64 // bytes of text queued
	Messages       uint64 // messages queued
	MaxBytes       uint64 // capacity in bytes (msg_qbytes)
	LastSendPID    int
	LastReceivePID int
	LastSend       time.Time // zero if never
	LastReceive    time.Time
	Changed        time.Time
}

func queueStatOf(ds *MsqidDS) QueueStat {
	return QueueStat{
		Perm: permOf(&ds.Perm), Bytes: uint64(ds.Cbytes), Messages: uint64(ds.Qnum),
		MaxBytes: uint64(ds.Qbytes), LastSendPID: int(ds.Lspid), LastReceivePID: int(ds.Lrpid),
		LastSend: unixTime(ds.StimeSec()), LastReceive: unixTime(ds.RtimeSec()), Changed: unixTime(ds.CtimeSec()),
	}
}

// Stat returns the queue's state (IPC_STAT).
func (q *Queue) Stat() (QueueStat, error) {
	var ds MsqidDS
	if _, err := Msgctl(q.id, IPC_STAT, &ds); err != nil {
		return QueueStat{}, wrap("msgctl", err)
	}
	return queueStatOf(&ds), nil
}

// set reads the state, lets f change it, and writes it back (IPC_SET).
func (q *Queue) set(f func(*MsqidDS)) error {
	var ds MsqidDS
	if _, err := Msgctl(q.id, IPC_STAT, &ds); err != nil {
		return wrap("msgctl", err)
	}
	f(&ds)
	_, err := Msgctl(q.id, IPC_SET, &ds)
	return wrap("msgctl", err)
}

// Chmod sets the permission bits.
func (q *Queue) Chmod(mode os.FileMode) error {
	return q.set(func(ds *MsqidDS) { setMode(&ds.Perm.Mode, mode) })
}

// Chown sets the owner.
func (q *Queue) Chown(uid, gid uint32) error {
	return q.set(func(ds *MsqidDS) { ds.Perm.Uid, ds.Perm.Gid = uid, gid })
}

// SetMaxBytes sets the queue's capacity in bytes; raising it above
// kernel.msgmnb needs CAP_SYS_RESOURCE.
func (q *Queue) SetMaxBytes(n uint64) error {
	return q.set(func(ds *MsqidDS) { ds.Qbytes = uint(n) })
}

// Remove deletes the queue (IPC_RMID). Waiting senders and receivers
// fail with EIDRM.
func (q *Queue) Remove() error { return RemoveQueue(q.id) }

// RemoveQueue deletes the queue with the given id (IPC_RMID), as
// Queue.Remove does, without a handle.
func RemoveQueue(id int) error {
	_, err := Msgctl(id, IPC_RMID, nil)
	return wrap("msgctl", err)
}
