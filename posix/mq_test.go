package posix_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/abi"
	"github.com/ipckit/ipckit/internal/race"
	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/posix"
)

func TestQueueSendReceivePriorities(t *testing.T) {
	q := newQueue(t, 8, 64)
	ctx := context.Background()
	sent := []struct {
		msg  string
		prio uint
	}{{"low-1", 1}, {"high", 30000}, {"mid", 7}, {"low-2", 1}, {"zero", 0}}
	for _, s := range sent {
		if err := q.Send(ctx, []byte(s.msg), s.prio); err != nil {
			t.Fatal(err)
		}
	}
	a, err := q.Attr()
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(posix.QueueAttr{MaxMsgs: 8, MsgSize: 64, CurMsgs: 5}, a); d != "" {
		t.Fatalf("Attr (-want +got):\n%s", d)
	}
	want := []string{"high/30000", "mid/7", "low-1/1", "low-2/1", "zero/0"}
	buf := make([]byte, q.MsgSize())
	for i, w := range want {
		n, prio, err := q.Receive(ctx, buf)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%s/%d", buf[:n], prio); got != w {
			t.Errorf("message %d = %s, want %s", i, got, w)
		}
	}
}

func TestQueueErrors(t *testing.T) {
	q := newQueue(t, 2, 16)
	ctx := context.Background()
	if err := q.Send(ctx, []byte("x"), posix.MqPrioMax); !errors.Is(err, unix.EINVAL) {
		t.Errorf("Send with prio MqPrioMax: %v, want EINVAL", err)
	}
	if err := q.Send(ctx, make([]byte, 17), 0); !errors.Is(err, unix.EMSGSIZE) {
		t.Errorf("Send of 17 bytes into a 16-byte queue: %v, want EMSGSIZE", err)
	}
	if err := q.Send(ctx, []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := q.Receive(ctx, make([]byte, 15)); !errors.Is(err, unix.EMSGSIZE) {
		t.Errorf("Receive into 15 bytes: %v, want EMSGSIZE", err)
	}
	// exclusive create of an existing queue
	if _, err := posix.CreateQueue(q.Name(), 2, 16); !errors.Is(err, os.ErrExist) {
		t.Errorf("CreateQueue on existing: %v, want ErrExist", err)
	}
	if _, err := posix.OpenQueueFlags("/"+ipctest.Name("absent"), unix.O_RDWR, 0, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("open absent: %v, want ErrNotExist", err)
	}
	// a queue opened write-only cannot receive
	w := openAgain(t, q, unix.O_WRONLY)
	if _, _, err := w.TryReceive(make([]byte, 16)); !errors.Is(err, unix.EBADF) {
		t.Errorf("TryReceive on O_WRONLY: %v, want EBADF", err)
	}
}

func TestQueueBadNames(t *testing.T) {
	for _, name := range []string{"", "/", "/a/b", "a/b", "//two", "/.", "/..", "..", "/" + strings.Repeat("x", 256), "nul\x00"} {
		_, err := posix.OpenQueueFlags(name, unix.O_RDWR|unix.O_CREAT, 0, nil)
		if !errors.Is(err, posix.ErrInvalidName) {
			t.Errorf("OpenQueue(%.20q) = %v, want ErrInvalidName", name, err)
		}
		if err := posix.UnlinkQueue(name); !errors.Is(err, posix.ErrInvalidName) {
			t.Errorf("UnlinkQueue(%.20q) = %v, want ErrInvalidName", name, err)
		}
	}
	// 255 bytes is the longest accepted name; a leading slash is optional.
	long := ipctest.Name("") + strings.Repeat("y", 200)
	long += strings.Repeat("z", 255-len(long))
	q, err := posix.CreateQueue(long, 1, 8)
	if err != nil {
		t.Fatalf("255-byte name: %v", err)
	}
	q.Close()
	if err := posix.UnlinkQueue("/" + long); err != nil {
		t.Fatal(err)
	}
	err = fmt.Errorf("%w", posix.UnlinkQueue("/a/b"))
	if !strings.Contains(err.Error(), "one leading '/'") {
		t.Errorf("unclear error: %v", err)
	}
}

func TestQueueNonBlocking(t *testing.T) {
	q := newQueue(t, 1, 8)
	buf := make([]byte, 8)
	if _, _, err := q.TryReceive(buf); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("TryReceive on empty: %v, want EAGAIN", err)
	}
	if err := q.TrySend([]byte("a"), 0); err != nil {
		t.Fatal(err)
	}
	if err := q.TrySend([]byte("b"), 0); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("TrySend on full: %v, want EAGAIN", err)
	}
	// O_NONBLOCK through SetAttr makes Send/Receive non-blocking.
	old, err := q.SetAttr(posix.QueueAttr{NonBlock: true})
	if err != nil || old.NonBlock {
		t.Fatalf("SetAttr: %+v %v", old, err)
	}
	if err := q.Send(context.Background(), []byte("c"), 0); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("non-blocking Send on full: %v", err)
	}
	a, _ := q.Attr()
	if !a.NonBlock || a.CurMsgs != 1 {
		t.Fatalf("Attr = %+v", a)
	}
	q.SetAttr(posix.QueueAttr{})
	if n, _, err := q.Receive(context.Background(), buf); err != nil || string(buf[:n]) != "a" {
		t.Fatalf("Receive: %q %v", buf[:n], err)
	}
	// O_NONBLOCK at open time.
	nb := openAgain(t, q, unix.O_RDWR|unix.O_NONBLOCK)
	if _, _, err := nb.Receive(context.Background(), buf); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("Receive on O_NONBLOCK queue: %v", err)
	}
}

