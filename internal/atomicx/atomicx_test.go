package atomicx_test

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/atomicx"
	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
)

func TestMain(m *testing.M) {
	testenv.RunChildIfAsked()
	ipctest.Main(m)
}

func init() {
	// litmus-writer WIDTH N: run the writer on the page at fd 3.
	testenv.RegisterChild("litmus-writer", func(args []string) int {
		m, err := unix.Mmap(3, 0, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		n, _ := strconv.ParseUint(args[1], 10, 64)
		waitStart(m)
		writer(m, args[0], n)
		return 0
	})
	// litmus-reader WIDTH N: run the reader on the page at fd 3 and print
	// "observed VIOLATIONS".
	testenv.RegisterChild("litmus-reader", func(args []string) int {
		m, err := unix.Mmap(3, 0, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		n, _ := strconv.ParseUint(args[1], 10, 64)
		atomicx.StoreRel32(u32(m, offStart), 1)
		seen, bad := reader(m, args[0], n)
		fmt.Println(seen, bad)
		return 0
	})
}

// The message-passing litmus test (MP): the writer stores data words with
// plain stores, then the flag with a release store; the reader loads the
// flag with an acquire load, then the data words with plain loads. A data
// word older than the flag it was read after is a violation: it means
// either the hardware or the compiler reordered the writer's stores or the
// reader's loads across the release/acquire pair. Data words sit on the
// flag's own cache line and on three other lines, the case weakly ordered
// hardware (arm64, ppc64) reorders when the ordering is missing.

const (
	pageSize = 4096
	offFlag  = 0
	offAck   = 1536 // the last flag value the reader saw
	offStart = 2048 // the reader sets it when it is ready

	// lag bounds how far the writer may run ahead of what the reader has
	// seen, so that the two keep meeting on the same lines (an unbounded
	// writer finishes while the reader looks at a handful of values).
	lag = 4
)

var dataOffs = []uintptr{16, 128, 512, 1024}

func u64(m []byte, off uintptr) *uint64 { return (*uint64)(unsafe.Pointer(&m[off])) }
func u32(m []byte, off uintptr) *uint32 { return (*uint32)(unsafe.Pointer(&m[off])) }

func waitStart(m []byte) {
	for atomicx.LoadAcq32(u32(m, offStart)) == 0 {
		unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
	}
}

// keepUp waits until the reader has seen at least i-lag.
func keepUp(m []byte, i uint64) {
	for spins := 0; atomicx.LoadAcq64(u64(m, offAck))+lag < i; spins++ {
		if spins&1023 == 1023 {
			unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0) // the reader may share our CPU
		}
	}
}

// writer publishes 1 … n, for 64-bit ("64") or 32-bit ("32") words.
func writer(m []byte, width string, n uint64) {
	if width == "32" {
		for i := uint32(1); uint64(i) <= n; i++ {
			keepUp(m, uint64(i))
			for _, off := range dataOffs {
				*u32(m, off) = i
			}
			atomicx.StoreRel32(u32(m, offFlag), i)
		}
		return
	}
	for i := uint64(1); i <= n; i++ {
		keepUp(m, i)
		for _, off := range dataOffs {
			*u64(m, off) = i
		}
		atomicx.StoreRel64(u64(m, offFlag), i)
	}
}

// reader reads until it sees n; it returns how many distinct flag values
// it saw and how many violations.
func reader(m []byte, width string, n uint64) (seen, bad uint64) {
	var prev uint64
	for prev < n {
		var f uint64
		var d [4]uint64
		if width == "32" {
			f = uint64(atomicx.LoadAcq32(u32(m, offFlag)))
			for i, off := range dataOffs {
				d[i] = uint64(*u32(m, off))
			}
		} else {
			f = atomicx.LoadAcq64(u64(m, offFlag))
			for i, off := range dataOffs {
				d[i] = *u64(m, off)
			}
		}
		if f < prev {
			bad++ // the flag went backwards: not even coherent
		}
		if f != prev {
			seen++
			atomicx.StoreRel64(u64(m, offAck), f)
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

func litmusN() uint64 {
	if testing.Short() || testenv.Emulated() {
		return 50_000
	}
	return 200_000
}

func sharedPage(t *testing.T) (*os.File, []byte) {
	t.Helper()
	fd, err := unix.MemfdCreate("atomicx-litmus", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "memfd")
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(pageSize); err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(fd, 0, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(m) })
	return f, m
}

// TestMessagePassingThreads runs the litmus test between two threads of
// this process (shared memory from mmap, which the race detector does not
// track: the data words race by design).
func TestMessagePassingThreads(t *testing.T) {
	for _, width := range []string{"64", "32"} {
		t.Run(width, func(t *testing.T) {
			_, m := sharedPage(t)
			n := litmusN()
			var seen, bad uint64
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread()
				atomicx.StoreRel32(u32(m, offStart), 1)
				seen, bad = reader(m, width, n)
			}()
			runtime.LockOSThread()
			waitStart(m)
			writer(m, width, n)
			runtime.UnlockOSThread()
			wg.Wait()
			t.Logf("native=%v: %d stores, reader saw %d distinct values", atomicx.Native, n, seen)
			if bad != 0 {
				t.Fatalf("%d message-passing violations in %d observations", bad, seen)
			}
		})
	}
}

// TestMessagePassingProcesses runs it between two processes sharing a
// memfd page, each way round.
func TestMessagePassingProcesses(t *testing.T) {
	for _, width := range []string{"64", "32"} {
		for _, childWrites := range []bool{true, false} {
			name := width + "/parent-reads"
			if !childWrites {
				name = width + "/child-reads"
			}
			t.Run(name, func(t *testing.T) {
				f, m := sharedPage(t)
				n := litmusN()
				role := "litmus-reader"
				if childWrites {
					role = "litmus-writer"
				}
				cmd := testenv.Child(t, role, width, strconv.FormatUint(n, 10))
				cmd.ExtraFiles = []*os.File{f}
				out, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				var seen, bad uint64
				if childWrites {
					atomicx.StoreRel32(u32(m, offStart), 1)
					seen, bad = reader(m, width, n)
				} else {
					waitStart(m)
					writer(m, width, n)
					line, _ := bufio.NewReader(out).ReadString('\n')
					if _, err := fmt.Sscan(strings.TrimSpace(line), &seen, &bad); err != nil {
						t.Fatalf("reader printed %q", line)
					}
				}
				if err := cmd.Wait(); err != nil {
					t.Fatal(err)
				}
				t.Logf("native=%v: %d stores, reader saw %d distinct values", atomicx.Native, n, seen)
				if bad != 0 {
					t.Fatalf("%d message-passing violations in %d observations", bad, seen)
				}
			})
		}
	}
}

// TestStoreLoad checks values, widths and that a 32-bit store leaves its
// neighbours alone (on either byte order).
func TestStoreLoad(t *testing.T) {
	var w [4]uint64
	atomicx.StoreRel64(&w[1], 0x0102030405060708)
	if got := atomicx.LoadAcq64(&w[1]); got != 0x0102030405060708 || w[0] != 0 || w[2] != 0 {
		t.Fatalf("StoreRel64/LoadAcq64: %#x (neighbours %#x %#x)", got, w[0], w[2])
	}
	var h [4]uint32
	atomicx.StoreRel32(&h[1], 0xdeadbeef)
	if got := atomicx.LoadAcq32(&h[1]); got != 0xdeadbeef || h[0] != 0 || h[2] != 0 {
		t.Fatalf("StoreRel32/LoadAcq32: %#x (neighbours %#x %#x)", got, h[0], h[2])
	}
	atomicx.StoreRel64(&w[1], ^uint64(0))
	if atomicx.LoadAcq64(&w[1]) != ^uint64(0) {
		t.Fatal("all ones")
	}
	atomicx.StoreRel64Pair(&w[0], 5, &w[3], 6)
	if w[0] != 5 || w[3] != 6 || w[1] != ^uint64(0) || w[2] != 0 {
		t.Fatalf("StoreRel64Pair: %#x", w)
	}
}

// TestMembarrier registers and issues the barrier. Kernels without it
// (before 4.16) or a seccomp filter are reported, not failed: callers fall
// back to sequentially consistent stores there.
func TestMembarrier(t *testing.T) {
	if err := atomicx.RegisterMembarrier(); err != nil {
		t.Skipf("membarrier unavailable here (%v): the ring falls back to sequentially consistent publication", err)
	}
	if err := atomicx.Membarrier(); err != nil {
		t.Fatalf("registered, but the barrier failed: %v", err)
	}
}

// BenchmarkStore compares the release store with sync/atomic's store, on
// a line no other core reads (the call overhead) and with a reader
// polling the line (the cost of waiting for the line).
func BenchmarkStore(b *testing.B) {
	var words [32]uint64
	p := &words[8]
	b.Run("StoreRel64", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			atomicx.StoreRel64(p, uint64(i))
		}
	})
	b.Run("sync-atomic", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			atomicStore(p, uint64(i))
		}
	})
	b.Run("plain", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			*p = uint64(i)
		}
	})
}

