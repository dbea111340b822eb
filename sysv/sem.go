package sysv

import (
	"context"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// SemSet is a System V semaphore set. Like Queue, it is an id: safe for
// concurrent use, nothing to close; Remove deletes the set.
type SemSet struct {
	id int
	n  int
}

// CreateSemSet creates a set of nsems semaphores (all 0) for key, with
// mode 0600 unless o says otherwise. An existing set for key is an error
// matching os.ErrExist.
func CreateSemSet(key Key, nsems int, o *Options) (*SemSet, error) {
	id, err := Semget(key, nsems, o.getFlags(true))
	if err != nil {
		return nil, wrap("semget", err)
	}
	return SemSetFromID(id)
}

// OpenOrCreateSemSet opens the set for key, or creates one of nsems
// semaphores (as CreateSemSet) if there is none. An existing set with
// fewer than nsems semaphores is an error matching unix.EINVAL (the
// kernel's rule). The new set's values are all 0 and nothing tells an
// opener whether its creator has set them yet: to initialise a set exactly
// once whoever wins the race, use semaphore.OpenOrCreateSysV, or the same
// protocol (the creator's first semop sets sem_otime, SemStat.LastOp).
func OpenOrCreateSemSet(key Key, nsems int, o *Options) (*SemSet, error) {
	id, err := Semget(key, nsems, o.getFlags(false))
	if err != nil {
		return nil, wrap("semget", err)
	}
	return SemSetFromID(id)
}

// OpenSemSet opens the existing set for key.
func OpenSemSet(key Key) (*SemSet, error) {
	id, err := Semget(key, 0, accessRW)
	if err != nil {
		return nil, wrap("semget", err)
	}
	return SemSetFromID(id)
}

// SemSetFromID returns the set with the given id, checked with IPC_STAT
// (which also gives its size): an id that names no set fails here
// (EINVAL, or EIDRM), and so does one this process may not read (EACCES,
// matching os.ErrPermission).
func SemSetFromID(id int) (*SemSet, error) {
	var ds SemidDS
	if _, err := SemctlBuf(id, IPC_STAT, &ds); err != nil {
		return nil, wrap("semctl", err)
	}
	return &SemSet{id: id, n: int(ds.Nsems)}, nil
}

// ID returns the set's id.
func (s *SemSet) ID() int { return s.id }

// Len returns the number of semaphores in the set.
func (s *SemSet) Len() int { return s.n }

// Op performs the operations atomically: all or none (semop(2)). An
// operation with Op > 0 adds, Op < 0 waits until it can subtract, Op == 0
// waits for zero; Flg may hold SEM_UNDO (undone when the process exits)
// and IPC_NOWAIT (fail with EAGAIN instead of waiting). Op waits until it
// can proceed, ctx is done (ctx.Err(), with context.DeadlineExceeded at a
// deadline, which the kernel enforces through semtimedop), or the set is
// removed (EIDRM). An operation with IPC_NOWAIT that cannot proceed makes
// Op fail with EAGAIN, with or without a deadline, for any number of
// operations. It does not allocate when it need not wait, nor for up
// to 8 operations when ctx is context.Background.
func (s *SemSet) Op(ctx context.Context, ops ...Sembuf) error {
	if len(ops) == 0 {
		return nil
	}
	if ctx.Done() == nil {
		for {
			err := Semop(s.id, ops)
			if err != unix.EINTR {
				return wrap("semop", err)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return wrap("semop", err)
	}
	// Whether the caller asked for IPC_NOWAIT on any operation: then
	// EAGAIN can be that operation's answer rather than a timeout.
	callerNoWait := false
	for i := range ops {
		callerNoWait = callerNoWait || ops[i].Flg&IPC_NOWAIT != 0
	}
	// First try without waiting, so that an uncontended operation costs
	// one system call and no locked thread.
	var tmp [8]Sembuf
	if len(ops) <= len(tmp) {
		try := tmp[:0]
		for _, op := range ops {
			op.Flg |= IPC_NOWAIT
			try = append(try, op)
		}
		err := Semop(s.id, try)
		if err != unix.EAGAIN || callerNoWait {
			return wrap("semop", err)
		}
	}
	deadline, hasDeadline := ctx.Deadline()
	var timedOut bool
	err := block(ctx, "semop", func() unix.Errno {
		if !hasDeadline {
			return errnoOf(Semop(s.id, ops))
		}
		left := time.Until(deadline)
		if left <= 0 {
			timedOut = true
			return unix.EAGAIN
		}
		ts := NsecToTimespec(int64(left))
		e := errnoOf(Semtimedop(s.id, ops, &ts))
		// EAGAIN is the timeout, unless an operation of the caller's
		// has IPC_NOWAIT and the deadline has not passed: then it is
		// that operation's answer.
		if e == unix.EAGAIN && (!callerNoWait || !time.Now().Before(deadline)) {
			timedOut = true
		}
		return e
	})
	if timedOut {
		return wrap("semop", context.DeadlineExceeded)
	}
	return err
}

// NsecToTimespec converts nanoseconds to a Timespec.
func NsecToTimespec(ns int64) Timespec { return Timespec{Sec: ns / 1e9, Nsec: ns % 1e9} }

func (s *SemSet) ctlVal(cmd, num, val int) (int, error) {
	r, err := SemctlVal(s.id, num, cmd, val)
	return r, wrap("semctl", err)
}

// Value returns semaphore num's value (GETVAL).
func (s *SemSet) Value(num int) (int, error) { return s.ctlVal(GETVAL, num, 0) }

// SetValue sets semaphore num's value (SETVAL), clearing its undo entries
// in every process and waking waiters that can now proceed.
func (s *SemSet) SetValue(num, val int) error {
	_, err := s.ctlVal(SETVAL, num, val)
	return err
}

// Values returns every semaphore's value (GETALL).
func (s *SemSet) Values() ([]uint16, error) {
	vals := make([]uint16, s.n)
	_, err := SemctlArray(s.id, GETALL, vals)
	return vals, wrap("semctl", err)
}

// SetValues sets every semaphore's value (SETALL); len(vals) must be Len().
func (s *SemSet) SetValues(vals []uint16) error {
	if len(vals) != s.n {
		return wrap("semctl", unix.EINVAL)
	}
	_, err := SemctlArray(s.id, SETALL, vals)
	return wrap("semctl", err)
}

// LastPID returns the pid of the last process that operated on semaphore
// num (GETPID).
func (s *SemSet) LastPID(num int) (int, error) { return s.ctlVal(GETPID, num, 0) }

// Waiting returns how many processes wait for semaphore num to increase
// (GETNCNT) and to become zero (GETZCNT).
func (s *SemSet) Waiting(num int) (increase, zero int, err error) {
	if increase, err = s.ctlVal(GETNCNT, num, 0); err != nil {
		return 0, 0, err
	}
	zero, err = s.ctlVal(GETZCNT, num, 0)
	return increase, zero, err
}

// SemStat is a semaphore set's state.
type SemStat struct {
	Perm    Perm
	NSems   int
	LastOp  time.Time // zero if never
	Changed time.Time
}

// Stat returns the set's state (IPC_STAT).
func (s *SemSet) Stat() (SemStat, error) {
	var ds SemidDS
	if _, err := SemctlBuf(s.id, IPC_STAT, &ds); err != nil {
		return SemStat{}, wrap("semctl", err)
	}
	return SemStat{Perm: permOf(&ds.Perm), NSems: int(ds.Nsems), LastOp: unixTime(ds.OtimeSec()), Changed: unixTime(ds.CtimeSec())}, nil
}

func (s *SemSet) set(f func(*SemidDS)) error {
	var ds SemidDS
	if _, err := SemctlBuf(s.id, IPC_STAT, &ds); err != nil {
		return wrap("semctl", err)
	}
	f(&ds)
	_, err := SemctlBuf(s.id, IPC_SET, &ds)
	return wrap("semctl", err)
}

// Chmod sets the permission bits.
func (s *SemSet) Chmod(mode os.FileMode) error {
	return s.set(func(ds *SemidDS) { setMode(&ds.Perm.Mode, mode) })
}

// Chown sets the owner.
func (s *SemSet) Chown(uid, gid uint32) error {
	return s.set(func(ds *SemidDS) { ds.Perm.Uid, ds.Perm.Gid = uid, gid })
}

// Remove deletes the set (IPC_RMID); waiters fail with EIDRM.
func (s *SemSet) Remove() error { return RemoveSemSet(s.id) }

// RemoveSemSet deletes the set with the given id (IPC_RMID), as
// SemSet.Remove does, without a handle.
func RemoveSemSet(id int) error {
	_, err := SemctlVal(id, 0, IPC_RMID, 0)
	return wrap("semctl", err)
}