func TestQueueDeadlineAndCancel(t *testing.T) {
	q := newQueue(t, 1, 8)
	buf := make([]byte, 8)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := q.Receive(ctx, buf)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive past deadline: %v, want DeadlineExceeded", err)
	}
	if el := time.Since(start); el < 90*time.Millisecond || el > 5*time.Second {
		t.Fatalf("deadline honoured after %v", el)
	}

	// Cancellation while parked returns promptly.
	ctx2, cancel2 := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, _, err := q.Receive(ctx2, buf); errc <- err }()
	time.Sleep(50 * time.Millisecond)
	start = time.Now()
	cancel2()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Receive: %v", err)
		}
		t.Logf("Receive returned %v after cancel", time.Since(start))
	case <-time.After(2 * time.Second):
		t.Fatal("Receive did not return within 2 s of cancellation")
	}

	// Send on a full queue honours its context too.
	if err := q.Send(context.Background(), []byte("full"), 0); err != nil {
		t.Fatal(err)
	}
	ctx3, cancel3 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel3()
	if err := q.Send(ctx3, []byte("x"), 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send on full queue past deadline: %v", err)
	}
	// The queue still works afterwards, and deadlines were disarmed.
	if _, _, err := q.Receive(context.Background(), buf); err != nil {
		t.Fatal(err)
	}
	if err := q.Send(context.Background(), []byte("ok"), 0); err != nil {
		t.Fatal(err)
	}
}

// One receiver's cancellation must not disturb another receiver that is
// parked on the same queue with a longer context.
func TestQueueConcurrentContexts(t *testing.T) {
	q := newQueue(t, 4, 8)
	long, cancelLong := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelLong()
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 8)
		n, _, err := q.Receive(long, buf)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(buf[:n])
	}()
	for i := 0; i < 5; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, _, err := q.Receive(ctx, make([]byte, 8))
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("short Receive: %v", err)
		}
	}
	if err := q.Send(context.Background(), []byte("hello"), 0); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "hello" {
			t.Fatalf("long receiver got %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("long receiver never got the message")
	}
}