// TestCopyAndPublish checks every length it takes, both amd64 paths
// (AVX and SSE), that nothing outside dst, term, hdr and pos is written,
// and the stored values.
func TestCopyAndPublish(t *testing.T) {
	for _, avx := range []bool{true, false} {
		was := atomicx.SetAVX(avx)
		for n := 8; n <= 128; n++ {
			src := make([]byte, 160)
			for i := range src {
				src[i] = byte(i*7 + 1)
			}
			dst := make([]byte, 160)
			for i := range dst {
				dst[i] = 0xee
			}
			words := [5]uint64{11, 22, 33, 44, 55}
			atomicx.CopyAndPublish(unsafe.Pointer(&dst[8]), unsafe.Pointer(&src[3]), uintptr(n), &words[1], &words[2], 77, &words[3], 88)
			for i := range dst {
				want := byte(0xee)
				if i >= 8 && i < 8+n {
					want = src[3+i-8]
				}
				if dst[i] != want {
					t.Fatalf("avx=%v n=%d: dst[%d] = %#x, want %#x", avx, n, i, dst[i], want)
				}
			}
			if words != [5]uint64{11, 0, 77, 88, 55} {
				t.Fatalf("avx=%v n=%d: words %v", avx, n, words)
			}
		}
		atomicx.SetAVX(was)
	}
}

