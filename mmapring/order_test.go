package mmapring

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/atomicx"
	"github.com/ipckit/ipckit/internal/testenv"
)

// Tests of layout 3's memory order and of the SPSC header protocol
// (LAYOUT.md, "Memory order" and "SPSC byte ring").

// ---- the message-passing litmus test with C peers ----

// The page layout shared with tests/c/ring_litmus.c.
const (
	litFlag  = 0
	litAck   = 1536
	litStart = 2048
	litLag   = 4
)

var litData = []uintptr{16, 128, 512, 1024}

func litU64(m []byte, off uintptr) *uint64 { return (*uint64)(unsafe.Pointer(&m[off])) }

// litWrite publishes 1 … n the way the producer publishes a record: data
// with plain stores, then st64.
func litWrite(m []byte, n uint64) {
	setupOrder()
	for atomic.LoadUint32((*uint32)(unsafe.Pointer(&m[litStart]))) == 0 {
		runtime.Gosched()
	}
	for i := uint64(1); i <= n; i++ {
		for spins := 0; atomicx.LoadAcq64(litU64(m, litAck))+litLag < i; spins++ {
			if spins&1023 == 1023 {
				unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
			}
		}
		for _, off := range litData {
			*litU64(m, off) = i
		}
		st64(litU64(m, litFlag), i)
	}
}

// litRead reads the way the consumer reads a record header, then its
// payload.
func litRead(m []byte, n uint64) (seen, bad uint64) {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&m[litStart])), 1)
	var prev uint64
	for prev < n {
		f := atomicx.LoadAcq64(litU64(m, litFlag))
		var d [4]uint64
		for i, off := range litData {
			d[i] = *litU64(m, off)
		}
		if f < prev {
			bad++
		}
		if f != prev {
			seen++
			atomicx.StoreRel64(litU64(m, litAck), f)
		}
		for _, v := range d {
			if v < f {
				bad++
			}
		}
		prev = f
	}
	return seen, bad
}

// TestLitmusCPeer runs the message-passing litmus test (internal/atomicx
// has it between Go threads and processes) between this process and a C
// process using mmapring.h's publication store and acquire load, each
// way round: a violation means the Go and C sides do not agree on the
// order that publication relies on.
func TestLitmusCPeer(t *testing.T) {
	bin := testenv.BuildC(t, "", "ring_litmus", []string{"ring_litmus.c"}, "-I", filepath.Join(testenv.Root(), "mmapring"))
	n := uint64(200_000)
	if testing.Short() || testenv.Emulated() {
		n = 50_000
	}
	for _, cWrites := range []bool{true, false} {
		name := "c-writes-go-reads"
		if !cWrites {
			name = "go-writes-c-reads"
		}
		t.Run(name, func(t *testing.T) {
			fd, err := unix.MemfdCreate("litmus", unix.MFD_CLOEXEC)
			if err != nil {
				t.Fatal(err)
			}
			f := os.NewFile(uintptr(fd), "memfd")
			defer f.Close()
			if err := f.Truncate(4096); err != nil {
				t.Fatal(err)
			}
			m, err := unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Munmap(m)
			mode := "read"
			if cWrites {
				mode = "write"
			}
			cmd := testenv.Command(bin, mode, "3", strconv.FormatUint(n, 10))
			cmd.ExtraFiles = []*os.File{f}
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var seen, bad uint64
			if cWrites {
				seen, bad = litRead(m, n)
			} else {
				litWrite(m, n)
				line, _ := bufio.NewReader(out).ReadString('\n')
				if _, err := fmt.Sscan(strings.TrimSpace(line), &seen, &bad); err != nil {
					t.Fatalf("C reader printed %q", line)
				}
			}
			if err := cmd.Wait(); err != nil {
				t.Fatal(err)
			}
			t.Logf("%d publications, reader saw %d distinct values", n, seen)
			if bad != 0 {
				t.Fatalf("%d message-passing violations in %d observations", bad, seen)
			}
		})
	}
}

// ---- the SPSC header protocol ----

// staleFill fills the data area with what a previous lap could have left:
// a valid-looking header (an empty message) at every 8-byte offset, so a
// consumer that read past the producer's last record would "receive"
// them.
func staleFill(r *Ring) {
	for off := uint64(headerSize); off < r.total; off += 8 {
		*r.u64(off) = hdrWord(0, recMessage)
	}
}

// TestFaultPositionBehindRecords: a producer killed between publishing a
// record (its header) and storing its position leaves the position behind
// the last published record, which the consumer may already have taken
// (its position then ahead of the producer's). A new producer must carry
// on after that record, neither overwriting it (a lost message) nor
// refusing the ring, and a new consumer must attach.
func TestFaultPositionBehindRecords(t *testing.T) {
	forEachPeer(t, func(t *testing.T, pk peerKind) {
		for _, consumed := range []bool{false, true} {
			t.Run(fmt.Sprintf("consumed=%v", consumed), func(t *testing.T) {
				r := newRing(t, Config{Capacity: 1024})
				p, err := r.Producer()
				if err != nil {
					t.Fatal(err)
				}
				ctx := context.Background()
				for _, m := range []string{"a", "b"} {
					if err := p.Send(ctx, []byte(m)); err != nil {
						t.Fatal(err)
					}
				}
				behind := atomic.LoadUint64(r.u64(offProdPos))
				if err := p.Send(ctx, []byte("c")); err != nil {
					t.Fatal(err)
				}
				p.Detach()
				want := []string{"msg a", "msg b", "msg c", "msg d", "eof"}
				if consumed {
					c, err := r.Consumer()
					if err != nil {
						t.Fatal(err)
					}
					buf := make([]byte, 16)
					for range 3 {
						if _, err := c.Receive(ctx, buf); err != nil {
							t.Fatal(err)
						}
					}
					c.Close() // publishes its position, past "behind"
					want = want[3:]
				}
				atomic.StoreUint64(r.u64(offProdPos), behind) // as the killed producer left it
				wantLines(t, runPeer(t, pk, r, guard, "send", "5000", "close", "d"), "sent", "done")
				wantLines(t, runPeer(t, pk, r, guard, "recv-all", "5000"), want...)
			})
		}
	})
}