func TestQueueCloseUnblocks(t *testing.T) {
	q := newQueue(t, 1, 8)
	errc := make(chan error, 2)
	for i := 0; i < 2; i++ { // one parked in the poller, one queued behind it
		go func() { _, _, err := q.Receive(context.Background(), make([]byte, 8)); errc <- err }()
	}
	time.Sleep(50 * time.Millisecond)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		select {
		case err := <-errc:
			if !errors.Is(err, os.ErrClosed) {
				t.Errorf("Receive after Close: %v, want ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not unblock Receive")
		}
	}
	if err := q.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := q.TrySend([]byte("x"), 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("TrySend after Close: %v", err)
	}
}

// The poller claim: 1,000 goroutines blocked in Receive (100 queues, 10
// receivers each) occupy no OS thread each.
func TestQueueReceiversUseFewThreads(t *testing.T) {
	const queues, per = 100, 10
	qs := make([]*posix.Queue, queues)
	for i := range qs {
		qs[i] = newQueue(t, 10, 16)
	}
	before := threads(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := 0
	for _, q := range qs {
		for j := 0; j < per; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 16)
				if _, _, err := q.Receive(context.Background(), buf); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got++
				mu.Unlock()
			}()
		}
	}
	time.Sleep(300 * time.Millisecond) // let them park
	during := threads(t)
	t.Logf("OS threads: %d before, %d with %d goroutines blocked in Receive", before, during, queues*per)
	if during-before > 16 {
		t.Errorf("%d receivers added %d OS threads; the poller should need almost none", queues*per, during-before)
	}
	for _, q := range qs {
		for j := 0; j < per; j++ {
			if err := q.Send(context.Background(), []byte("wake"), uint(j)); err != nil {
				t.Fatal(err)
			}
		}
	}
	wg.Wait()
	if got != queues*per {
		t.Fatalf("%d of %d receivers got a message", got, queues*per)
	}
}

