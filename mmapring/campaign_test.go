package mmapring

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipckit/ipckit/internal/testenv"
)

// The kill -9 campaign (TestKillLoop): randomized SIGKILLs of real
// producer and consumer processes, Go and C, on SPSC rings, MPMC rings and
// Queues, with every message accounted for. Kill points
// (killpoint_test.go) stop a process at each store in turn; this campaign
// kills at random instants, with real concurrency and real timing.
//
// Each trial makes a fresh ring, starts its consumers (one on SPSC, two
// otherwise) and a producer that sends until killed, each reporting what
// it did (a producer every message once Send returned, a consumer every
// message before releasing it). At a random moment it kills a consumer
// (in half the trials, and starts a replacement), then the producer. The
// survivors must then repair what the dead left, deliver everything and
// report that every producer is dead (ErrPeerDead): the time from the
// producer's kill to that report is the detection latency. Then the test
// closes the ring and the consumers must reach EOF. Per message:
//
//	committed   the producer reported it sent
//	in flight   sent when the producer was killed, before it could report it
//	lost        committed and never delivered (must be 0; on a Queue a
//	            consumer killed after Get returned and before it reported
//	            takes one message with it: "in hand", at most one per kill)
//	duplicated  delivered twice; allowed only when the first delivery was to
//	            a consumer killed before it released the message (Peek ...
//	            Release, and SPSC's lazily published position)
//	torn        failed its checksum (must be 0)
//	phantom     delivered, never sent (must be 0)
//	hangs       a survivor that did not detect a death or reach EOF in time
//
// -mmapring.killrounds=N sets the number of trials (all ring kinds and
// peer kinds together; the default is small, for CI):
//
//	go test -run TestKillLoop -mmapring.killrounds=2000 -v ./mmapring
var killRounds = flag.Int("mmapring.killrounds", 0, "trials of TestKillLoop, all kinds together (0: 30, 12 with -short or -race)")

func init() {
	testenv.RegisterChild("qproduce", childQueueProduce)
	testenv.RegisterChild("qdrain", childQueueDrain)
}

// qproduce MAXSIZE SEED ID: Put checksummed messages until killed, writing
// each seq to stdout once Put returned.
func childQueueProduce(args []string) int {
	r := childRing()
	q, err := QueueFromRing(r)
	if err != nil {
		return 1
	}
	max, seed, id := int(atoi(args[0])), atoi(args[1]), atoi(args[2])
	max = min(max, r.MaxMessage())
	rng := rand.New(rand.NewPCG(seed, id))
	buf := make([]byte, max)
	var b [8]byte
	for i := uint64(0); ; i++ {
		m := buf[:msgSize(rng, max)]
		fill(m, id<<32|i)
		if err := q.Put(context.Background(), m); err != nil {
			fmt.Fprintln(os.Stderr, "put:", err)
			return 1
		}
		binary.LittleEndian.PutUint64(b[:], i)
		os.Stdout.Write(b[:])
	}
}

// qdrain: Get until EOF, writing each seq, then TaskDone; ErrPeerDead and
// torn messages are reported as drain's markers.
func childQueueDrain(args []string) int {
	r := childRing()
	q, err := QueueFromRing(r)
	if err != nil {
		return 1
	}
	buf := make([]byte, r.MaxMessage())
	var b [8]byte
	put := func(v uint64) bool {
		binary.LittleEndian.PutUint64(b[:], v)
		_, err := os.Stdout.Write(b[:])
		return err == nil
	}
	for {
		n, err := q.Get(context.Background(), buf)
		switch {
		case err == io.EOF:
			return 0
		case errors.Is(err, ErrPeerDead):
			if !put(markPeerDead) {
				return 1
			}
			continue
		case err != nil:
			fmt.Fprintln(os.Stderr, "get:", err)
			return 1
		}
		seq, ok := check(buf[:n])
		if !ok {
			seq = markTorn
		}
		if !put(seq) {
			return 1
		}
		if err := q.TaskDone(); err != nil {
			fmt.Fprintln(os.Stderr, "task done:", err)
			return 1
		}
	}
}

// campaignRow is the accounting of one kind of trial.
type campaignRow struct {
	trials, committed, delivered, inFlight, lost, inHand, dups, torn, phantom, hangs int
	consumerKills, tasksLeft                                                         int
	detect                                                                           []time.Duration
}

func (a *campaignRow) add(b campaignRow) {
	a.trials += b.trials
	a.committed += b.committed
	a.delivered += b.delivered
	a.inFlight += b.inFlight
	a.lost += b.lost
	a.inHand += b.inHand
	a.dups += b.dups
	a.torn += b.torn
	a.phantom += b.phantom
	a.hangs += b.hangs
	a.consumerKills += b.consumerKills
	a.tasksLeft += b.tasksLeft
	a.detect = append(a.detect, b.detect...)
}

// latency summarises the detection latencies: median, 99th percentile
// and maximum.
func (a *campaignRow) latency() string {
	if len(a.detect) == 0 {
		return "-"
	}
	d := slices.Clone(a.detect)
	slices.Sort(d)
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))].Round(time.Millisecond) }
	return fmt.Sprintf("%v/%v/%v", q(0.5), q(0.99), d[len(d)-1].Round(time.Millisecond))
}

