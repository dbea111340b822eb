package mmapring

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ipckit/ipckit/internal/testenv"
)

// Children re-executed from the test binary. The ring is always fd 3.
func init() {
	testenv.RegisterChild("produce", childProduce)
	testenv.RegisterChild("consume", childConsume)
	testenv.RegisterChild("drain", childDrain)
}

func atoi(s string) uint64 { v, _ := strconv.ParseUint(s, 10, 64); return v }

// ringFromFD attaches to the ring on an inherited descriptor, as a child
// that got it through exec.Cmd.ExtraFiles does; the Ring keeps a
// duplicate, so fd itself is closed.
func ringFromFD(fd int) (*Ring, error) {
	f := os.NewFile(uintptr(fd), "inherited")
	defer f.Close()
	return FromFile(f)
}

func childRing() *Ring {
	r, err := ringFromFD(3)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(1)
	}
	return r
}

// produce COUNT MAXSIZE SEED ID [close|detach|batch]: send checksummed messages.
// With COUNT 0 it sends until killed, writing each committed seq to stdout.
func childProduce(args []string) int {
	r := childRing()
	count, max, seed, id := atoi(args[0]), int(atoi(args[1])), atoi(args[2]), atoi(args[3])
	mode := "close"
	if len(args) > 4 {
		mode = args[4]
	}
	if max > r.MaxMessage() {
		max = r.MaxMessage()
	}
	p, err := r.Producer()
	if err != nil {
		fmt.Fprintln(os.Stderr, "producer:", err)
		return 1
	}
	rng := rand.New(rand.NewPCG(seed, id))
	ctx := context.Background()
	out := bufio.NewWriter(os.Stdout)
	buf := make([]byte, max)
	var batch [][]byte
	for i := uint64(0); count == 0 || i < count; i++ {
		m := buf[:msgSize(rng, max)]
		if mode == "batch" {
			m = make([]byte, len(m))
		}
		fill(m, id<<32|i)
		if mode == "batch" {
			batch = append(batch, m)
			if len(batch) == 16 || i == count-1 {
				if _, err := p.SendBatch(ctx, batch); err != nil {
					fmt.Fprintln(os.Stderr, "send batch:", err)
					return 1
				}
				batch = batch[:0]
			}
			continue
		}
		if err := p.Send(ctx, m); err != nil {
			fmt.Fprintln(os.Stderr, "send:", err)
			return 1
		}
		if count == 0 {
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], i)
			os.Stdout.Write(b[:]) // unbuffered: reported once committed
		}
	}
	if mode == "detach" {
		p.Detach()
	} else {
		p.Close()
	}
	w, k := p.Syscalls()
	fmt.Fprintf(out, "ok %d waits %d wakes %d\n", count, w, k)
	out.Flush()
	return 0
}

// consume COUNT: receive until EOF checking order (one producer).
func childConsume(args []string) int {
	r := childRing()
	count := atoi(args[0])
	c, err := r.Consumer()
	if err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		return 1
	}
	buf := make([]byte, r.MaxMessage())
	var i uint64
	for ; ; i++ {
		n, err := c.Receive(context.Background(), buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "recv:", err)
			return 1
		}
		seq, ok := check(buf[:n])
		if !ok || seq != i {
			fmt.Fprintf(os.Stderr, "message %d bad: seq %d ok %v\n", i, seq, ok)
			return 1
		}
	}
	if i != count {
		fmt.Fprintf(os.Stderr, "got %d messages, want %d\n", i, count)
		return 1
	}
	w, k := c.Syscalls()
	fmt.Printf("ok %d waits %d wakes %d\n", i, w, k)
	return 0
}

// drain [marker]: receive until EOF with Peek/Release, writing every seq
// to stdout before releasing it (so a kill between write and release is
// the only way a message can be reported twice). Producers come and go
// (the kill loop kills them): a moment with every producer dead is
// ErrPeerDead, after which it waits on (under qemu-user starting the next
// producer takes longer than a liveness interval). With marker, each
// ErrPeerDead is reported as the value markPeerDead and a torn message as
// markTorn (and skipped) instead of ending the drain.
func childDrain(args []string) int {
	marker := len(args) > 0 && args[0] == "marker"
	r := childRing()
	c, err := r.Consumer()
	if err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		return 1
	}
	var b [8]byte
	put := func(v uint64) bool {
		binary.LittleEndian.PutUint64(b[:], v)
		_, err := os.Stdout.Write(b[:])
		return err == nil
	}
	for {
		msg, err := c.Peek(context.Background())
		if err == io.EOF {
			return 0
		}
		if err == ErrPeerDead {
			if marker && !put(markPeerDead) {
				return 1
			}
			continue
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "peek:", err)
			return 1
		}
		seq, ok := check(msg)
		if !ok {
			if !marker {
				fmt.Fprintln(os.Stderr, "corrupt message")
				return 1
			}
			seq = markTorn
		}
		if !put(seq) {
			return 1
		}
		c.Release()
	}
}

// Values a drain with marker reports besides message seqs.
const (
	markPeerDead = ^uint64(0) // ErrPeerDead: every producer is proven dead
	markTorn     = ^uint64(1) // a message failed its checksum
)

func million() uint64 {
	if testing.Short() { // the qemu-user legs
		return 20_000
	}
	if raceEnabled {
		return 100_000
	}
	return 1_000_000
}

func startChild(t *testing.T, cmd *exec.Cmd, r *Ring) *strings.Builder {
	t.Helper()
	cmd.ExtraFiles = []*os.File{r.File()}
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return &out
}

func waitOK(t *testing.T, who string, cmd *exec.Cmd, out *strings.Builder) {
	t.Helper()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s: %v\n%s", who, err, out)
	}
	if !strings.HasPrefix(out.String(), "ok ") {
		t.Fatalf("%s: %q", who, out)
	}
	t.Logf("%s: %s", who, strings.TrimSpace(out.String()))
}

