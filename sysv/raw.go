package sysv

import (
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/abi"
	"github.com/ipckit/ipckit/internal/race"
)

// This file is the raw layer: the System V calls with the kernel's
// semantics, errno returned as a bare unix.Errno, and no allocation. The
// per-architecture quirks are applied here from generated constants:
// IPC_64 on the *ctl commands where the kernel wants it, the by-value
// union semun (shifted on big-endian 64-bit), msgtyp as a C long, and the
// _time64 semtimedop on 32-bit systems.

// Key is a System V IPC key (key_t).
type Key int32

// IPCPrivate is the key that always creates a new object.
const IPCPrivate Key = IPC_PRIVATE

// Timespec is struct __kernel_timespec (64-bit on every architecture).
type Timespec = abi.Timespec

// SizeofLong is sizeof(long): the size of the mtype header of a msgbuf.
const SizeofLong = abi.SizeofLong

// Msgget returns the id of the message queue for key (msgget(2)).
func Msgget(key Key, msgflg int) (int, error) { return msgget(int32(key), msgflg) }

// Msgsnd sends msgp, a struct msgbuf image: a C long message type
// (SizeofLong bytes, native byte order; see Msgbuf) followed by the text.
// msgsz is len(msgp)-SizeofLong. A buffer shorter than the header gives
// EINVAL without a system call. While it blocks (a full queue, no
// IPC_NOWAIT) any signal makes it return EINTR, the Go runtime's own
// preemption signal included: retry (see "EINTR in the raw layer" in the
// package doc).
func Msgsnd(msqid int, msgp []byte, msgflg int) error {
	if len(msgp) < SizeofLong {
		return unix.EINVAL
	}
	return msgsnd(msqid, unsafe.Pointer(&msgp[0]), uintptr(len(msgp)-SizeofLong), msgflg)
}

// Msgrcv receives into msgp, a struct msgbuf image with room for
// len(msgp)-SizeofLong bytes of text, and returns the text's length.
// msgtyp selects as in msgrcv(2): 0 the first message, >0 the first of
// that type (or, with MSG_EXCEPT, of another type), <0 the lowest type not
// above -msgtyp; with MSG_COPY it is a 0-based index (IPC_NOWAIT required).
// While it blocks any signal makes it return EINTR, the Go runtime's own
// preemption signal included: retry (see "EINTR in the raw layer" in the
// package doc).
func Msgrcv(msqid int, msgp []byte, msgtyp int, msgflg int) (int, error) {
	if len(msgp) < SizeofLong {
		return 0, unix.EINVAL
	}
	n, err := msgrcv(msqid, unsafe.Pointer(&msgp[0]), uintptr(len(msgp)-SizeofLong), msgtyp, msgflg)
	if err == nil && race.Enabled {
		race.WriteRange(unsafe.Pointer(&msgp[0]), SizeofLong+n)
	}
	return n, err
}

// Msgctl performs cmd (IPC_STAT, IPC_SET, IPC_RMID, MSG_STAT,
// MSG_STAT_ANY) on a message queue. buf may be nil for IPC_RMID.
func Msgctl(msqid, cmd int, buf *MsqidDS) (int, error) {
	return msgctl(msqid, cmd|abi.IPC64, unsafe.Pointer(buf))
}

// MsgctlInfo performs IPC_INFO or MSG_INFO, which fill a Msginfo and
// return the highest used index.
func MsgctlInfo(cmd int, buf *Msginfo) (int, error) {
	return msgctl(0, cmd|abi.IPC64, unsafe.Pointer(buf))
}

// Semget returns the id of the semaphore set for key (semget(2)).
func Semget(key Key, nsems, semflg int) (int, error) { return semget(int32(key), nsems, semflg) }

// Semop performs the operations atomically (semop(2)), blocking unless
// each operation that would block has IPC_NOWAIT. While it blocks any
// signal makes it return EINTR, the Go runtime's own preemption signal
// included: retry (see "EINTR in the raw layer" in the package doc).
func Semop(semid int, sops []Sembuf) error {
	return Semtimedop(semid, sops, nil)
}

// Semtimedop is Semop with a relative timeout; nil waits forever. A
// timeout is reported as EAGAIN, as the kernel does. While it blocks any
// signal makes it return EINTR, the Go runtime's own preemption signal
// included: retry with the time left until a deadline of your own, since
// the kernel does not shorten the relative timeout it was given (see the
// example, and "EINTR in the raw layer" in the package doc).
func Semtimedop(semid int, sops []Sembuf, timeout *Timespec) error {
	if len(sops) == 0 {
		return semtimedop(semid, nil, 0, timeout)
	}
	return semtimedop(semid, unsafe.Pointer(&sops[0]), uintptr(len(sops)), timeout)
}

// Semctl performs cmd with arg passed as the kernel receives union semun:
// by value, as an unsigned long. Use SemctlVal, SemctlBuf, SemctlArray or
// SemctlInfo for the commands whose argument is an int or a pointer.
func Semctl(semid, semnum, cmd int, arg uintptr) (int, error) {
	return semctl(semid, semnum, cmd|abi.IPC64, arg)
}

