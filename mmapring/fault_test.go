package mmapring

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Fault tests. Each writes into a mapping the exact state that a process
// killed at one instruction (or a buggy or hostile peer) leaves behind,
// or kills a real peer process, and then runs a survivor of every peer
// kind (Go and C) against it with a deadline. A survivor that spins or
// ignores its deadline is caught by the guard and fails the test.

// guard is how long a peer may go without output before the test calls
// it hung; generous, since the qemu legs are slow.
const guard = 60 * time.Second

// deadIdent returns a peer-table ident that names a process proven dead:
// this process's pid with a start time far from its own, as if the pid
// had been reused since.
func deadIdent() uint64 {
	return uint64(uint32(os.Getpid()))<<32 | uint64(uint32(myIdent())+100000)
}

// deadSlot writes a dead process into a free peer slot with role and
// returns the slot.
func deadSlot(t *testing.T, r *Ring, role uint32) int {
	t.Helper()
	for s := 0; s < peerSlots; s++ {
		if atomic.CompareAndSwapUint64(r.peerIdent(s), 0, deadIdent()) {
			atomic.StoreUint32(r.peerRole(s), role)
			return s
		}
	}
	t.Fatal("no free peer slot")
	return -1
}

// setCell writes MPMC cell pos&mask: its state word (position stPos, code)
// and, if text is not empty, a message.
func setCell(r *Ring, pos, stPos, code uint64, text string) {
	i := pos & r.mask
	off := headerSize + i*r.cellSize
	atomic.StoreUint64(r.cellState(i), stPos<<8|code)
	*r.u32(off + 8) = uint32(len(text))
	copy(r.mem[off+cellHeader:], text)
}

// setPositions writes the shared enqueue and dequeue positions.
func setPositions(r *Ring, prod, cons uint64) {
	atomic.StoreUint64(r.u64(offProdPos), prod)
	atomic.StoreUint64(r.u64(offConsPos), cons)
}