func ringPeer(t *testing.T) string {
	return testenv.BuildC(t, "", "ring_peer", []string{"ring_peer.c"}, "-I", filepath.Join(testenv.Root(), "mmapring"))
}

func cfgFor(kind Kind) Config {
	if kind == KindSPSC {
		return Config{Kind: KindSPSC, Capacity: 1 << 16}
	}
	return Config{Kind: KindMPMC, Capacity: 256, CellSize: 240}
}

// TestCrossProcess runs every pairing of Go and C producers and consumers
// across processes, on both ring kinds, with checksummed messages of random
// sizes.
func TestCrossProcess(t *testing.T) {
	peer := ringPeer(t)
	// The same peer built against musl: the header must not depend on glibc.
	muslPeer := testenv.BuildC(t, "musl-gcc", "ring_peer_musl", []string{"ring_peer.c"}, "-I", filepath.Join(testenv.Root(), "mmapring"))
	muslOK, _ := testenv.BuiltForGOARCH(muslPeer)
	n := million()
	for _, kind := range []Kind{KindSPSC, KindMPMC} {
		for _, pair := range []string{"go-go", "go-c", "c-go", "c-c", "gobatch-go", "musl-go", "go-c+crc", "c-go+crc", "c-c+crc"} {
			t.Run(kind.String()+"/"+pair, func(t *testing.T) {
				count := n
				if raceEnabled && (pair == "go-go" || pair == "gobatch-go") {
					count = n / 4 // both sides instrumented by the race detector
				}
				cfg := cfgFor(kind)
				if strings.HasSuffix(pair, "+crc") {
					pair = strings.TrimSuffix(pair, "+crc")
					cfg.Checksum = true
					count /= 4
				}
				r := newRing(t, cfg)
				cnt := strconv.FormatUint(count, 10)
				var prod, cons *exec.Cmd
				switch pair[:strings.IndexByte(pair, '-')] {
				case "go":
					prod = testenv.Child(t, "produce", cnt, "200", "7", "0")
				case "gobatch":
					prod = testenv.Child(t, "produce", cnt, "200", "7", "0", "batch")
				case "c":
					prod = testenv.Command(peer, "produce", "3", cnt, "200", "7")
				case "musl":
					// musl-gcc builds for the host; the ring's layout is in
					// native byte order, so under emulation it cannot share it.
					if !muslOK {
						testenv.RequirePeerABI(t, muslPeer)
					}
					prod = testenv.Command(muslPeer, "produce", "3", cnt, "200", "7")
				}
				switch pair[strings.IndexByte(pair, '-')+1:] {
				case "go":
					cons = testenv.Child(t, "consume", cnt)
				case "c":
					cons = testenv.Command(peer, "consume", "3", cnt)
				}
				prod.Stderr, cons.Stderr = os.Stderr, os.Stderr
				co := startChild(t, cons, r)
				po := startChild(t, prod, r)
				waitOK(t, "producer", prod, po)
				waitOK(t, "consumer", cons, co)
			})
		}
	}
}

// TestNxM: several producer processes and several consumer processes on
// one MPMC ring; every message is delivered exactly once.
func TestNxM(t *testing.T) {
	peer := ringPeer(t)
	const producers, consumers = 3, 3
	per := million() / 10
	r := newRing(t, Config{Kind: KindMPMC, Capacity: 128, CellSize: 120})
	var outs []*strings.Builder
	var cmds []*exec.Cmd
	for i := 0; i < consumers; i++ {
		cmd := testenv.Child(t, "drain")
		outs = append(outs, startChild(t, cmd, r))
		cmds = append(cmds, cmd)
	}
	var prods []*exec.Cmd
	for i := 0; i < producers; i++ {
		var cmd *exec.Cmd
		id := strconv.Itoa(i)
		if i == producers-1 {
			cmd = testenv.Command(peer, "produce", "3", strconv.FormatUint(per, 10), "120", "5", id, "detach")
		} else {
			cmd = testenv.Child(t, "produce", strconv.FormatUint(per, 10), "120", "5", id, "detach")
		}
		cmd.Stderr = os.Stderr
		startChild(t, cmd, r)
		prods = append(prods, cmd)
	}
	for i, cmd := range prods {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("producer %d: %v", i, err)
		}
	}
	// The C producer closed the ring when it finished; make sure the ring is
	// closed only after every producer is done.
	p, err := r.Producer()
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	seen := make(map[uint64]int)
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("consumer %d: %v", i, err)
		}
		b := []byte(outs[i].String())
		for len(b) >= 8 {
			seen[binary.LittleEndian.Uint64(b)]++
			b = b[8:]
		}
	}
	for id := uint64(0); id < producers; id++ {
		for i := uint64(0); i < per; i++ {
			if c := seen[id<<32|i]; c != 1 {
				t.Fatalf("message %d/%d delivered %d times", id, i, c)
			}
		}
	}
	if len(seen) != int(producers*per) {
		t.Fatalf("%d distinct messages, want %d", len(seen), producers*per)
	}
}

func liveConsumer(r *Ring) bool {
	st, _ := r.Stats()
	for _, p := range st.Peers {
		if p.Consumer && p.Alive {
			return true
		}
	}
	return false
}

// raw returns the command of a peer of kind pk in one of the
// cross-process modes (produce, consume, drain), with the ring on fd 3.
func (pk peerKind) raw(t *testing.T, mode string, args ...string) *exec.Cmd {
	t.Helper()
	if pk.name == "go" {
		return testenv.Child(t, mode, args...)
	}
	return testenv.Command(pk.cbin, append([]string{mode, "3"}, args...)...)
}