// TestFaultStaleBytesPastTail: the bytes after the producer's tail are a
// previous lap's (here: valid-looking records everywhere). Whatever a
// producer publishes, the consumer must stop at its last record (the
// producer writes an empty header after every record before publishing
// it), also across the wrap (padding, then the record at the start).
func TestFaultStaleBytesPastTail(t *testing.T) {
	forEachPeer(t, func(t *testing.T, pk peerKind) {
		for _, pos := range []uint64{0, 224} {
			t.Run(fmt.Sprintf("at=%d", pos), func(t *testing.T) {
				r := newRing(t, Config{Capacity: 256})
				staleFill(r)
				setPositions(r, pos, pos)
				*r.u64(headerSize + pos) = 0   // the terminator the previous producer left
				msg := strings.Repeat("y", 30) // from 224 it needs the wrap
				wantLines(t, runPeer(t, pk, r, guard, "send", "5000", "close", "x", msg), "sent", "sent", "done")
				wantLines(t, runPeer(t, pk, r, guard, "recv-all", "5000"), "msg x", "msg "+msg, "eof")
			})
		}
	})
}

// TestFaultAbortedWrap: a reservation that needed the wrap (padding at the
// end) and was aborted, then the ring closed: the padding is published,
// and the consumer, which follows it to the start of the data area, must
// find nothing there (the producer emptied that header first), not the
// previous lap's bytes.
func TestFaultAbortedWrap(t *testing.T) {
	forEachPeer(t, func(t *testing.T, pk peerKind) {
		r := newRing(t, Config{Capacity: 256})
		staleFill(r)
		setPositions(r, 224, 224)
		*r.u64(headerSize + 224) = 0
		wantLines(t, runPeer(t, pk, r, guard, "reserve-abort", "5000", "30"), "done")
		wantLines(t, runPeer(t, pk, r, guard, "recv-all", "5000"), "eof")
	})
}

// TestNoMembarrier runs peers in which membarrier(2) fails (a seccomp
// filter; as on a kernel before 4.16): they publish with sequentially
// consistent stores and cannot issue the waiter's barrier, while this
// process publishes with release stores and can. Every message must still
// arrive, in order, with the deadlines honoured, with the peer as a
// sleeping consumer (this process sends slowly) and as a producer that
// sleeps for room (this process receives slowly).
func TestNoMembarrier(t *testing.T) {
	testenv.SkipUnderEmulation(t, "qemu-user does not implement seccomp (ENOSYS): a guest cannot filter its own system calls")
	const count = 20
	forEachPeer(t, func(t *testing.T, pk peerKind) {
		for _, kind := range []Kind{KindSPSC, KindMPMC} {
			t.Run(kind.String()+"/consumer", func(t *testing.T) {
				r := newRing(t, Config{Kind: kind, Capacity: 256, CellSize: 16})
				cmd := pk.cmd(t, "recv-all", "60000")
				cmd.Env = append(os.Environ(), cmd.Env...)
				cmd.Env = append(cmd.Env, noMembarrierEnv+"=1")
				peer := startPeerCmd(t, cmd, r.File())
				if l := peer.line(guard); l != "nobarrier" {
					t.Fatalf("peer says %q, want nobarrier", l)
				}
				p, err := r.Producer()
				if err != nil {
					t.Fatal(err)
				}
				var want []string
				for i := range count {
					time.Sleep(2 * time.Millisecond) // the consumer goes to sleep in between
					m := fmt.Sprintf("m%d", i)
					if err := p.Send(context.Background(), []byte(m)); err != nil {
						t.Fatal(err)
					}
					want = append(want, "msg "+m)
				}
				p.Close()
				wantLines(t, peer.all(guard), append(want, "eof")...)
			})
			t.Run(kind.String()+"/producer", func(t *testing.T) {
				r := newRing(t, Config{Kind: kind, Capacity: 256, CellSize: 64, Limit: 2})
				args := []string{"send", "60000", "close"}
				var want []string
				for i := range count {
					m := fmt.Sprintf("%02d%s", i, strings.Repeat("z", 40))
					args = append(args, m)
					want = append(want, m)
				}
				cmd := pk.cmd(t, args[0], args[1:]...)
				cmd.Env = append(append(os.Environ(), cmd.Env...), noMembarrierEnv+"=1")
				peer := startPeerCmd(t, cmd, r.File())
				if l := peer.line(guard); l != "nobarrier" {
					t.Fatalf("peer says %q, want nobarrier", l)
				}
				c, err := r.Consumer()
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				buf := make([]byte, 64)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				for i := range count {
					time.Sleep(2 * time.Millisecond) // the producer sleeps for room in between
					n, err := c.Receive(ctx, buf)
					if err != nil {
						t.Fatalf("message %d: %v", i, err)
					}
					if string(buf[:n]) != want[i] {
						t.Fatalf("message %d is %q, want %q", i, buf[:n], want[i])
					}
				}
				if _, err := c.Receive(ctx, buf); err != io.EOF {
					t.Fatalf("after the last message: %v, want EOF", err)
				}
				out := peer.all(guard)
				if len(out) != count+1 || out[count] != "done" {
					t.Fatalf("producer output %q", out)
				}
			})
		}
	})
}