// TestKillLoop runs the kill -9 campaign (see above), once with Go
// victims and once with C victims: every producer of a trial is of that
// kind; consumers are of either kind, at random (a Queue's are Go: the C
// header has no task counter).
func TestKillLoop(t *testing.T) {
	trials := 30
	if raceEnabled || testing.Short() {
		trials = 12
	}
	if *killRounds > 0 {
		trials = *killRounds
	}
	var mu sync.Mutex
	rows := map[string]*campaignRow{}
	var order []string
	var cbin string
	forEachPeer(t, func(t *testing.T, pk peerKind) {
		if pk.name == "c" {
			cbin = pk.cbin
		}
		kinds := []string{"spsc", "mpmc", "queue"}
		if pk.name == "c" {
			kinds = kinds[:2]
		}
		var jobs []string
		for i := 0; i < (trials+1)/2; i++ {
			jobs = append(jobs, kinds[i%len(kinds)])
		}
		seed := uint64(time.Now().UnixNano())
		t.Logf("seed %d", seed)
		work := make(chan int)
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					rng := rand.New(rand.NewPCG(seed, uint64(i)))
					row, problems := killTrial(t, pk, cbin, jobs[i], rng, uint64(i))
					for _, p := range problems {
						t.Errorf("%s trial %d (seed %d): %s", jobs[i], i, seed, p)
					}
					key := pk.name + " " + jobs[i]
					mu.Lock()
					if rows[key] == nil {
						rows[key] = &campaignRow{}
						order = append(order, key)
					}
					rows[key].add(row)
					mu.Unlock()
				}
			}()
		}
		for i := range jobs {
			work <- i
		}
		close(work)
		wg.Wait()
	})
	sort.Strings(order)
	var b strings.Builder
	var total campaignRow
	fmt.Fprintf(&b, "kill -9 campaign (detection latency: median/p99/max from a producer's kill to a survivor's ErrPeerDead):\n")
	fmt.Fprintf(&b, "%-11s %6s %9s %9s %6s %5s %7s %5s %5s %7s %5s %8s %10s %s\n", "victims", "trials", "committed", "delivered",
		"flight", "lost", "in-hand", "dups", "torn", "phantom", "hangs", "c-kills", "tasks-left", "detection")
	line := func(name string, r *campaignRow) {
		fmt.Fprintf(&b, "%-11s %6d %9d %9d %6d %5d %7d %5d %5d %7d %5d %8d %10d %s\n", name, r.trials, r.committed, r.delivered,
			r.inFlight, r.lost, r.inHand, r.dups, r.torn, r.phantom, r.hangs, r.consumerKills, r.tasksLeft, r.latency())
	}
	for _, k := range order {
		line(k, rows[k])
		total.add(*rows[k])
	}
	line("total", &total)
	t.Log(b.String())
}

// campaignProc is a child of a trial whose stdout is a stream of 8-byte
// values.
type campaignProc struct {
	cmd    *exec.Cmd
	vals   []uint64
	marked time.Time // first markPeerDead
	torn   int
	killed bool
	done   chan struct{} // output read to its end
}

func startCampaignProc(cmd *exec.Cmd, f *os.File, mu *sync.Mutex, first chan<- struct{}) (*campaignProc, error) {
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &campaignProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		br := bufio.NewReader(out)
		var b [8]byte
		for {
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return
			}
			v := binary.LittleEndian.Uint64(b[:])
			mu.Lock()
			switch v {
			case markPeerDead:
				if p.marked.IsZero() {
					p.marked = time.Now()
				}
			case markTorn:
				p.torn++
			default:
				p.vals = append(p.vals, v)
				if first != nil && len(p.vals) == 1 {
					close(first)
				}
			}
			mu.Unlock()
		}
	}()
	return p, nil
}

func (p *campaignProc) kill() {
	p.killed = true
	p.cmd.Process.Kill()
	<-p.done
	p.cmd.Wait()
}