// SemctlVal performs a command whose union semun carries an int (SETVAL),
// or none (GETVAL, GETPID, GETNCNT, GETZCNT, IPC_RMID). On big-endian
// 64-bit systems the int travels in the high half of the unsigned long, as
// a C union passed by value does; this does that.
func SemctlVal(semid, semnum, cmd, val int) (int, error) {
	return semctl(semid, semnum, cmd|abi.IPC64, uintptr(uint32(int32(val)))<<abi.SemunShift)
}

// SemctlBuf performs IPC_STAT, IPC_SET, SEM_STAT or SEM_STAT_ANY.
func SemctlBuf(semid, cmd int, buf *SemidDS) (int, error) {
	return semctl(semid, 0, cmd|abi.IPC64, uintptr(unsafe.Pointer(buf)))
}

// SemctlArray performs GETALL or SETALL. The kernel reads or writes one
// value per semaphore in the set, so vals must hold at least that many:
// this checks the set's size first (one IPC_STAT) and returns EINVAL
// rather than let the kernel run past the slice.
func SemctlArray(semid, cmd int, vals []uint16) (int, error) {
	var ds SemidDS
	if _, err := SemctlBuf(semid, IPC_STAT, &ds); err != nil {
		return 0, err
	}
	if uint64(len(vals)) < uint64(ds.Nsems) || len(vals) == 0 {
		return 0, unix.EINVAL
	}
	r, err := semctl(semid, 0, cmd|abi.IPC64, uintptr(unsafe.Pointer(&vals[0])))
	if err == nil && cmd == GETALL && race.Enabled {
		race.WriteRange(unsafe.Pointer(&vals[0]), 2*int(ds.Nsems))
	}
	return r, err
}

// SemctlInfo performs IPC_INFO or SEM_INFO, which fill a Seminfo and
// return the highest used index.
func SemctlInfo(cmd int, buf *Seminfo) (int, error) {
	return semctl(0, 0, cmd|abi.IPC64, uintptr(unsafe.Pointer(buf)))
}

// Shmget returns the id of the shared-memory segment for key (shmget(2)).
func Shmget(key Key, size int, shmflg int) (int, error) {
	return shmget(int32(key), uintptr(size), shmflg)
}

// Shmat attaches a segment at addr (0: the kernel chooses) and returns the
// address (shmat(2)). Prefer Segment.Attach, which returns a *posix.Mapping.
func Shmat(shmid int, addr uintptr, shmflg int) (uintptr, error) {
	return shmat(shmid, addr, shmflg)
}

// Shmdt detaches the segment attached at addr.
func Shmdt(addr uintptr) error { return shmdt(addr) }

// Shmctl performs IPC_STAT, IPC_SET, IPC_RMID, SHM_STAT, SHM_STAT_ANY,
// SHM_LOCK or SHM_UNLOCK. buf may be nil where the command takes none.
func Shmctl(shmid, cmd int, buf *ShmidDS) (int, error) {
	return shmctl(shmid, cmd|abi.IPC64, unsafe.Pointer(buf))
}

// ShmctlIPCInfo performs IPC_INFO, which fills the system-wide limits and
// returns the highest used index.
func ShmctlIPCInfo(buf *Shminfo) (int, error) {
	return shmctl(0, IPC_INFO|abi.IPC64, unsafe.Pointer(buf))
}

// ShmctlShmInfo performs SHM_INFO, which fills the system-wide usage and
// returns the highest used index.
func ShmctlShmInfo(buf *ShmInfo) (int, error) {
	return shmctl(0, SHM_INFO|abi.IPC64, unsafe.Pointer(buf))
}

// Ftok derives a key from a file and a project id exactly as glibc's
// ftok(3) does: the low 16 bits of the inode, the low 8 bits of the
// device number, and the low 8 bits of projID.
func Ftok(path string, projID byte) (Key, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return -1, err
	}
	return Key(uint32(st.Ino&0xffff) | uint32(st.Dev&0xff)<<16 | uint32(projID)<<24), nil
}

// Msgbuf is a struct msgbuf image for Msgsnd and Msgrcv: a native C long
// message type followed by the message text.
type Msgbuf []byte

// NewMsgbuf returns a Msgbuf with room for textLen bytes of text.
func NewMsgbuf(textLen int) Msgbuf { return make(Msgbuf, SizeofLong+textLen) }

// Type returns the message type.
func (m Msgbuf) Type() int {
	if len(m) < SizeofLong {
		return 0
	}
	if SizeofLong == 8 {
		return int(int64(binary.NativeEndian.Uint64(m)))
	}
	return int(int32(binary.NativeEndian.Uint32(m)))
}

// SetType sets the message type (must be > 0 for Msgsnd).
func (m Msgbuf) SetType(t int) {
	switch {
	case len(m) < SizeofLong:
	case SizeofLong == 8:
		binary.NativeEndian.PutUint64(m, uint64(int64(t)))
	default:
		binary.NativeEndian.PutUint32(m, uint32(int32(t)))
	}
}

// Text returns the text part.
func (m Msgbuf) Text() []byte {
	if len(m) < SizeofLong {
		return nil
	}
	return m[SizeofLong:]
}