// sendAll sends msgs from a producer of this process and detaches it.
func sendAll(t *testing.T, r *Ring, msgs ...string) {
	t.Helper()
	p, err := r.Producer()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if err := p.Send(context.Background(), []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	p.Detach()
}

// closeRing closes the ring for sending, as a producer's Close does.
func closeRing(t *testing.T, r *Ring) {
	t.Helper()
	p, err := r.Producer()
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
}

func mpmc8(t *testing.T) *Ring { return newRing(t, Config{Kind: KindMPMC, Capacity: 8, CellSize: 32}) }

// TestFaultStaleOrphanCounter (F1): the orphans counter is non-zero but no
// cell is an orphan, as a consumer killed between claiming an orphan and
// decrementing the counter leaves it (or a hostile peer). Consumers must
// still drain, honour their deadline and reach EOF; the counter is a hint
// that is repaired, not a promise.
func TestFaultStaleOrphanCounter(t *testing.T) {
	forEachPeer(t, func(t *testing.T, pk peerKind) {
		r := mpmc8(t)
		sendAll(t, r, "a", "b")
		atomic.StoreUint32(r.u32(offOrphans), 1)
		closeRing(t, r)
		wantLines(t, runPeer(t, pk, r, guard, "recv-all", "5000"), "msg a", "msg b", "eof")

		// Not closed: the deadline is honoured (no spin), messages first.
		r = mpmc8(t)
		sendAll(t, r, "c")
		atomic.StoreUint32(r.u32(offOrphans), 3)
		wantLines(t, runPeer(t, pk, r, guard, "recv-all", "1000"), "msg c", "timeout")
	})
}

// TestFaultUncountedOrphan (F3): a consumer killed between marking a cell
// ORPHAN and incrementing the counter leaves a committed message that the
// counter does not announce. It must be delivered before EOF, and without
// Close it must be found by the consumers' periodic scan.
func TestFaultUncountedOrphan(t *testing.T) {
	forEachPeer(t, func(t *testing.T, pk peerKind) {
		for _, closed := range []bool{true, false} {
			r := mpmc8(t)
			setCell(r, 0, 8, stEmpty, "")
			setCell(r, 1, 1, stOrphan, "b")
			setCell(r, 2, 10, stEmpty, "")
			setPositions(r, 3, 3)
			if closed {
				closeRing(t, r)
				wantLines(t, runPeer(t, pk, r, guard, "recv-all", "5000"), "msg b", "eof")
			} else {
				wantLines(t, runPeer(t, pk, r, guard, "recv-all", "1500"), "msg b", "timeout")
			}
		}
	})
}

// TestFaultSkipRecycledBeforeDequeueMoved (F2): a consumer recycled a
// SKIPPED cell for the next lap and was killed (or is merely slow) before
// moving the dequeue position past it. The cell is then one lap ahead of
// the dequeue position; that is progress to help along, not corruption.
func TestFaultSkipRecycledBeforeDequeueMoved(t *testing.T) {
	forEachPeer(t, func(t *testing.T, pk peerKind) {
		r := mpmc8(t)
		setCell(r, 0, 8, stEmpty, "")
		setCell(r, 1, 1, stFull, "m1")
		setCell(r, 2, 2, stFull, "m2")
		setPositions(r, 3, 0)
		closeRing(t, r)
		wantLines(t, runPeer(t, pk, r, guard, "recv-all", "5000"), "msg m1", "msg m2", "eof")
	})
}

// TestFaultProducerDiedBetweenCASes (F2): a producer killed after claiming
// a cell and before moving the enqueue position. Once its death is proven
// the cell is skipped; neither the consumers nor later producers may then
// see a cell ahead of a position (every Send failed with "cell length out
// of bounds": TestKillLoop under qemu).
func TestFaultProducerDiedBetweenCASes(t *testing.T) {
	forEachPeer(t, func(t *testing.T, pk peerKind) {
		for _, limit := range []int{0, 6} {
			r := newRing(t, Config{Kind: KindMPMC, Capacity: 8, CellSize: 32, Limit: limit})
			s := deadSlot(t, r, roleProducer)
			setCell(r, 0, 0, stWriting|uint64(s), "")
			setPositions(r, 0, 0)
			// A consumer waits, proves the producer dead, repairs the cell,
			// and reports that every producer is dead.
			wantLines(t, runPeer(t, pk, r, guard, "recv-all", "5000"), "peerdead")
			wantLines(t, runPeer(t, pk, r, guard, "send", "5000", "detach", "after"), "sent", "done")
			wantLines(t, runPeer(t, pk, r, guard, "recv-all", "5000"), "msg after", "peerdead")
		}
	})
}

// TestFaultCorruptCellPosition: a cell whose position is neither this lap
// nor the next is corrupt; every peer reports it instead of spinning.
func TestFaultCorruptCellPosition(t *testing.T) {
	forEachPeer(t, func(t *testing.T, pk peerKind) {
		r := mpmc8(t)
		setCell(r, 0, 5, stFull, "x")
		setPositions(r, 1, 0)
		wantLines(t, runPeer(t, pk, r, guard, "recv-all", "5000"), "corrupt")

		r = mpmc8(t)
		setCell(r, 0, 5, stEmpty, "")
		setPositions(r, 0, 0)
		wantLines(t, runPeer(t, pk, r, guard, "send", "5000", "detach", "x"), "corrupt")
	})
}

// TestFaultDequeueAheadOfEnqueue: a dequeue position ahead of the enqueue
// position is corrupt (with a limit below the capacity the producer
// compares them).
func TestFaultDequeueAheadOfEnqueue(t *testing.T) {
	forEachPeer(t, func(t *testing.T, pk peerKind) {
		r := newRing(t, Config{Kind: KindMPMC, Capacity: 8, CellSize: 32, Limit: 6})
		setPositions(r, 2, 4)
		wantLines(t, runPeer(t, pk, r, guard, "send", "5000", "detach", "x"), "corrupt")
	})
}

// TestFaultPositionOutOfRange: positions beyond 56 bits are corrupt.
func TestFaultPositionOutOfRange(t *testing.T) {
	forEachPeer(t, func(t *testing.T, pk peerKind) {
		r := mpmc8(t)
		setPositions(r, 1<<60, 0)
		wantLines(t, runPeer(t, pk, r, guard, "send", "5000", "detach", "x"), "corrupt")
		r = mpmc8(t)
		setPositions(r, 1<<60, 1<<60)
		wantLines(t, runPeer(t, pk, r, guard, "recv-all", "5000"), "corrupt")
	})
}

// TestFaultCorruptHeader: every header mutation is refused by every peer.
// The peers run up to eight at a time (a Go peer under -race takes about
// half a second to start).
func TestFaultCorruptHeader(t *testing.T) {
	forEachPeer(t, func(t *testing.T, pk peerKind) {
		type job struct {
			kind       Kind
			name, want string
			p          *peerProc
		}
		var running []job
		collect := func() {
			j := running[0]
			running = running[1:]
			if got := j.p.all(guard); len(got) != 1 || got[0] != j.want {
				t.Errorf("%v header with %s: %q, want %s", j.kind, j.name, got, j.want)
			}
		}
		for _, kind := range []Kind{KindSPSC, KindMPMC} {
			good := newRing(t, Config{Kind: kind, Capacity: 256, CellSize: 32})
			for name, fn := range headerMutations {
				h := append([]byte(nil), good.mem[:headerSize]...)
				size := len(good.mem)
				if fn != nil {
					fn(h)
				} else {
					size = headerSize + 100
				}
				f := memfdWith(t, h, size)
				want := "corrupt"
				if name == "notready" {
					want = "notready"
				}
				running = append(running, job{kind, name, want, startPeer(t, pk, f, "open")})
				f.Close()
				if len(running) == 8 {
					collect()
				}
			}
		}
		for len(running) > 0 {
			collect()
		}
	})
}

// TestFaultAbortRace (F2 without any kill): four consumer processes and a
// producer that aborts reservations. A consumer that recycles a skipped
// cell must never make another see "corruption".
func TestFaultAbortRace(t *testing.T) {
	forEachPeer(t, func(t *testing.T, pk peerKind) {
		r := newRing(t, Config{Kind: KindMPMC, Capacity: 8, CellSize: 32})
		var peers []*peerProc
		for i := 0; i < 4; i++ {
			peers = append(peers, startPeer(t, pk, r.File(), "recv-all", "120000"))
		}
		n := 3000
		if testing.Short() {
			n = 600
		}
		p, err := r.Producer()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		defer cancel()
		for i := 0; i < n; i++ {
			b, err := p.Reserve(ctx, 8)
			if err != nil {
				t.Fatal(err)
			}
			p.Abort()
			if err := p.Send(ctx, []byte(strconv.Itoa(i))); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
			_ = b
		}
		p.Close()
		var got []string
		for _, pp := range peers {
			lines := pp.all(guard)
			if len(lines) == 0 || lines[len(lines)-1] != "eof" {
				t.Fatalf("consumer ended with %q", lines[max(0, len(lines)-3):])
			}
			got = append(got, lines[:len(lines)-1]...)
		}
		sort.Slice(got, func(i, j int) bool {
			a, _ := strconv.Atoi(strings.TrimPrefix(got[i], "msg "))
			b, _ := strconv.Atoi(strings.TrimPrefix(got[j], "msg "))
			return a < b
		})
		if len(got) != n {
			t.Fatalf("%d messages delivered, want %d", len(got), n)
		}
		for i, l := range got {
			if l != "msg "+strconv.Itoa(i) {
				t.Fatalf("message %d: %q", i, l)
			}
		}
	})
}

// TestFaultDeadProducerClaim: a producer process dies holding a claimed,
// uncommitted cell. While it lives (even stopped) consumers wait behind the
// cell; once it is dead the cell is skipped and the messages behind it
// are delivered, each once.
func TestFaultDeadProducerClaim(t *testing.T) {
	forEachPeer(t, func(t *testing.T, pk peerKind) {
		r := mpmc8(t)
		holder := startPeer(t, goPeer, r.File(), "hold-reserve")
		if l := holder.line(guard); l != "held" {
			t.Fatalf("holder: %q", l)
		}
		sendAll(t, r, "a", "b", "c")
		holder.cmd.Process.Signal(syscall.SIGSTOP) // stopped is not dead
		wantLines(t, runPeer(t, pk, r, guard, "recv-all", ms(3*LivenessInterval)), "timeout")
		holder.kill()
		wantLines(t, runPeer(t, pk, r, guard, "recv-all", "20000"), "msg a", "msg b", "msg c", "peerdead")
	})
}

// TestFaultCloseBehindDeadClaimant: a producer dies holding a claimed cell
// and the ring is closed at once. Consumers must repair the cell and
// report EOF after the messages, not spin on "closed" (the C consumer used
// to spin at 100% CPU, ignoring its timeout).
func TestFaultCloseBehindDeadClaimant(t *testing.T) {
	forEachPeer(t, func(t *testing.T, pk peerKind) {
		r := mpmc8(t)
		holder := startPeer(t, goPeer, r.File(), "hold-reserve")
		if l := holder.line(guard); l != "held" {
			t.Fatalf("holder: %q", l)
		}
		sendAll(t, r, "x", "y")
		holder.kill()
		closeRing(t, r)
		wantLines(t, runPeer(t, pk, r, guard, "recv-all", "20000"), "msg x", "msg y", "eof")
	})
}

// TestFaultDeadConsumerPeek: a consumer process dies after Peek, before
// Release; its message is redelivered exactly once.
func TestFaultDeadConsumerPeek(t *testing.T) {
	forEachPeer(t, func(t *testing.T, pk peerKind) {
		r := newRing(t, Config{Kind: KindMPMC, Capacity: 4, CellSize: 32})
		sendAll(t, r, "first")
		holder := startPeer(t, goPeer, r.File(), "hold-peek")
		if l := holder.line(guard); l != "msg first" {
			t.Fatalf("holder: %q", l)
		}
		holder.kill()
		sendAll(t, r, "1", "2")
		closeRing(t, r)
		got := runPeer(t, pk, r, guard, "recv-all", "20000")
		sort.Strings(got)
		wantLines(t, got, "eof", "msg 1", "msg 2", "msg first")
	})
}

// TestFaultPeerDeath: a consumer blocked on a ring whose producer was
// killed returns ErrPeerDead after receiving everything committed; a
// producer blocked on a full ring whose consumer died likewise.
func TestFaultPeerDeath(t *testing.T) {
	forEachPeer(t, func(t *testing.T, pk peerKind) {
		for _, kind := range []Kind{KindSPSC, KindMPMC} {
			r := newRing(t, Config{Kind: kind, Capacity: 256, CellSize: 32})
			if kind == KindMPMC {
				r = mpmc8(t)
			}
			prod := startPeer(t, goPeer, r.File(), "send", "5000", "hold", "p", "q")
			for _, want := range []string{"sent", "sent", "done"} {
				if l := prod.line(guard); l != want {
					t.Fatalf("producer: %q", l)
				}
			}
			prod.cmd.Process.Kill() // not reaped yet: a zombie counts as dead
			wantLines(t, runPeer(t, pk, r, guard, "recv-all", "20000"), "msg p", "msg q", "peerdead")
			prod.kill()

			cons := startPeer(t, goPeer, r.File(), "attach", "consumer")
			fmt.Fprintln(cons.stdin) // the start barrier
			if l := cons.line(guard); l != "won" {
				t.Fatalf("consumer: %q", l)
			}
			cons.kill()
			msgs := []string{"20000", "detach"}
			for i := 0; i < 40; i++ {
				msgs = append(msgs, "m")
			}
			got := runPeer(t, pk, r, guard, "send", msgs...)
			if len(got) == 0 || got[len(got)-1] != "peerdead" {
				t.Fatalf("%v: producer with a dead consumer: %q", kind, got)
			}
		}
	})
}

// TestAbortRaceInProcess (F2 without any kill, as the campaign ran it):
// four consumer goroutines and a producer that aborts reservations; no
// consumer may ever see "corruption", and every message arrives once.
func TestAbortRaceInProcess(t *testing.T) {
	r := newRing(t, Config{Kind: KindMPMC, Capacity: 8, CellSize: 32})
	d := 2 * time.Second
	if testing.Short() || raceEnabled {
		d = time.Second
	}
	var mu sync.Mutex
	seen := map[uint64]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		c, err := r.Consumer()
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			buf := make([]byte, 32)
			for {
				n, err := c.Receive(context.Background(), buf)
				if err == io.EOF {
					return
				}
				if err != nil {
					errs <- err
					return
				}
				v, _ := strconv.ParseUint(string(buf[:n]), 10, 64)
				mu.Lock()
				seen[v]++
				mu.Unlock()
			}
		}()
	}
	p, err := r.Producer()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var sent uint64
	for end := time.Now().Add(d); time.Now().Before(end); {
		if _, err := p.Reserve(ctx, 8); err != nil {
			t.Fatal(err)
		}
		p.Abort()
		if err := p.Send(ctx, []byte(strconv.FormatUint(sent, 10))); err != nil {
			t.Fatalf("send %d: %v", sent, err)
		}
		sent++
	}
	p.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("consumer: %v", err)
	}
	for i := uint64(0); i < sent; i++ {
		if seen[i] != 1 {
			t.Fatalf("message %d delivered %d times (of %d sent)", i, seen[i], sent)
		}
	}
	t.Logf("%d messages, %d aborted reservations", sent, sent)
}

// TestFaultSendAfterClose (found by the kill-point campaign, scenario
// spsc-send-close): once a producer closed the ring, a producer attached
// later must fail with ErrClosed, as the documentation promises. On SPSC
// rings the send path never looked at the shared closed word, so a
// replacement producer's messages were accepted after consumers could
// already have reported EOF (and were then never delivered).
func TestFaultSendAfterClose(t *testing.T) {
	forEachPeer(t, func(t *testing.T, pk peerKind) {
		for _, kind := range []Kind{KindSPSC, KindMPMC} {
			r := newRing(t, Config{Kind: kind, Capacity: 256, CellSize: 32})
			sendAll(t, r, "a")
			closeRing(t, r)
			wantLines(t, runPeer(t, pk, r, guard, "send", "5000", "detach", "late"), "closed")
			wantLines(t, runPeer(t, pk, r, guard, "recv-all", "5000"), "msg a", "eof")
		}
	})
}