// killTrial runs one trial; see the comment at the top of this file.
func killTrial(t *testing.T, pk peerKind, cbin, kind string, rng *rand.Rand, id uint64) (row campaignRow, problems []string) {
	row.trials = 1
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	var cfg Config
	nCons := 2
	switch kind {
	case "spsc":
		cfg, nCons = Config{Kind: KindSPSC, Capacity: 1024}, 1
	case "mpmc":
		cfg = Config{Kind: KindMPMC, Capacity: 16, CellSize: 64}
	case "queue":
		cfg = QueueConfig(8, 64)
	}
	r, err := New(cfg)
	if err != nil {
		return row, []string{err.Error()}
	}
	defer r.Close()
	var mu sync.Mutex
	var cons []*campaignProc
	startConsumer := func() {
		var cmd *exec.Cmd
		switch {
		case kind == "queue":
			cmd = testenv.Child(t, "qdrain")
		case rng.IntN(2) == 0 && cbin != "":
			cmd = peerKind{name: "c", cbin: cbin}.raw(t, "drain", "marker")
		default:
			cmd = goPeer.raw(t, "drain", "marker")
		}
		c, err := startCampaignProc(cmd, r.File(), &mu, nil)
		if err != nil {
			bad("consumer: %v", err)
			return
		}
		cons = append(cons, c)
	}
	for i := 0; i < nCons; i++ {
		startConsumer()
	}
	defer func() {
		for _, c := range cons {
			if !c.killed {
				c.kill()
			}
		}
	}()
	var pcmd *exec.Cmd
	seed := strconv.FormatUint(rng.Uint64()>>1, 10)
	if kind == "queue" {
		pcmd = testenv.Child(t, "qproduce", "64", seed, strconv.FormatUint(id, 10))
	} else {
		pcmd = pk.raw(t, "produce", "0", "64", seed, strconv.FormatUint(id, 10))
	}
	first := make(chan struct{})
	prod, err := startCampaignProc(pcmd, r.File(), &mu, first)
	if err != nil {
		return row, append(problems, err.Error())
	}
	select {
	case <-first:
	case <-prod.done:
	case <-time.After(guard):
	}
	time.Sleep(time.Duration(1+rng.IntN(40)) * time.Millisecond)
	if rng.IntN(2) == 1 {
		cons[rng.IntN(len(cons))].kill()
		row.consumerKills++
		startConsumer()
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
	}
	killedAt := time.Now()
	prod.kill()
	// Detection: a survivor delivers what the producer committed, repairs
	// what it left, and reports that every producer is dead.
	detected := time.Time{}
	for deadline := time.Now().Add(guard); detected.IsZero() && time.Now().Before(deadline); {
		mu.Lock()
		for _, c := range cons {
			if !c.killed && !c.marked.IsZero() && (detected.IsZero() || c.marked.Before(detected)) {
				detected = c.marked
			}
		}
		mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	if detected.IsZero() {
		row.hangs++
		bad("no consumer reported the producer's death within %v", guard)
	} else {
		row.detect = append(row.detect, detected.Sub(killedAt))
	}
	// Close; every consumer must reach EOF.
	if kind == "queue" {
		r2, err := FromFile(r.File())
		if err == nil {
			q, _ := QueueFromRing(r2)
			err = errors.Join(q.Shutdown(), q.Close())
		}
		if err != nil {
			bad("close: %v", err)
		}
	} else if p, err := r.Producer(); err != nil {
		bad("close: producer: %v", err)
	} else {
		p.Close()
	}
	for _, c := range cons {
		if c.killed {
			continue
		}
		select {
		case <-c.done:
			if err := c.cmd.Wait(); err != nil {
				bad("consumer: %v", err)
			}
			c.killed = true // reaped
		case <-time.After(guard):
			row.hangs++
			bad("a consumer did not reach EOF within %v of Close", guard)
		}
	}
	// Accounting.
	mu.Lock()
	defer mu.Unlock()
	n := uint64(len(prod.vals)) // seqs 0 … n-1 reported committed
	row.committed = int(n)
	count := map[uint64]int{}
	byKilled := map[uint64]int{}
	killedCons := 0
	for _, c := range cons {
		row.torn += c.torn
		if c.cmd.ProcessState != nil && !c.cmd.ProcessState.Exited() {
			killedCons++ // killed, not exited
		}
		for _, v := range c.vals {
			count[v]++
			if c.cmd.ProcessState != nil && !c.cmd.ProcessState.Exited() {
				byKilled[v]++
			}
		}
	}
	row.delivered = len(count)
	for v, c := range count {
		if v>>32 != id {
			row.phantom++
			bad("message %#x from another producer", v)
			continue
		}
		i := v & 0xffffffff
		switch {
		case i > n:
			row.phantom++
			bad("message %d delivered, but only %d were committed", i, n)
		case i == n:
			row.inFlight++
		}
		if c > 1 {
			row.dups += c - 1
			if byKilled[v] < c-1 {
				bad("message %d delivered %d times, %d of them to consumers that were killed", i, c, byKilled[v])
			}
		}
	}
	for i := uint64(0); i < n; i++ {
		if count[id<<32|i] == 0 {
			if kind == "queue" {
				row.inHand++ // a consumer killed between Get and its report
			} else {
				row.lost++
			}
		}
	}
	if row.inHand > row.consumerKills {
		row.lost += row.inHand - row.consumerKills
		row.inHand = row.consumerKills
	}
	if row.lost > 0 {
		bad("%d committed messages never delivered", row.lost)
	}
	if row.torn > 0 {
		bad("%d torn messages", row.torn)
	}
	if kind == "queue" {
		st, _ := r.Stats()
		row.tasksLeft = int(st.Unfinished)
		// A consumer killed between Get and TaskDone leaves its task; a
		// producer killed between counting and committing leaves one.
		if row.tasksLeft > row.consumerKills+1 {
			bad("%d tasks left with %d consumers killed", row.tasksLeft, row.consumerKills)
		}
	}
	return row, problems
}
