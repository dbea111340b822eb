package feature_test

import (
	"errors"
	"fmt"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/ipctest"
)

func mqRoundTrip(t *testing.T) error {
	name := ipctest.Name("feature-mq")
	b, err := unix.ByteSliceFromString("/" + name)
	if err != nil {
		return err
	}
	p := &b[1]                  // the slash stays in the byte before, as glibc and qemu-user expect
	attr := [8]int{0, 4, 16, 0} // struct mq_attr: C longs flags, maxmsg, msgsize, curmsgs, reserved[4]
	fd, _, errno := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(p)), unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600, uintptr(unsafe.Pointer(&attr)), 0, 0)
	if errno != 0 {
		return fmt.Errorf("mq_open: %w", errno)
	}
	unix.Close(int(fd))
	if _, _, errno := unix.Syscall(unix.SYS_MQ_UNLINK, uintptr(unsafe.Pointer(p)), 0, 0); errno != 0 {
		return fmt.Errorf("mq_unlink: %w", errno)
	}
	return nil
}

func statAnyFindsQueue(t *testing.T) error {
	id, _, errno := unix.Syscall(unix.SYS_MSGGET, 0, 0o1000|0o600, 0)
	if errno != 0 {
		return fmt.Errorf("msgget: %w", errno)
	}
	defer unix.Syscall(unix.SYS_MSGCTL, id, 0, 0)
	var info [8]int32
	maxIdx, _, errno := unix.Syscall(unix.SYS_MSGCTL, 0, 12, uintptr(unsafe.Pointer(&info)))
	if errno != 0 {
		return fmt.Errorf("MSG_INFO: %w", errno)
	}
	var ds [64]uint64
	for i := uintptr(0); i <= maxIdx; i++ {
		got, _, errno := unix.Syscall(unix.SYS_MSGCTL, i, 13, uintptr(unsafe.Pointer(&ds)))
		if errno == 0 && got == id {
			return nil
		}
	}
	return errors.New("MSG_STAT_ANY never returned the queue just created")
}

// waitvTimesOut waits on one futex word with a deadline 20 ms ahead
// (absolute CLOCK_MONOTONIC) and expects ETIMEDOUT.
func waitvTimesOut() error {
	var word uint32
	w := struct {
		val, uaddr uint64
		flags, _   uint32
	}{val: 0, uaddr: uint64(uintptr(unsafe.Pointer(&word))), flags: 2 | 128}
	var now unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &now); err != nil {
		return err
	}
	deadline := struct{ sec, nsec int64 }{int64(now.Sec), int64(now.Nsec) + int64(20*time.Millisecond)}
	if deadline.nsec >= 1e9 {
		deadline.sec, deadline.nsec = deadline.sec+1, deadline.nsec-1e9
	}
	_, _, errno := unix.Syscall6(unix.SYS_FUTEX_WAITV, uintptr(unsafe.Pointer(&w)), 1, 0, uintptr(unsafe.Pointer(&deadline)), unix.CLOCK_MONOTONIC, 0)
	if errno != unix.ETIMEDOUT {
		return fmt.Errorf("futex_waitv with a 20 ms deadline returned %v, want ETIMEDOUT", errno)
	}
	return nil
}
