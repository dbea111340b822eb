package mmapring

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/ipckit/ipckit/internal/testenv"
)

func init() {
	// reserve-hold: claim an MPMC cell (Reserve) and never commit it.
	testenv.RegisterChild("reserve-hold", func(args []string) int {
		r := childRing()
		p, err := r.Producer()
		if err != nil {
			return 1
		}
		b, err := p.TryReserve(16)
		if err != nil {
			return 1
		}
		copy(b, "never committed")
		fmt.Println("held")
		time.Sleep(time.Hour) // until killed (select{} would trip the deadlock detector)
		return 0
	})
	// peek-hold: take a message with Peek and never release it.
	testenv.RegisterChild("peek-hold", func(args []string) int {
		r := childRing()
		c, err := r.Consumer()
		if err != nil {
			return 1
		}
		m, err := c.Peek(context.Background())
		if err != nil {
			return 1
		}
		fmt.Printf("%s\n", m)
		time.Sleep(time.Hour) // until killed (select{} would trip the deadlock detector)
		return 0
	})
}

func holdChild(t *testing.T, name string, r *Ring) (*os.Process, string) {
	t.Helper()
	cmd := testenv.Child(t, name)
	cmd.ExtraFiles = []*os.File{r.File()}
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return cmd.Process, line[:len(line)-1]
}

// TestRepairDeadProducer: a producer process dies holding a claimed,
// uncommitted cell. While it lives (even stopped), consumers wait behind
// the cell; once it is dead the cell is skipped and the messages behind it
// are delivered, each once.
func TestRepairDeadProducer(t *testing.T) {
	r := newRing(t, Config{Kind: KindMPMC, Capacity: 8, CellSize: 32})
	proc, _ := holdChild(t, "reserve-hold", r)
	p, _ := r.Producer()
	defer p.Detach()
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		p.Send(ctx, []byte{byte('a' + i)})
	}
	c, _ := r.Consumer()
	defer c.Close()
	buf := make([]byte, 32)
	proc.Signal(syscall.SIGSTOP) // stopped is not dead
	tctx, cancel := context.WithTimeout(ctx, 3*LivenessInterval)
	_, err := c.Recv(tctx, buf)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Recv behind a live claimant: %v (the cell must not be repaired)", err)
	}
	proc.Kill()
	start := time.Now()
	for i := 0; i < 3; i++ {
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		n, err := c.Recv(tctx, buf)
		cancel()
		if err != nil || n != 1 || buf[0] != byte('a'+i) {
			t.Fatalf("message %d: %q %v", i, buf[:n], err)
		}
	}
	t.Logf("dead producer's cell skipped after %v", time.Since(start))
	if _, err := c.TryRecv(buf); err != ErrEmpty {
		t.Fatalf("after repair: %v", err)
	}
}

// TestCloseBehindDeadClaimant: a producer dies holding a claimed cell and
// the ring is closed at once, before any consumer's liveness check ran.
// Consumers must repair the cell and report io.EOF after the messages,
// not spin on "closed" forever (a kill-loop run once hung for minutes).
func TestCloseBehindDeadClaimant(t *testing.T) {
	r := newRing(t, Config{Kind: KindMPMC, Capacity: 8, CellSize: 32})
	proc, _ := holdChild(t, "reserve-hold", r)
	p, _ := r.Producer()
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		p.Send(ctx, []byte{byte('x' + i)})
	}
	proc.Kill()
	proc.Wait()
	p.Close()
	c, _ := r.Consumer()
	defer c.Close()
	buf := make([]byte, 32)
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for i := 0; i < 2; i++ {
		n, err := c.Recv(tctx, buf)
		if err != nil || n != 1 || buf[0] != byte('x'+i) {
			t.Fatalf("message %d: %q %v", i, buf[:n], err)
		}
	}
	if _, err := c.Recv(tctx, buf); err != io.EOF {
		t.Fatalf("after the messages of a closed ring: %v, want io.EOF", err)
	}
}

// TestRepairDeadConsumer: a consumer process dies after Peek, before
// Release. Its message is redelivered exactly once, and the ring keeps
// working across laps.
func TestRepairDeadConsumer(t *testing.T) {
	r := newRing(t, Config{Kind: KindMPMC, Capacity: 4, CellSize: 32})
	p, _ := r.Producer()
	defer p.Detach()
	ctx := context.Background()
	p.Send(ctx, []byte("first"))
	proc, got := holdChild(t, "peek-hold", r)
	if got != "first" {
		t.Fatalf("child peeked %q", got)
	}
	c, _ := r.Consumer()
	defer c.Close()
	buf := make([]byte, 32)
	if _, err := c.TryRecv(buf); err != ErrEmpty {
		t.Fatalf("message held by a live consumer was visible: %v", err)
	}
	proc.Kill()
	sendErr := make(chan error, 1)
	go func() { // several laps of a 4-cell ring, drained concurrently below
		for i := 0; i < 10; i++ {
			if err := p.Send(ctx, []byte(fmt.Sprint(i))); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- nil
	}()
	seen := map[string]int{}
	for len(seen) < 11 {
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		n, err := c.Recv(tctx, buf)
		cancel()
		if err != nil {
			t.Fatalf("after %d messages: %v", len(seen), err)
		}
		seen[string(buf[:n])]++
	}
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	for m, k := range seen {
		if k != 1 {
			t.Fatalf("%q delivered %d times", m, k)
		}
	}
	if seen["first"] != 1 {
		t.Fatal("the dead consumer's message was not redelivered")
	}
}
