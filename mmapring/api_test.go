package mmapring

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
)

func TestAllocs(t *testing.T) {
	for _, kind := range []Kind{KindSPSC, KindMPMC} {
		r := newRing(t, Config{Kind: kind, Capacity: 1024, CellSize: 64})
		p, _ := r.Producer()
		c, _ := r.Consumer()
		ctx := context.Background()
		msg := make([]byte, 64)
		buf := make([]byte, 64)
		batch := [][]byte{msg, msg, msg}
		cases := map[string]func(){
			"Send/Receive": func() {
				if err := p.Send(ctx, msg); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Receive(ctx, buf); err != nil {
					t.Fatal(err)
				}
			},
			"TrySend/TryReceive": func() {
				p.TrySend(msg)
				c.TryReceive(buf)
			},
			"Reserve/Commit/Peek/Release": func() {
				b, err := p.Reserve(ctx, 64)
				if err != nil {
					t.Fatal(err)
				}
				copy(b, msg)
				p.Commit(len(b))
				if _, err := c.Peek(ctx); err != nil {
					t.Fatal(err)
				}
				c.Release()
			},
			"SendBatch": func() {
				p.SendBatch(ctx, batch)
				for i := 0; i < 3; i++ {
					c.Receive(ctx, buf)
				}
			},
		}
		for name, fn := range cases {
			if a := testing.AllocsPerRun(1000, fn); a != 0 {
				t.Errorf("%v %s: %v allocs/op", kind, name, a)
			}
		}
	}
}

// TestStackMessagesStayOnStack: Send, TrySend, SendBatch and Receive must
// not make their arguments escape, so that a message or buffer on the
// caller's stack costs no allocation (hash/crc32, which the checksum path
// calls, makes its argument escape: the checksum is taken of the ring's
// copy instead).
func TestStackMessagesStayOnStack(t *testing.T) {
	for _, kind := range []Kind{KindSPSC, KindMPMC} {
		for _, crc := range []bool{false, true} {
			r := newRing(t, Config{Kind: kind, Capacity: 1024, CellSize: 64, Checksum: crc})
			p, _ := r.Producer()
			c, _ := r.Consumer()
			ctx := context.Background()
			a := testing.AllocsPerRun(1000, func() {
				var msg, buf [64]byte
				msg[0] = 1
				if err := p.Send(ctx, msg[:]); err != nil {
					t.Fatal(err)
				}
				if err := p.TrySend(msg[:]); err != nil {
					t.Fatal(err)
				}
				batch := [2][]byte{msg[:], msg[:]}
				if _, err := p.SendBatch(ctx, batch[:]); err != nil {
					t.Fatal(err)
				}
				for range 4 {
					if _, err := c.Receive(ctx, buf[:]); err != nil {
						t.Fatal(err)
					}
				}
			})
			if a != 0 {
				t.Errorf("%v checksum=%v: %v allocs per round with stack buffers", kind, crc, a)
			}
		}
	}
}

// TestNoSyscallsWhenAwake: the eventcount only calls FUTEX_WAKE when a
// waiter is registered, so a producer and consumer that never sleep make
// no system call at all; one sleep costs exactly one wake.
func TestNoSyscallsWhenAwake(t *testing.T) {
	for _, kind := range []Kind{KindSPSC, KindMPMC} {
		r := newRing(t, Config{Kind: kind, Capacity: 1 << 12, CellSize: 32})
		p, _ := r.Producer()
		c, _ := r.Consumer()
		ctx := context.Background()
		msg := make([]byte, 32)
		buf := make([]byte, 32)
		for round := 0; round < 100; round++ {
			for i := 0; i < 20; i++ {
				if err := p.Send(ctx, msg); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < 20; i++ {
				if _, err := c.Receive(ctx, buf); err != nil {
					t.Fatal(err)
				}
			}
		}
		pw, pk := p.Syscalls()
		cw, ck := c.Syscalls()
		if pw+pk+cw+ck != 0 {
			t.Fatalf("%v: futex calls with nobody asleep: producer %d/%d consumer %d/%d", kind, pw, pk, cw, ck)
		}
		// Now make the consumer sleep once (no spin) and wake it once.
		c.SetSpin(0)
		done := make(chan error)
		go func() { _, err := c.Receive(ctx, buf); done <- err }()
		for atomic32(r, offDataWaiters) == 0 {
			time.Sleep(time.Millisecond)
		}
		p.Send(ctx, msg)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if _, wakes := p.Syscalls(); wakes != 1 {
			t.Fatalf("%v: %d wakes for one sleeper", kind, wakes)
		}
	}
}

func atomic32(r *Ring, off uint64) uint32 { return *(*uint32)(unsafe.Pointer(&r.mem[off])) }

// TestStreamingSyscalls logs how many futex calls a streaming pair makes
// per message (a measurement, not a timing assertion).
func TestStreamingSyscalls(t *testing.T) {
	r := newRing(t, Config{Capacity: 1 << 16})
	p, _ := r.Producer()
	c, _ := r.Consumer()
	const n = 200000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		msg := make([]byte, 64)
		for i := 0; i < n; i++ {
			p.Send(context.Background(), msg)
		}
		p.Close()
	}()
	buf := make([]byte, 64)
	got := 0
	for {
		if _, err := c.Receive(context.Background(), buf); err != nil {
			if err != io.EOF {
				t.Fatal(err)
			}
			break
		}
		got++
	}
	wg.Wait()
	if got != n {
		t.Fatalf("got %d", got)
	}
	pw, pk := p.Syscalls()
	cw, ck := c.Syscalls()
	t.Logf("%d messages: producer waits %d wakes %d, consumer waits %d wakes %d (%.4f futex calls/msg)",
		n, pw, pk, cw, ck, float64(pw+pk+cw+ck)/n)
}