func TestQueueAllocs(t *testing.T) {
	q := newQueue(t, 8, 64)
	msg := []byte("payload")
	buf := make([]byte, 64)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		if err := q.Send(ctx, msg, 3); err != nil {
			t.Fatal(err)
		}
		if _, _, err := q.Receive(ctx, buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Send+Receive with context.Background: %v allocs/op, want 0", allocs)
	}
	allocs = testing.AllocsPerRun(1000, func() {
		if err := q.TrySend(msg, 3); err != nil {
			t.Fatal(err)
		}
		if _, _, err := q.TryReceive(buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("TrySend+TryReceive: %v allocs/op, want 0", allocs)
	}
}

func BenchmarkQueueSendReceive(b *testing.B) {
	q := newQueue(b, 8, 64)
	msg := make([]byte, 64)
	buf := make([]byte, 64)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := q.Send(ctx, msg, 1); err != nil {
			b.Fatal(err)
		}
		if _, _, err := q.Receive(ctx, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// Ping-pong between two goroutines through two queues: every Receive
// parks in the poller.
func BenchmarkQueuePingPong(b *testing.B) {
	ping := newQueue(b, 8, 64)
	pong := newQueue(b, 8, 64)
	ctx := context.Background()
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		for {
			n, _, err := ping.Receive(ctx, buf)
			if err != nil || n == 0 {
				return
			}
			pong.Send(ctx, buf[:n], 0)
		}
	}()
	msg := make([]byte, 64)
	buf := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		ping.Send(ctx, msg, 0)
		pong.Receive(ctx, buf)
	}
	ping.Send(ctx, nil, 0)
	<-done
}

func TestQueueRawCalls(t *testing.T) {
	// The raw layer: kernel names without the leading slash.
	name := ipctest.Name("raw")
	fd, err := posix.MqOpen(name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600, &abi.MqAttr{Maxmsg: 2, Msgsize: 32})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	defer posix.MqUnlink(name)
	if _, err := posix.MqOpen("/"+name, unix.O_RDWR, 0, nil); !errors.Is(err, unix.EACCES) {
		t.Errorf("raw MqOpen with a slash: %v, want EACCES (kernel rule)", err)
	}
	if err := posix.MqTimedsend(fd, []byte("raw"), 5, nil); err != nil {
		t.Fatal(err)
	}
	var a abi.MqAttr
	if err := posix.MqGetsetattr(fd, nil, &a); err != nil || a.Curmsgs != 1 || a.Msgsize != 32 {
		t.Fatalf("MqGetsetattr: %+v %v", a, err)
	}
	buf := make([]byte, 32)
	var prio uint32
	n, err := posix.MqTimedreceive(fd, buf, &prio, nil)
	if err != nil || string(buf[:n]) != "raw" || prio != 5 {
		t.Fatalf("MqTimedreceive: %q %d %v", buf[:n], prio, err)
	}
	// absolute CLOCK_REALTIME timeout
	ts := abi.TimeToTimespec(time.Now().Add(50 * time.Millisecond))
	if _, err := posix.MqTimedreceive(fd, buf, &prio, &ts); err != unix.ETIMEDOUT {
		t.Fatalf("timed receive on empty queue: %v, want ETIMEDOUT", err)
	}
}

func TestQueueNotifyChannel(t *testing.T) {
	testenv.SkipUnderEmulation(t, "qemu-user 7.2 answers ENOSYS for mq_notify")
	q := newQueue(t, 4, 16)
	ch, err := q.Notify()
	if err != nil {
		t.Fatal(err)
	}
	// Only one registration per queue, even for the same process.
	if _, err := q.Notify(); !errors.Is(err, unix.EBUSY) {
		t.Fatalf("second Notify: %v, want EBUSY", err)
	}
	// Another descriptor (same process) sends: empty → non-empty.
	w := openAgain(t, q, unix.O_WRONLY)
	if err := w.Send(context.Background(), []byte("ping"), 0); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-ch:
		if ev != posix.NotifyWoken {
			t.Fatalf("event %v, want woken", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no notification")
	}
	if _, ok := <-ch; ok {
		t.Fatal("channel not closed after the event")
	}
	// Re-arm and cancel: the channel reports removal.
	ch, err = q.Notify()
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Unnotify(); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-ch:
		if ev != posix.NotifyRemoved {
			t.Fatalf("event %v, want removed", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no removal event")
	}
	// Closing the queue cancels a registration.
	ch, err = q.Notify()
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	select {
	case ev := <-ch:
		if ev != posix.NotifyRemoved {
			t.Fatalf("event after Close %v, want removed", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no removal event after Close")
	}
}

func TestQueueNotifySignal(t *testing.T) {
	testenv.SkipUnderEmulation(t, "qemu-user 7.2 answers ENOSYS for mq_notify")
	q := newQueue(t, 4, 16)
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGUSR2)
	defer signal.Stop(sigc)
	if err := q.NotifySignal(syscall.SIGUSR2, 42); err != nil {
		t.Fatal(err)
	}
	if err := q.Send(context.Background(), []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-sigc:
		if s != syscall.SIGUSR2 {
			t.Fatalf("got %v", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no SIGUSR2")
	}
}

func init() {
	testenv.RegisterChild("mq-notify-busy", func(args []string) int {
		q, err := posix.OpenQueueFlags(args[0], unix.O_RDONLY, 0, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer q.Close()
		err = q.NotifyNone()
		switch {
		case errors.Is(err, unix.EBUSY):
			fmt.Print("EBUSY")
		case err == nil:
			fmt.Print("REGISTERED")
		default:
			fmt.Print(err)
		}
		return 0
	})
}

// SIGEV_NONE holds the queue's one registration slot: another process
// gets EBUSY while it is held and succeeds once it is removed.
func TestQueueNotifyNone(t *testing.T) {
	testenv.SkipUnderEmulation(t, "qemu-user 7.2 answers ENOSYS for mq_notify")
	q := newQueue(t, 4, 16)
	if err := q.NotifyNone(); err != nil {
		t.Fatal(err)
	}
	out, err := testenv.Child(t, "mq-notify-busy", q.Name()).Output()
	if err != nil || string(out) != "EBUSY" {
		t.Fatalf("child with registration held: %q %v, want EBUSY", out, err)
	}
	if err := q.Unnotify(); err != nil {
		t.Fatal(err)
	}
	out, err = testenv.Child(t, "mq-notify-busy", q.Name()).Output()
	if err != nil || string(out) != "REGISTERED" {
		t.Fatalf("child after Unnotify: %q %v, want REGISTERED", out, err)
	}
}

func TestListQueues(t *testing.T) {
	q := newQueue(t, 4, 32)
	ctx := context.Background()
	q.Send(ctx, []byte("abc"), 0)
	q.Send(ctx, []byte("defgh"), 9)
	qs, err := posix.ListQueues()
	if err != nil {
		if os.Geteuid() != 0 {
			testenv.SkipOrFail(t, "ListQueues needs /dev/mqueue mounted or CAP_SYS_ADMIN: %v", err)
		}
		t.Fatal(err)
	}
	found := false
	for _, qi := range qs {
		if "/"+qi.Name == q.Name() {
			found = true
			want := posix.QueueInfo{Name: qi.Name, QSize: 8, Mode: 0o600, UID: uint32(os.Geteuid()), GID: uint32(os.Getegid()), ModTime: qi.ModTime}
			if d := cmp.Diff(want, qi); d != "" {
				t.Errorf("QueueInfo (-want +got):\n%s", d)
			}
		}
	}
	if !found {
		t.Fatalf("%s not listed among %d queues", q.Name(), len(qs))
	}
	// The private mount left nothing behind: no mqueue mount is visible.
	b, _ := os.ReadFile("/proc/self/mountinfo")
	if bytes.Contains(b, []byte("ipckit-mqueue-")) {
		t.Errorf("private mqueue mount leaked into this mount namespace:\n%s", b)
	}
	if left, _ := filepath.Glob(filepath.Join(os.TempDir(), "ipckit-mqueue-*")); len(left) > 0 {
		t.Errorf("temporary mount points left behind: %v", left)
	}
}

// The raw generated calls on the same queue, for comparison with
// BenchmarkQueueSendReceive (the handle's poller and semaphore overhead).
func BenchmarkQueueRawSendReceive(b *testing.B) {
	name := ipctest.Name("rawbench")
	fd, err := posix.MqOpen(name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600, &abi.MqAttr{Maxmsg: 8, Msgsize: 64})
	if err != nil {
		b.Fatal(err)
	}
	defer posix.MqUnlink(name)
	defer unix.Close(fd)
	msg, buf := make([]byte, 64), make([]byte, 64)
	var prio uint32
	b.ReportAllocs()
	for b.Loop() {
		if err := posix.MqTimedsend(fd, msg, 1, nil); err != nil {
			b.Fatal(err)
		}
		if _, err := posix.MqTimedreceive(fd, buf, &prio, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// A Send parked on a full queue is woken by a receive (EPOLLOUT), and a
// Receive parked on an empty queue by a send from another descriptor.
func TestQueueBlockedSendWakes(t *testing.T) {
	q := newQueue(t, 1, 8)
	other := openAgain(t, q, unix.O_RDWR)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := q.Send(ctx, []byte("first"), 0); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- q.Send(ctx, []byte("second"), 0) }()
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-errc:
		t.Fatalf("Send on a full queue returned early: %v", err)
	default:
	}
	buf := make([]byte, 8)
	if n, _, err := other.Receive(ctx, buf); err != nil || string(buf[:n]) != "first" {
		t.Fatalf("Receive = %q %v", buf[:n], err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("woken Send: %v", err)
	}
	if n, _, err := other.Receive(ctx, buf); err != nil || string(buf[:n]) != "second" {
		t.Fatalf("Receive = %q %v", buf[:n], err)
	}
}

// QueueFromFile adopts a queue's descriptor without its name and leaves the
// descriptor's mode alone; anything but a queue is refused with EBADF.
func TestQueueFromFile(t *testing.T) {
	ctx := context.Background()
	q := newQueue(t, 4, 32)
	a, err := posix.QueueFromFile(q.File())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Name() != "" || a.MsgSize() != 32 || a.MaxMsgs() != 4 {
		t.Errorf("adopted: name %q msgsize %d maxmsgs %d", a.Name(), a.MsgSize(), a.MaxMsgs())
	}
	if err := q.Send(ctx, []byte("hi"), 3); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32)
	if n, prio, err := a.Receive(ctx, buf); err != nil || string(buf[:n]) != "hi" || prio != 3 {
		t.Fatalf("Receive through the adopted queue: %q %d %v", buf[:n], prio, err)
	}
	if _, _, err := a.TryReceive(buf); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("TryReceive on an empty queue: %v, want EAGAIN", err)
	}
	if fileNonblocking(t, a.File()) || fileNonblocking(t, q.File()) {
		t.Error("adopting the queue made its open file description non-blocking")
	}
	if err := a.Unlink(); err != nil {
		t.Errorf("Unlink of a nameless queue: %v, want nil", err)
	}
	if _, err := posix.OpenQueue(q.Name()); err != nil {
		t.Errorf("the adopted queue's Unlink removed the name: %v", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := posix.QueueFromFile(r); !errors.Is(err, unix.EBADF) {
		t.Errorf("QueueFromFile(pipe): %v, want EBADF", err)
	}
}

// OpenQueue opens only an existing queue; OpenOrCreateQueue creates once.
func TestOpenQueueAndOpenOrCreate(t *testing.T) {
	name := "/" + ipctest.Name("mq")
	if _, err := posix.OpenQueue(name); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("OpenQueue of a missing queue: %v, want os.ErrNotExist", err)
	}
	a, err := posix.OpenOrCreateQueue(name, 3, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer posix.UnlinkQueue(name)
	defer a.Close()
	b, err := posix.OpenOrCreateQueue(name, 9, 99)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.MaxMsgs() != 3 || b.MsgSize() != 16 {
		t.Errorf("second OpenOrCreateQueue: %d×%d, want the creator's 3×16", b.MaxMsgs(), b.MsgSize())
	}
	c, err := posix.OpenQueue(name)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := posix.CreateQueue(name, 3, 16); !errors.Is(err, os.ErrExist) {
		t.Errorf("CreateQueue of an existing name: %v, want os.ErrExist", err)
	}
}

// A Receive that waits in the poller with a context that can be cancelled
// arms its cancellation without allocating.
func TestQueueCancellableWaitAllocs(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts differ under the race detector; test.sh runs this without it")
	}
	q := newQueue(t, 8, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msg, buf := []byte("payload"), make([]byte, 64)
	// The sender hands over through atomics: a blocking channel operation
	// can allocate a sudog.
	var req, ack, quit atomic.Int32
	go func() {
		for quit.Load() == 0 {
			if req.Load() == ack.Load() {
				runtime.Gosched()
				continue
			}
			time.Sleep(100 * time.Microsecond) // let the receiver wait
			if err := q.TrySend(msg, 1); err != nil {
				panic(err)
			}
			ack.Add(1)
		}
	}()
	defer quit.Store(1)
	round := func() {
		req.Add(1)
		if _, _, err := q.Receive(ctx, buf); err != nil {
			t.Fatal(err)
		}
		for ack.Load() != req.Load() {
			runtime.Gosched()
		}
	}
	round()
	const rounds = 300
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range rounds {
		round()
	}
	runtime.ReadMemStats(&after)
	// The runtime allocates now and then for itself (a thread, a timer);
	// an allocation per wait fails.
	if n := after.Mallocs - before.Mallocs; n > rounds/4 {
		t.Fatalf("%d allocations in %d cancellable waits, want none", n, rounds)
	}
}
