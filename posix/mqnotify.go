package posix

import (
	"context"
	"encoding/binary"
	"runtime"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/abi"
)

// sigev_notify values and the mq_notify netlink cookie (docs/ABI.md §4.3).
const (
	sigevSignal    = abi.SIGEV_SIGNAL
	sigevNone      = abi.SIGEV_NONE
	sigevThread    = abi.SIGEV_THREAD
	notifyCookie   = abi.NOTIFY_COOKIE_LEN
	notifyWokenUp  = abi.NOTIFY_WOKENUP
	notifyRemoved  = abi.NOTIFY_REMOVED
	netlinkRouteNL = unix.NETLINK_ROUTE // the protocol does not matter to mq_notify
)

// NotifyEvent is what a Notify channel delivers.
type NotifyEvent int

const (
	// NotifyWoken: a message arrived in the empty queue while no receiver
	// was waiting. The registration is spent; call Notify again to re-arm.
	NotifyWoken NotifyEvent = notifyWokenUp
	// NotifyRemoved: the registration ended without a notification
	// (Unnotify, Close, or this process closed any descriptor of the
	// queue, which the kernel treats as giving up the registration).
	NotifyRemoved NotifyEvent = notifyRemoved
)

func (e NotifyEvent) String() string {
	switch e {
	case NotifyWoken:
		return "woken"
	case NotifyRemoved:
		return "removed"
	}
	return "NotifyEvent(" + itoa(int(e)) + ")"
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

var notifySeq atomic.Uint64

// mqNotifier is one SIGEV_THREAD-style registration: the kernel writes the
// 32-byte cookie to a netlink socket that waits in the runtime poller
// (no helper thread, unlike glibc).
type mqNotifier struct {
	p  *pollFD
	id uint64
	ch chan NotifyEvent
	// read state, touched only by the reading goroutine
	buf [notifyCookie]byte
	n   int
	err error
	fn  func(uintptr) bool
}

func (nt *mqNotifier) read(fd uintptr) bool {
	nt.n, nt.err = unix.Read(int(fd), nt.buf[:])
	return ready(nt.err)
}

func (nt *mqNotifier) close() { nt.p.close() }

func (nt *mqNotifier) loop() {
	defer nt.p.close()
	defer close(nt.ch)
	for {
		err := nt.p.wait(context.Background(), false, nt.fn)
		if err != nil { // socket closed: the queue was closed
			nt.ch <- NotifyRemoved
			return
		}
		if nt.err != nil || nt.n != notifyCookie || binary.LittleEndian.Uint64(nt.buf[:8]) != nt.id {
			continue // not ours or short: ignore
		}
		switch nt.buf[notifyCookie-1] {
		case notifyWokenUp:
			nt.ch <- NotifyWoken
			return
		case notifyRemoved:
			nt.ch <- NotifyRemoved
			return
		}
	}
}

// Notify registers this process for a one-shot notification, delivered on
// the returned channel, when the queue goes from empty to non-empty while
// no process is blocked in mq_timedreceive on it (such a receiver takes
// the message instead). Goroutines waiting in this package's Receive are
// parked in the poller, not in mq_timedreceive, so they do not suppress
// the notification. The channel yields one NotifyEvent and is then closed.
//
// This is what glibc's SIGEV_THREAD does underneath: the kernel sends a
// 32-byte cookie to a netlink socket; here that socket is read by the Go
// runtime poller, so no thread waits. Only one process may be registered
// per queue (unix.EBUSY otherwise, also for a second registration by this
// process: call Unnotify first). Beware that any close(2) of a descriptor
// of this queue by this process cancels the registration — including
// reading /dev/mqueue/NAME (ListQueues does that).
func (q *Queue) Notify() (<-chan NotifyEvent, error) {
	sfd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, netlinkRouteNL)
	if err != nil {
		return nil, opError("socket", err)
	}
	p, err := newPollFD(sfd, "mq_notify-netlink")
	if err != nil {
		return nil, err
	}
	nt := &mqNotifier{p: p, id: notifySeq.Add(1), ch: make(chan NotifyEvent, 1)}
	nt.fn = nt.read
	var cookie [notifyCookie]byte
	binary.LittleEndian.PutUint64(cookie[:8], nt.id)
	sev := abi.Sigevent{
		Value:  uintptr(unsafe.Pointer(&cookie[0])),
		Signo:  int32(sfd),
		Notify: sigevThread,
	}
	var serr error
	q.nmu.Lock()
	defer q.nmu.Unlock()
	err = q.p.control(func(fd uintptr) { serr = MqNotify(int(fd), &sev) })
	runtime.KeepAlive(&cookie)
	if err == nil {
		err = serr
	}
	if err != nil {
		p.close()
		return nil, opError("mq_notify", err)
	}
	q.notify = nt
	go nt.loop()
	return nt.ch, nil
}

// NotifySignal registers for a one-shot SIGEV_SIGNAL notification: the
// kernel sends sig to this process (with si_code SI_MESGQ and si_value
// value, which os/signal does not show). Use os/signal.Notify to receive
// it.
func (q *Queue) NotifySignal(sig syscall.Signal, value uintptr) error {
	return q.notifyRaw(&abi.Sigevent{Value: value, Signo: int32(sig), Notify: sigevSignal})
}

// NotifyNone registers with SIGEV_NONE: nothing is delivered, but the
// registration holds the queue's single notification slot (other
// processes get EBUSY) until it fires or is removed.
func (q *Queue) NotifyNone() error {
	return q.notifyRaw(&abi.Sigevent{Notify: sigevNone})
}

// Unnotify removes this process's registration (mq_notify(fd, NULL)). A
// pending Notify channel then yields NotifyRemoved.
func (q *Queue) Unnotify() error {
	return q.notifyRaw(nil)
}

func (q *Queue) notifyRaw(sev *abi.Sigevent) error {
	var serr error
	err := q.p.control(func(fd uintptr) { serr = MqNotify(int(fd), sev) })
	if err == nil {
		err = serr
	}
	return opError("mq_notify", err)
}
