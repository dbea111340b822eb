package semaphore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

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
// With Undo (the default of every constructor) both Wait and Post
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
}

// CreateSysV creates a one-semaphore SysV set for key (sysv.IPCPrivate for
// a private one whose id is passed to the other processes), mode 0600
// unless o.Mode says otherwise, and sets its value. It fails with an error
// matching os.ErrExist if key names a set.
func CreateSysV(key sysv.Key, value int, o *sysv.Options) (*SysV, error) {
	if value < 0 || value > SysVMaxValue {
		return nil, fmt.Errorf("semaphore: %w: SysV value %d outside 0..%d", unix.EINVAL, value, SysVMaxValue)
	}
	set, err := sysv.CreateSemSet(key, 1, o)
	if err != nil {
		return nil, err
	}
	return initSysV(set, value)
}

// OpenOrCreateSysV opens the SysV semaphore for key (semaphore 0 of its
// set) or, if there is none, creates it as CreateSysV does; the value is
// set exactly once, by the process that created the set, however many
// processes race to open it. With sysv.IPCPrivate it always creates.
//
// That is the classic System V initialisation protocol (W. Richard
// Stevens, UNIX Network Programming, Volume 2, chapter 11, on semget): the
// set is created with IPC_CREAT|IPC_EXCL, and the creator sets the value
// with a semop, not SETVAL, because a semop (even one that adds 0) sets
// the set's sem_otime (Stat().LastOp), which SETVAL leaves at zero. A
// process that loses the race opens the existing set and waits until
// sem_otime is non-zero. That wait is bounded: a creator that dies between
// semget and its semop leaves a set that is never initialised, and an
// opener then fails after about 10 seconds with an error matching
// unix.ETIMEDOUT (remove such a set and try again). For the same reason a
// set that a C process created and initialised with SETVAL (or SETALL) is
// seen as initialised only once some process has done a semop on it; C
// peers that share the key should follow the same protocol.
func OpenOrCreateSysV(key sysv.Key, value int, o *sysv.Options) (*SysV, error) {
	if value < 0 || value > SysVMaxValue {
		return nil, fmt.Errorf("semaphore: %w: SysV value %d outside 0..%d", unix.EINVAL, value, SysVMaxValue)
	}
	if key == sysv.IPCPrivate {
		return CreateSysV(key, value, o)
	}
	for attempt := 0; ; attempt++ {
		set, err := sysv.CreateSemSet(key, 1, o)
		if err == nil {
			return initSysV(set, value) // we created it: we initialise it
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		set, err = sysv.OpenSemSet(key)
		if errors.Is(err, os.ErrNotExist) && attempt < 100 {
			continue // removed between our two semgets: try to create it again
		}
		if err != nil {
			return nil, err
		}
		if err := awaitSysVInit(set, key); err != nil {
			return nil, err
		}
		return &SysV{set: set, flg: sysv.SEM_UNDO}, nil
	}
}

// initSysV sets a freshly created set's value with a semop, which also
// marks it initialised (sem_otime); on failure it removes the set.
func initSysV(set *sysv.SemSet, value int) (*SysV, error) {
	op := sysv.Sembuf{Num: 0, Op: int16(value), Flg: sysv.IPC_NOWAIT}
	if err := set.Op(context.Background(), op); err != nil {
		set.Remove()
		return nil, err
	}
	return &SysV{set: set, flg: sysv.SEM_UNDO}, nil
}

// defaultSysVInitWait bounds how long an opener waits for another
// process's creator to initialise a set; sysvInitWait is it, changed by
// tests.
const defaultSysVInitWait = 10 * time.Second

var sysvInitWait = defaultSysVInitWait

// awaitSysVInit waits until the set's sem_otime is non-zero, that is until
// its creator's initialising semop has run. The creator does that right
// after semget, so the wait is normally a few microseconds; the kernel
// offers nothing to sleep on for it, so it polls with exponential backoff
// (from 10µs to 10ms), for at most sysvInitWait.
func awaitSysVInit(set *sysv.SemSet, key sysv.Key) error {
	deadline := time.Now().Add(sysvInitWait)
	backoff := 10 * time.Microsecond
	for {
		st, err := set.Stat()
		if err != nil {
			return err
		}
		if !st.LastOp.IsZero() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("semaphore: SysV set %d (key %#x) was created but not initialised within %v (its creator may have died before its first semop; remove the set): %w",
				set.ID(), uint32(key), sysvInitWait, os.NewSyscallError("semop", unix.ETIMEDOUT))
		}
		time.Sleep(backoff)
		if backoff < 10*time.Millisecond {
			backoff *= 2
		}
	}
}

// OpenSysV opens the existing set for key and uses its semaphore num.
func OpenSysV(key sysv.Key, num int) (*SysV, error) {
	set, err := sysv.OpenSemSet(key)
	if err != nil {
		return nil, err
	}
	return SysVFromSet(set, num)
}

// SysVFromSet uses semaphore num of an open set (for example one opened by
// id with sysv.SemSetFromID), with Undo on.
func SysVFromSet(set *sysv.SemSet, num int) (*SysV, error) {
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
