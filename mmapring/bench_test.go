package mmapring

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/ipckit/ipckit/internal/testenv"
)

func init() {
	// sink COUNT: receive COUNT messages from the ring on fd 3.
	testenv.RegisterChild("sink", func(args []string) int {
		r := childRing()
		n := atoi(args[0])
		c, err := r.Consumer()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		buf := make([]byte, r.MaxMessage())
		for i := uint64(0); i < n; i++ {
			if _, err := c.Receive(context.Background(), buf); err != nil {
				fmt.Fprintln(os.Stderr, "recv:", err)
				return 1
			}
		}
		return 0
	})
	// echo: receive from fd 3 and send back on fd 4 until EOF.
	testenv.RegisterChild("echo", func(args []string) int {
		in := childRing()
		out, err := ringFromFD(4)
		if err != nil {
			return 1
		}
		c, _ := in.Consumer()
		p, _ := out.Producer()
		buf := make([]byte, in.MaxMessage())
		for {
			n, err := c.Receive(context.Background(), buf)
			if err != nil {
				return 0
			}
			p.Send(context.Background(), buf[:n])
		}
	})
}

func waitConsumer(b *testing.B, r *Ring) {
	for deadline := time.Now().Add(10 * time.Second); !liveConsumer(r); {
		if time.Now().After(deadline) {
			b.Fatal("child never attached")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func benchThroughput(b *testing.B, cfg Config, size int, batch int) {
	r, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	cmd := testenv.Child(b, "sink", strconv.Itoa(b.N))
	cmd.ExtraFiles = []*os.File{r.File()}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p, err := r.Producer()
	if err != nil {
		b.Fatal(err)
	}
	defer p.Detach()
	waitConsumer(b, r)
	msg := make([]byte, size)
	msgs := make([][]byte, batch)
	for i := range msgs {
		msgs[i] = msg
	}
	ctx := context.Background()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		if batch > 1 {
			k := min(batch, b.N-i)
			n, err := p.SendBatch(ctx, msgs[:k])
			if err != nil {
				b.Fatal(err)
			}
			i += n
			continue
		}
		if err := p.Send(ctx, msg); err != nil {
			b.Fatal(err)
		}
		i++
	}
	if err := cmd.Wait(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	_, wakes := p.Syscalls()
	b.ReportMetric(float64(wakes)/float64(b.N), "wakes/op")
}

var benchSizes = []int{8, 64, 4096, 65536, 1 << 20}

// spscCap is the SPSC ring size for messages of size bytes: 1 MiB, or
// four messages' worth for larger ones (as ipckit bench sizes its rings).
func spscCap(size int) int { return max(1<<20, 4*size) }

// BenchmarkSPSC: one producer (this process) and one consumer (a child
// process), Send per message; MB/s from SetBytes.
func BenchmarkSPSC(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			benchThroughput(b, Config{Kind: KindSPSC, Capacity: spscCap(size)}, size, 1)
		})
	}
}

// BenchmarkSPSCBatch publishes once per 32 messages (SendBatch).
func BenchmarkSPSCBatch(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			benchThroughput(b, Config{Kind: KindSPSC, Capacity: spscCap(size)}, size, 32)
		})
	}
}

// BenchmarkMPMC: the MPMC ring with one producer and one consumer process.
func BenchmarkMPMC(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			cells := 1024
			if size > 4096 {
				cells = 32
			}
			benchThroughput(b, Config{Kind: KindMPMC, Capacity: cells, CellSize: size}, size, 1)
		})
	}
}

// BenchmarkChecksum is BenchmarkSPSC and BenchmarkMPMC with
// Config.Checksum: the cost of the per-message CRC32C on both sides.
func BenchmarkChecksum(b *testing.B) {
	for _, kind := range []Kind{KindSPSC, KindMPMC} {
		for _, sum := range []bool{false, true} {
			for _, size := range benchSizes {
				name := fmt.Sprintf("%v/crc=%v/%d", kind, sum, size)
				b.Run(name, func(b *testing.B) {
					cfg := Config{Kind: kind, Capacity: spscCap(size), Checksum: sum}
					if kind == KindMPMC {
						cfg.Capacity, cfg.CellSize = 1024, size
						if size > 4096 {
							cfg.Capacity = 32
						}
					}
					benchThroughput(b, cfg, size, 1)
				})
			}
		}
	}
}

// BenchmarkPingPong measures a round trip through two SPSC rings to an
// echoing child process (ns/op is the round trip).
func BenchmarkPingPong(b *testing.B) {
	for _, size := range []int{8, 64} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			out, _ := New(Config{Capacity: 1 << 16})
			in, _ := New(Config{Capacity: 1 << 16})
			defer out.Close()
			defer in.Close()
			cmd := testenv.Child(b, "echo")
			cmd.ExtraFiles = []*os.File{out.File(), in.File()}
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			p, _ := out.Producer()
			c, _ := in.Consumer()
			waitConsumer(b, out)
			msg := make([]byte, size)
			buf := make([]byte, size)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p.Send(ctx, msg)
				if _, err := c.Receive(ctx, buf); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			p.Close()
			cmd.Wait()
		})
	}
}

var _ = exec.Command
var _ = io.EOF

// BenchmarkLocal sends and receives on one goroutine (no other core
// involved): the software cost of a Send plus a Receive, without cache-line
// transfers. Compare with the same loop in C (cmd/ipckit/cring).
func BenchmarkLocal(b *testing.B) {
	for _, size := range []int{8, 64} {
		b.Run(strconv.Itoa(size), func(b *testing.B) { benchLocal(b, Config{Capacity: 1 << 16}, size) })
		b.Run(fmt.Sprintf("mpmc/%d", size), func(b *testing.B) {
			benchLocal(b, Config{Kind: KindMPMC, Capacity: 1024, CellSize: size}, size)
		})
	}
}

func benchLocal(b *testing.B, cfg Config, size int) {
	r, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	p, _ := r.Producer()
	c, _ := r.Consumer()
	msg := make([]byte, size)
	buf := make([]byte, size)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := p.Send(ctx, msg); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Receive(ctx, buf); err != nil {
			b.Fatal(err)
		}
	}
}
