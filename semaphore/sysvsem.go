package semaphore

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/sysv"
)

// SysVMaxValue is SEMVMX, the largest value of a SysV semaphore on Linux.
const SysVMaxValue = 32767

// SysV is a counting semaphore backed by one semaphore of a System V set,
// with the same Wait/TryWait/Post/Value surface as Sem. Its advantage is
// SEM_UNDO: the kernel records each process's net adjustment and reverses
// it when the process exits by any means, SIGKILL included, so units taken
// by a holder that dies come back. POSIX semaphores cannot do that.
//
// With Undo (the default of CreateSysV and OpenSysV) both Wait and Post
// carry SEM_UNDO, which suits a lock or a pool of units that each process
// takes and gives back: a process that dies between Wait and Post returns
// its unit, and one that completed both leaves no adjustment behind. For a
// producer/consumer pattern, where one process posts and another waits,
// turn Undo off (SetUndo(false)): otherwise a poster's exit would take back
// what it posted.
//
// Each operation is one system call (semop), where Sem's uncontended path
// makes none; waits block an OS thread (see package sysv).
type SysV struct {
	set *sysv.SemSet
	num uint16
	flg int16
	own bool
}

// CreateSysV creates a one-semaphore SysV set for key (sysv.IPCPrivate for
// a private one whose id is passed to the other processes), mode 0600
// unless o.Mode says otherwise, and sets its value. It fails with an error
// matching os.ErrExist if key names a set, unless o.OpenExisting (then the
// existing set's value is left as it is).
//
// The value is set with a semop, not SETVAL, so that the set's
// Stat().LastOp becomes non-zero exactly when it is initialised: openers
// that race with the creator can wait for that (the classic SysV
// initialisation race).
func CreateSysV(key sysv.Key, value int, o *sysv.Options) (*SysV, error) {
	if value < 0 || value > SysVMaxValue {
		return nil, fmt.Errorf("semaphore: %w: SysV value %d outside 0..%d", unix.EINVAL, value, SysVMaxValue)
	}
	set, err := sysv.CreateSemSet(key, 1, o)
	existed := false
	if err == nil && o != nil && o.OpenExisting && key != sysv.IPCPrivate {
		// Created or opened? A fresh set has never been operated on.
		st, serr := set.Stat()
		if serr != nil {
			return nil, serr
		}
		existed = !st.LastOp.IsZero()
	}
	if err != nil {
		return nil, err
	}
	s := &SysV{set: set, flg: sysv.SEM_UNDO}
	if !existed {
		op := sysv.Sembuf{Num: 0, Op: int16(value), Flg: sysv.IPC_NOWAIT}
		if err := set.Op(context.Background(), op); err != nil {
			set.Remove()
			return nil, err
		}
	}
	return s, nil
}

// OpenSysV opens the existing set for key and uses its semaphore num.
func OpenSysV(key sysv.Key, num int) (*SysV, error) {
	set, err := sysv.OpenSemSet(key)
	if err != nil {
		return nil, err
	}
	return NewSysV(set, num)
}

// NewSysV uses semaphore num of an open set (for example one opened by id
// with sysv.SemSetFromID), with Undo on.
func NewSysV(set *sysv.SemSet, num int) (*SysV, error) {
	if num < 0 || num >= set.Len() {
		return nil, fmt.Errorf("semaphore: %w: semaphore %d of a %d-semaphore set", unix.EINVAL, num, set.Len())
	}
	return &SysV{set: set, num: uint16(num), flg: sysv.SEM_UNDO}, nil
}

// SetUndo turns SEM_UNDO on or off for later operations.
func (s *SysV) SetUndo(on bool) {
	if on {
		s.flg = sysv.SEM_UNDO
	} else {
		s.flg = 0
	}
}

// Set returns the underlying set (for Stat, Remove, Chmod...).
func (s *SysV) Set() *sysv.SemSet { return s.set }

// Wait takes one unit, blocking until one is available or ctx is done
// (ctx.Err(); context.DeadlineExceeded at the deadline). It fails with an
// error matching unix.EIDRM if the set is removed meanwhile.
func (s *SysV) Wait(ctx context.Context) error {
	return s.set.Op(ctx, sysv.Sembuf{Num: s.num, Op: -1, Flg: s.flg})
}

// TryWait takes one unit if available, else returns ErrWouldBlock.
func (s *SysV) TryWait() error {
	err := s.set.Op(context.Background(), sysv.Sembuf{Num: s.num, Op: -1, Flg: s.flg | sysv.IPC_NOWAIT})
	if errors.Is(err, unix.EAGAIN) {
		return ErrWouldBlock
	}
	return err
}

// Post adds one unit and wakes a waiter. Above SysVMaxValue the kernel
// refuses with ERANGE.
func (s *SysV) Post() error {
	return s.set.Op(context.Background(), sysv.Sembuf{Num: s.num, Op: 1, Flg: s.flg})
}

// Value returns the semaphore's value (GETVAL).
func (s *SysV) Value() (int, error) { return s.set.Value(int(s.num)) }

// Remove deletes the whole set (IPC_RMID); waiters fail with EIDRM.
func (s *SysV) Remove() error { return s.set.Remove() }