func TestShmAndPath(t *testing.T) {
	name := ipctest.Name("ring")
	r, err := CreateShm(name, Config{Kind: KindMPMC, Capacity: 8, CellSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { UnlinkShm(name); r.Close() })
	if _, err := CreateShm(name, Config{}); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second create: %v", err)
	}
	st, err := os.Stat("/dev/shm/" + name)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", st.Mode(), err)
	}
	r2, err := OpenShm("/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	p, _ := r.Producer()
	c, _ := r2.Consumer()
	p.Send(context.Background(), []byte("hello"))
	buf := make([]byte, 16)
	n, err := c.Receive(context.Background(), buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("%q %v", buf[:n], err)
	}
	if _, err := OpenShm("../etc/passwd"); err == nil {
		t.Fatal("path traversal accepted")
	}
	if err := UnlinkShm(name); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenShm(name); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after unlink: %v", err)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "ring")
	r3, err := CreatePath(path, Config{Capacity: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer r3.Close()
	link := filepath.Join(dir, "link")
	os.Symlink(path, link)
	if _, err := OpenPath(link); !errors.Is(err, unix.ELOOP) {
		t.Fatalf("symlink followed: %v", err)
	}
	r4, err := OpenPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r4.Close()
	if r4.Kind() != KindSPSC || r4.Capacity() != 4096 || r4.MaxMessage() != 2040 {
		t.Fatalf("geometry %v %d %d", r4.Kind(), r4.Capacity(), r4.MaxMessage())
	}
	// SPSC: a second live producer is refused.
	p1, err := r3.Producer()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r4.Producer(); err != ErrRoleTaken {
		t.Fatalf("second SPSC producer: %v", err)
	}
	p1.Detach()
	if p2, err := r4.Producer(); err != nil {
		t.Fatalf("producer after detach: %v", err)
	} else {
		p2.Detach()
	}
}

// headerMutations make a valid header invalid, each in one way (nil: the
// file is shorter than the ring).
var headerMutations = map[string]func(h []byte){
	"magic":    func(h []byte) { h[0] ^= 1 },
	"version":  func(h []byte) { h[offVersion] = 9 },
	"notready": func(h []byte) { clear(h[offVersion : offVersion+4]) },
	"kind":     func(h []byte) { h[offKind] = 7 },
	"capacity": func(h []byte) { h[offCapacity] = 3 },
	"cell":     func(h []byte) { h[offCellSize] = 13 },
	"limit":    func(h []byte) { h[offLimit] = 99 },
	"total":    func(h []byte) { h[offTotalSize+4] = 1 },
	"maxmsg":   func(h []byte) { h[offMaxMsg] = 200 },
	"flags":    func(h []byte) { h[offFlags] = 0x80 },
	"short":    nil,
}

func TestOpenValidation(t *testing.T) {
	good := newRing(t, Config{Kind: KindMPMC, Capacity: 16, CellSize: 32})
	hdr := make([]byte, headerSize)
	copy(hdr, good.mem[:headerSize])
	for name, fn := range headerMutations {
		h := append([]byte(nil), hdr...)
		size := len(good.mem)
		if fn != nil {
			fn(h)
		} else {
			size = headerSize + 100
		}
		f := memfdWith(t, h, size)
		_, err := FromFile(f)
		f.Close()
		switch {
		case name == "notready":
			if !errors.Is(err, ErrNotReady) {
				t.Errorf("%s: %v", name, err)
			}
		case !errors.Is(err, ErrCorrupt):
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	for _, cfg := range []Config{{Capacity: 100}, {Capacity: 128}, {Kind: KindMPMC, Capacity: 3}, {Kind: 5}, {Kind: KindMPMC, Capacity: 4, Limit: 5}} {
		if r, err := New(cfg); err == nil {
			r.Close()
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func memfdWith(t testing.TB, content []byte, size int) *os.File {
	fd, err := unix.MemfdCreate("fuzz", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "memfd")
	if err := f.Truncate(int64(size)); err != nil {
		t.Fatal(err)
	}
	f.WriteAt(content, 0)
	return f
}

func init() {
	testenv.RegisterChild("queue-worker", func(args []string) int {
		r := childRing()
		q, err := QueueFromRing(r)
		if err != nil {
			return 1
		}
		buf := make([]byte, 64)
		sum := 0
		for {
			n, err := q.Get(context.Background(), buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				return 1
			}
			v, _ := strconv.Atoi(string(buf[:n]))
			sum += v
			time.Sleep(100 * time.Microsecond) // "work"
			q.TaskDone()
		}
		os.Stdout.WriteString(strconv.Itoa(sum))
		return 0
	})
}

// TestQueueJoin: JoinableQueue semantics across processes, with a maxsize
// that is not a power of two.
func TestQueueJoin(t *testing.T) {
	q, err := NewQueue(3, 32)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := q.Put(ctx, []byte("1")); err != nil {
			t.Fatal(err)
		}
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	if err := q.Put(tctx, []byte("1")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("put beyond maxsize: %v", err)
	}
	cancel()
	if qs, _ := q.Qsize(); qs != 3 {
		t.Fatalf("qsize %d", qs)
	}
	if u, _ := q.Unfinished(); u != 3 {
		t.Fatalf("unfinished %d", u)
	}
	var workers []*exec.Cmd
	var outs []*strings.Builder
	for i := 0; i < 2; i++ {
		cmd := testenv.Child(t, "queue-worker")
		outs = append(outs, startChild(t, cmd, q.Ring()))
		workers = append(workers, cmd)
	}
	want := 3
	for i := 1; i <= 200; i++ {
		if err := q.Put(ctx, []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		want += i
	}
	jctx, jcancel := context.WithTimeout(ctx, 30*time.Second)
	defer jcancel()
	if err := q.Join(jctx); err != nil {
		t.Fatal(err)
	}
	if u, _ := q.Unfinished(); u != 0 {
		t.Fatal("Join returned with unfinished tasks")
	}
	if err := q.TaskDone(); err != ErrTaskDone {
		t.Fatalf("extra TaskDone: %v", err)
	}
	p, _ := q.Ring().Producer()
	p.Close()
	got := 0
	for i, w := range workers {
		if err := w.Wait(); err != nil {
			t.Fatal(err)
		}
		v, _ := strconv.Atoi(outs[i].String())
		got += v
	}
	if got != want {
		t.Fatalf("workers summed %d, want %d", got, want)
	}
}

// TestSleepingWaitAllocs: a Receive and a Send that sleep on the futex
// with a context that can be cancelled allocate nothing either (the
// cancellation hook is a reusable ctxwatch.Watch, not context.AfterFunc).
func TestSleepingWaitAllocs(t *testing.T) {
	for _, kind := range []Kind{KindSPSC, KindMPMC} {
		r := newRing(t, Config{Kind: kind, Capacity: 256, CellSize: 64, Limit: 1})
		p, _ := r.Producer()
		c, _ := r.Consumer()
		p.SetSpin(0)
		c.SetSpin(0)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// The other side runs on a goroutine of its own, paced by a
		// channel, so that each call below finds nothing ready and sleeps.
		req, done := make(chan int), make(chan struct{})
		msg := make([]byte, 64)
		go func() {
			buf := make([]byte, 64)
			for op := range req {
				time.Sleep(200 * time.Microsecond)
				if op == 0 {
					p.Send(context.Background(), msg)
				} else {
					c.Receive(context.Background(), buf)
				}
				done <- struct{}{}
			}
		}()
		buf := make([]byte, 64)
		recv := testing.AllocsPerRun(50, func() {
			req <- 0
			if _, err := c.Receive(ctx, buf); err != nil {
				t.Fatal(err)
			}
			<-done
		})
		// Fill the ring so that Send sleeps for room.
		for p.TrySend(msg) == nil {
		}
		send := testing.AllocsPerRun(50, func() {
			req <- 1
			if err := p.Send(ctx, msg); err != nil {
				t.Fatal(err)
			}
			<-done
		})
		close(req)
		if recv != 0 || send != 0 {
			t.Errorf("%v: %v allocs per sleeping Receive, %v per sleeping Send", kind, recv, send)
		}
		waits, _ := c.Syscalls()
		if waits == 0 {
			t.Errorf("%v: the consumer never slept (the test measured nothing)", kind)
		}
	}
}
