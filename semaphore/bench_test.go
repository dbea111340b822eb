package semaphore

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ipckit/ipckit/internal/testenv"
)

func init() {
	// sem-pong A B N: N x { A.Wait; B.Post } on two glibc named semaphores.
	testenv.RegisterChild("sem-pong", func(args []string) int {
		a, err := Open(args[0])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		b, err := Open(args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		n, _ := strconv.Atoi(args[2])
		ctx := context.Background()
		for i := 0; i < n; i++ {
			if err := a.Wait(ctx); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			b.Post()
		}
		return 0
	})
}

// cMetric runs a C peer command and returns the number before "unit" on
// its last line.
func cMetric(b *testing.B, bin string, args ...string) float64 {
	b.Helper()
	out := runPeer(b, bin, args...)
	fs := strings.Fields(out[len(out)-1])
	v, err := strconv.ParseFloat(fs[len(fs)-2], 64)
	if err != nil {
		b.Fatalf("C output %q", out)
	}
	return v
}

// Uncontended sem_post + sem_trywait: ipckit (each format) and C (glibc,
// musl) in the same run.
func BenchmarkPostTryWait(b *testing.B) {
	for _, f := range []Format{Glibc, Musl123, Musl124} {
		b.Run("go-"+f.String(), func(b *testing.B) {
			s, _ := newNamed(b, f, 0)
			b.ReportAllocs()
			for b.Loop() {
				s.Post()
				s.TryWait()
			}
		})
	}
	for _, f := range []Format{Glibc, Musl123} {
		b.Run("c-"+f.String(), func(b *testing.B) {
			bin := peerBin(b, ccFor(f))
			_, name := newNamed(b, f, 0)
			b.ReportMetric(cMetric(b, bin, "open", name, "bench", strconv.Itoa(max(b.N, 1000))), "ns/op")
		})
	}
	b.Run("go-sysv-undo", func(b *testing.B) {
		s := newSysV(b, 0)
		b.ReportAllocs()
		for b.Loop() {
			s.Post()
			s.TryWait()
		}
	})
}

// Uncontended robust Mutex Lock+Unlock, ipckit and glibc's
// pthread_mutex_lock/unlock on the same robust pshared mutex.
func BenchmarkMutexLockUnlock(b *testing.B) {
	requireMutex(b)
	path, mem := shmFile(b)
	m, err := InitMutex(mem, 0, MutexNormal)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("go", func(b *testing.B) {
		ctx := context.Background()
		b.ReportAllocs()
		onThread(func() {
			for b.Loop() {
				m.Lock(ctx)
				m.Unlock()
			}
		})
	})
	b.Run("c-glibc", func(b *testing.B) {
		bin := buildPeer(b, "", "sem_mutex", "sem_mutex.c")
		b.ReportMetric(cMetric(b, bin, path, "0", "bench", strconv.Itoa(max(b.N, 1000))), "ns/op")
	})
}

// A round trip between two processes through two glibc named semaphores
// (post A, the other side waits A and posts B, wait B): Go↔Go, Go↔C and
// C↔C in the same run.
func BenchmarkPingPong(b *testing.B) {
	bin := peerBin(b, "")
	pair := func(b *testing.B) (*Sem, string, *Sem, string) {
		a, an := newNamed(b, Glibc, 0)
		c, cn := newNamed(b, Glibc, 0)
		return a, an, c, cn
	}
	goPing := func(b *testing.B, a, c *Sem) {
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			a.Post()
			if err := c.Wait(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("go-go", func(b *testing.B) {
		a, an, c, cn := pair(b)
		cmd := testenv.Child(b, "sem-pong", an, cn, strconv.Itoa(b.N))
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer cmd.Wait()
		goPing(b, a, c)
	})
	b.Run("go-c", func(b *testing.B) {
		a, an, c, cn := pair(b)
		p := startPeer(b, bin, "open", an, "pong", cn, strconv.Itoa(b.N))
		goPing(b, a, c)
		p.expect("pong")
		p.wait()
	})
	b.Run("c-c", func(b *testing.B) {
		_, an, _, cn := pair(b)
		n := strconv.Itoa(max(b.N, 200))
		p := startPeer(b, bin, "open", an, "pong", cn, n)
		b.ReportMetric(cMetric(b, bin, "open", an, "ping", cn, n), "ns/op")
		p.expect("pong")
		p.wait()
	})
}