// TestMessagePassingCopyAndPublish is the litmus test with the data
// written and the flag published by one CopyAndPublish.
func TestMessagePassingCopyAndPublish(t *testing.T) {
	_, m := sharedPage(t)
	n := litmusN()
	var seen, bad uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		atomicx.StoreRel32(u32(m, offStart), 1)
		var prev uint64
		for prev < n {
			f := atomicx.LoadAcq64(u64(m, offFlag))
			for off := uintptr(256); off < 256+64; off += 8 {
				if *u64(m, off) < f {
					bad++
				}
			}
			if f != prev {
				seen++
				atomicx.StoreRel64(u64(m, offAck), f)
			}
			prev = f
		}
	}()
	runtime.LockOSThread()
	waitStart(m)
	var block [8]uint64
	for i := uint64(1); i <= n; i++ {
		keepUp(m, i)
		for k := range block {
			block[k] = i
		}
		atomicx.CopyAndPublish(unsafe.Pointer(&m[256]), unsafe.Pointer(&block[0]), 64, u64(m, 1024), u64(m, offFlag), i, u64(m, 1032), i)
	}
	runtime.UnlockOSThread()
	<-done
	t.Logf("%d publications, reader saw %d distinct values", n, seen)
	if bad != 0 {
		t.Fatalf("%d message-passing violations in %d observations", bad, seen)
	}
}
