package mmapring

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipckit/ipckit/internal/testenv"
)

// The kill-point campaign: crash-consistency testing of the protocol, the
// way CrashMonkey and ALICE test file systems. Random kills (TestKillLoop)
// rarely land between two particular stores; here every store is a kill
// point. A victim process, built with the mmapring_killpoints tag (Go,
// killpoint_on.go) or -DMMR_KILLPOINTS (C, mmapring.h), runs a small
// scenario and exits at its K-th store to shared memory as SIGKILL would,
// for every K from 1 until the scenario completes without reaching K. After
// each death the test checks the state it left (LAYOUT.md, "Protocol
// invariants"), then runs the documented recovery — reopen, a new producer
// and consumer, the liveness repair, Close, drain to EOF — twice: in this
// test process with the Go package (a fresh mapping) and in a fresh C
// process with mmapring.h (on a copy of the crashed ring; not for Queue
// scenarios, whose task counter the header does not keep). It checks
// every promise:
//
//   - every committed message is delivered, exactly once, except where the
//     package documents otherwise: on SPSC the replacement of a dead
//     consumer may receive again what it had received (at-least-once), on
//     MPMC a message peeked and not released is redelivered, and a consumer
//     killed inside a receive after freeing the message's space takes that
//     one message with it (as one killed just after the call returned);
//   - nothing is delivered that was not sent, and nothing torn;
//   - no call ignores its deadline (each is bounded);
//   - the recovery's Close is followed by EOF;
//   - the ring validates, before and after the recovery.
//
// Natively every kill point of every scenario runs (in about half a
// minute); under -short (the qemu legs) one in seven, unless
// -mmapring.killpoints is given.

var kpAll = flag.Bool("mmapring.killpoints", false, "run every kill point even under -short (the campaign samples one in seven there)")

// kpMsg is message id of the scenarios: "m<id>:" and filler letters,
// 9 + (id*13)%40 bytes in all (tests/c/ring_killpoint.c builds the same).
func kpMsg(id int) []byte {
	n := 9 + (id*13)%40
	b := fmt.Appendf(nil, "m%d:", id)
	for i := len(b); i < n; i++ {
		b = append(b, byte('a'+(id+i)%26))
	}
	return b[:n]
}

// kpParse returns the id of an intact scenario message.
func kpParse(b []byte) (int, bool) {
	if len(b) < 3 || b[0] != 'm' {
		return 0, false
	}
	i := bytes.IndexByte(b, ':')
	if i < 2 {
		return 0, false
	}
	id, err := strconv.Atoi(string(b[1:i]))
	if err != nil || id < 0 || id > 100000 {
		return 0, false
	}
	return id, bytes.Equal(b, kpMsg(id))
}

func kpIntact(m []byte) bool { _, ok := kpParse(m); return ok }

// kpPost is the message the recovery sends.
const kpPost = 999

// kpScenario is one scenario: the ring, what the test puts in it first,
// and the victim's operations (the language of ring_killpoint.c, plus the
// Go-only ones: Q, q+ID (Put), q- (Get), qd (TaskDone), qc (Shutdown and Close), qj (Join) for a Queue, b<i>:ID,ID,... for
// SendBatch, B<i>:N for RecvBatch, w<i> for PrepareWait and FinishWait,
// rc for Ring.Close).
type kpScenario struct {
	name   string
	cfg    Config
	queue  bool  // a Queue: Put/Get/TaskDone accounting
	goOnly bool  // uses operations mmapring.h has no counterpart for
	pre    []int // sent (and detached) by the test before the victim starts
	// dead: operations a C process runs (to the end, not a victim) and
	// then exits without closing anything, before the victim starts: a
	// claim held by a dead process. With repair the test then repairs it,
	// as any peer's liveness check would.
	dead   []string
	repair bool
	// waiters: every eventcount has a registered waiter asking for a
	// wake-up, as waiters that died asleep leave them, so that every
	// notification makes its stores.
	waiters bool
	// setup writes further state before the victim starts.
	setup func(r *Ring)
	ops   []string
}

func spscKP() Config { return Config{Kind: KindSPSC, Capacity: 256} }
func mpmcKP() Config { return Config{Kind: KindMPMC, Capacity: 4, CellSize: 48} }

var kpScenarios = []kpScenario{
	{name: "spsc-send-close", cfg: spscKP(), ops: []string{"P0", "s0:0", "s0:1", "s0:2", "x0"}},
	{name: "spsc-recv", cfg: spscKP(), pre: []int{0, 1, 2, 3}, ops: []string{"C0", "r0", "k0", "l0", "r0", "X0"}},
	{name: "spsc-pair-wrap", cfg: spscKP(), ops: []string{"P0", "C0", "s0:0", "s0:1", "s0:2", "r0", "s0:3", "r0", "s0:4",
		"r0", "s0:5", "r0", "s0:6", "r0", "r0", "s0:7", "r0", "x0", "r0", "X0"}},
	{name: "spsc-reserve", cfg: spscKP(), ops: []string{"P0", "v0:0", "m0", "v0:1", "a0", "s0:2", "d0"}},
	{name: "spsc-close-reserved", cfg: spscKP(), ops: []string{"P0", "s0:0", "v0:1", "x0"}},
	{name: "spsc-wait", cfg: spscKP(), ops: []string{"C0", "R0", "P0", "s0:0", "R0", "R0", "d0", "X0"}},
	{name: "spsc-dead-waiters", cfg: spscKP(), waiters: true, pre: []int{0}, ops: []string{"P0", "C0", "s0:1", "r0",
		"s0:2", "r0", "k0", "l0", "x0", "X0"}},
	{name: "spsc-checksum", cfg: Config{Kind: KindSPSC, Capacity: 256, Checksum: true}, pre: []int{0},
		ops: []string{"P0", "C0", "s0:1", "v0:2", "m0", "r0", "s0:3", "r0", "k0", "l0", "s0:4", "r0", "x0", "r0", "X0"}},
	{name: "spsc-batch", cfg: spscKP(), goOnly: true, pre: []int{0, 1}, ops: []string{"P0", "C0", "b0:2,3,4", "B0:3", "B0:5", "x0", "X0"}},
	{name: "spsc-ring-close-first", cfg: spscKP(), goOnly: true, ops: []string{"P0", "C0", "s0:0", "rc", "x0", "X0"}},

	{name: "mpmc-send-close", cfg: mpmcKP(), ops: []string{"P0", "s0:0", "s0:1", "x0"}},
	{name: "mpmc-recv", cfg: mpmcKP(), pre: []int{0, 1, 2}, ops: []string{"C0", "C1", "r0", "k1", "r0", "l1", "X0", "X1"}},
	{name: "mpmc-close-while-reserved", cfg: mpmcKP(), ops: []string{"P0", "P1", "C0", "v0:0", "s1:1", "x1", "r0",
		"m0", "v1:2", "r0", "v0:3", "a0", "d0", "r0", "X0"}},
	{name: "mpmc-peek-close", cfg: mpmcKP(), pre: []int{0, 1}, ops: []string{"C0", "k0", "X0"}},
	{name: "mpmc-2p2c", cfg: mpmcKP(), ops: []string{"P0", "P1", "C0", "C1", "v0:0", "s1:1", "r1", "m0", "r0", "v1:2",
		"a1", "s0:3", "k1", "r0", "l1", "x1", "r0", "d0", "X0", "X1"}},
	{name: "mpmc-wrap-full", cfg: Config{Kind: KindMPMC, Capacity: 2, CellSize: 48}, ops: []string{"P0", "C0", "s0:0",
		"s0:1", "t0:2", "r0", "s0:2", "r0", "r0", "r0", "x0", "X0"}},
	{name: "mpmc-limit-wait", cfg: Config{Kind: KindMPMC, Capacity: 4, CellSize: 48, Limit: 2}, ops: []string{"P0", "C0",
		"s0:0", "s0:1", "S0:2", "r0", "s0:2", "R0", "R0", "R0", "x0", "X0"}},
	{name: "mpmc-orphan", cfg: mpmcKP(), pre: []int{0, 1}, dead: []string{"C0", "k0"}, repair: true,
		ops: []string{"C0", "r0", "r0", "r0", "X0"}},
	{name: "mpmc-repair-reading", cfg: mpmcKP(), pre: []int{0}, dead: []string{"C0", "k0"},
		ops: []string{"C0", "W0", "r0", "X0"}},
	{name: "mpmc-repair-writing", cfg: mpmcKP(), dead: []string{"P0", "v0:5"},
		ops: []string{"C0", "W0", "P0", "s0:1", "r0", "x0", "r0", "X0"}},
	{name: "mpmc-slot-reuse", cfg: mpmcKP(), pre: []int{0, 1, 2}, setup: kpFullPeerTable,
		ops: []string{"C0", "r0", "r0", "r0", "P0", "s0:3", "x0", "r0", "X0"}},
	{name: "mpmc-dead-waiters", cfg: mpmcKP(), waiters: true, pre: []int{0}, ops: []string{"P0", "C0", "s0:1", "r0",
		"k0", "l0", "v0:2", "a0", "r0", "x0", "r0", "X0"}},
	{name: "mpmc-checksum", cfg: Config{Kind: KindMPMC, Capacity: 4, CellSize: 48, Checksum: true}, pre: []int{0},
		ops: []string{"P0", "C0", "s0:1", "v0:2", "m0", "r0", "k0", "l0", "x0", "r0", "X0"}},
	{name: "mpmc-prepare-wait", cfg: mpmcKP(), goOnly: true, ops: []string{"C0", "w0", "P0", "s0:0", "w0", "r0", "w0",
		"x0", "w0", "X0"}},
	{name: "mpmc-ring-close-first", cfg: mpmcKP(), goOnly: true, ops: []string{"P0", "C0", "s0:0", "k0", "rc", "x0", "X0"}},

	{name: "queue", cfg: QueueConfig(3, 48), queue: true, goOnly: true, ops: []string{"Q", "q+0", "q+1", "q-", "qd",
		"q+2", "q-", "qj", "qd", "q-", "qc"}},
	{name: "queue-dead-waiters", cfg: QueueConfig(2, 48), queue: true, goOnly: true, waiters: true, ops: []string{"Q",
		"q+0", "q+1", "q-", "qd", "q-", "qd", "qc"}},
	{name: "queue-pending-task", cfg: QueueConfig(2, 48), queue: true, goOnly: true, pre: []int{0}, ops: []string{"Q",
		"q-", "q+1", "q+2", "qd", "q-", "exit"}},
}

// kpVictim runs scenarios as a victim process: the Go package built with
// the kill-point tag, or the C program built with -DMMR_KILLPOINTS.
type kpVictim struct {
	name string // "go" or "c"
	bin  string
}

func (v kpVictim) command(t *testing.T, k uint64, ops []string) *exec.Cmd {
	var cmd *exec.Cmd
	if v.name == "go" {
		cmd = testenv.ChildOf(t, v.bin, "kp-victim", ops...)
	} else {
		cmd = testenv.Command(v.bin, append([]string{"victim", "3"}, ops...)...)
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, "MMAPRING_KILLPOINT="+strconv.FormatUint(k, 10))
	return cmd
}

// kpResult is what one victim run left.
type kpResult struct {
	k      uint64   // the kill point (0: none)
	killed bool     // it died at k
	lines  []string // its report
	site   string   // its kill-point line
	stores uint64   // stores made, when it completed
}

func (v kpVictim) run(t *testing.T, f *os.File, k uint64, ops []string) (kpResult, error) {
	cmd := v.command(t, k, ops)
	cmd.ExtraFiles = []*os.File{f}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	res := kpResult{k: k}
	if err := cmd.Start(); err != nil {
		return res, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(guard):
		cmd.Process.Kill()
		<-done
		return res, fmt.Errorf("victim hung for %v: %q", guard, out.String())
	}
	res.lines = strings.Split(strings.TrimSpace(out.String()), "\n")
	for _, l := range strings.Split(errb.String(), "\n") {
		if strings.HasPrefix(l, "mmapring killpoint ") {
			res.site = l
		}
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		last := res.lines[len(res.lines)-1]
		if !strings.HasPrefix(last, "stores ") {
			return res, fmt.Errorf("victim ended without its store count: %q\n%s", res.lines, errb.String())
		}
		res.stores = atoi(strings.TrimPrefix(last, "stores "))
	case errors.As(err, &ee) && ee.ExitCode() == killpointStatus && res.site != "":
		res.killed = true
	default:
		return res, fmt.Errorf("victim: %v: %q\n%s", err, res.lines, errb.String())
	}
	return res, nil
}

func init() {
	testenv.RegisterChild("kp-victim", kpVictimMain)
}

// kpVictimMain is the Go victim: it runs the operations in args on the
// ring at fd 3, reporting as ring_killpoint.c does.
func kpVictimMain(args []string) int {
	say := func(format string, a ...any) {
		os.Stdout.WriteString(fmt.Sprintf(format, a...) + "\n") // unbuffered
	}
	r, err := ringFromFD(3)
	if err != nil {
		say("end attach %s", statusOf(err))
		return 0
	}
	report := func(what string, m []byte) int {
		id, ok := kpParse(m)
		if !ok {
			say("torn %x", m)
			return -1
		}
		say("%s %d", what, id)
		return id
	}
	var ps [2]*Producer
	var cs [2]*Consumer
	var q *Queue
	resv, peek := [2]int{-1, -1}, [2]int{-1, -1}
	buf := make([]byte, 4096)
	var cancels []context.CancelFunc // the victim exits soon: never called
	within := func(d time.Duration) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		cancels = append(cancels, cancel)
		return ctx
	}
	for i, op := range args {
		if op == "exit" {
			break
		}
		var err error
		switch {
		case op == "Q":
			q, err = QueueFromRing(r)
		case op == "rc":
			err = r.Close()
		case strings.HasPrefix(op, "q+"):
			id := int(atoi(op[2:]))
			if err = q.Put(within(50*time.Millisecond), kpMsg(id)); err == nil {
				say("sent %d", id)
			}
		case op == "q-":
			var n int
			if n, err = q.Get(within(50*time.Millisecond), buf); err == nil {
				report("got", buf[:n])
			}
		case op == "qd":
			if err = q.TaskDone(); err == nil {
				say("taskdone")
			}
		case op == "qj":
			err = q.Join(within(20 * time.Millisecond))
		case op == "qc": // shut the queue down for everyone, then close
			err = errors.Join(q.Shutdown(), q.Close())
		default:
			k := int(op[1] - '0')
			arg := ""
			if len(op) > 2 && op[2] == ':' {
				arg = op[3:]
			}
			id := int(atoi(arg))
			p, c := ps[k], cs[k]
			switch op[0] {
			case 'P':
				ps[k], err = r.Producer()
			case 'C':
				cs[k], err = r.Consumer()
			case 's', 'S':
				d := 2 * time.Second
				if op[0] == 'S' {
					d = 50 * time.Millisecond
				}
				if err = p.Send(within(d), kpMsg(id)); err == nil {
					say("sent %d", id)
				}
			case 't':
				if err = p.TrySend(kpMsg(id)); err == nil {
					say("sent %d", id)
				}
			case 'b':
				var msgs [][]byte
				var ids []string
				for _, s := range strings.Split(arg, ",") {
					msgs = append(msgs, kpMsg(int(atoi(s))))
					ids = append(ids, s)
				}
				var n int
				n, err = p.SendBatch(within(2*time.Second), msgs)
				for _, s := range ids[:n] {
					say("sent %s", s)
				}
			case 'v':
				var b []byte
				if b, err = p.Reserve(within(2*time.Second), len(kpMsg(id))); err == nil {
					copy(b, kpMsg(id))
					resv[k] = id
				}
			case 'm':
				if err = p.Commit(len(kpMsg(resv[k]))); err == nil {
					say("sent %d", resv[k])
				}
			case 'a':
				err = p.Abort()
			case 'r', 'R', 'W':
				var n int
				switch op[0] {
				case 'r':
					n, err = c.TryReceive(buf)
				case 'R':
					n, err = c.Receive(within(50*time.Millisecond), buf)
				default: // long enough for one liveness check
					n, err = c.Receive(within(LivenessInterval+LivenessInterval/2), buf)
				}
				if err == nil {
					report("got", buf[:n])
				}
			case 'k', 'K':
				var m []byte
				if op[0] == 'k' {
					m, err = c.TryPeek()
				} else {
					m, err = c.Peek(within(50 * time.Millisecond))
				}
				if err == nil {
					peek[k] = report("peek", m)
				}
			case 'l':
				if err = c.Release(); err == nil {
					say("rel %d", peek[k])
				}
			case 'w': // a single-step wait, as package csp's Select does
				var ready bool
				if _, _, ready, err = c.PrepareWait(); err == nil && !ready {
					c.FinishWait()
				}
			case 'B':
				_, err = c.ReceiveBatch(within(50*time.Millisecond), id, func(m []byte) { report("got", m) })
			case 'x':
				err = p.Close()
			case 'd':
				err = p.Detach()
			case 'X':
				err = c.Close()
			default:
				fmt.Fprintln(os.Stderr, "kp-victim: bad op", op)
				return 2
			}
		}
		if err != nil {
			say("fail %s %s", op, statusOf(err))
		}
		say("done %d", i)
	}
	say("stores %d", killpointStores())
	return 0
}

// kpGoVictim returns the Go victim: this test binary if it was built with
// the mmapring_killpoints tag, or a copy of it built so.
func kpGoVictim(t *testing.T) kpVictim {
	if killpointsBuilt {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		return kpVictim{"go", exe}
	}
	goTool := testenv.Tool(t, "go")
	bin := filepath.Join(t.TempDir(), "mmapring-killpoints.test")
	cmd := exec.Command(goTool, "test", "-c", "-tags", "mmapring_killpoints", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "GOARCH="+runtime.GOARCH, "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the kill-point victim: %v\n%s", err, out)
	}
	return kpVictim{"go", bin}
}

func kpCVictim(t *testing.T) kpVictim {
	return kpVictim{"c", testenv.BuildC(t, "", "ring_killpoint", []string{"ring_killpoint.c"},
		"-DMMR_KILLPOINTS", "-I", filepath.Join(testenv.Root(), "mmapring"))}
}

// kpStats gathers the campaign's figures for the summary.
type kpStats struct {
	mu   sync.Mutex
	rows []string
}

// kpTally counts the documented exceptions a recovery met: messages
// delivered twice (SPSC at-least-once, MPMC peeked and not released) and
// messages gone with a consumer killed after freeing them.
type kpTally struct {
	redelivered, lostInReceive int64
}

// TestKillPoints runs every scenario, as a Go and as a C victim, dying at
// every store in turn; see the comment at the top of this file.
func TestKillPoints(t *testing.T) {
	govic := kpGoVictim(t)
	cvic := kpCVictim(t)
	stats := &kpStats{}
	forEachPeer(t, func(t *testing.T, pk peerKind) {
		vic := govic
		if pk.name == "c" {
			vic = cvic
		}
		for _, sc := range kpScenarios {
			if sc.goOnly && vic.name == "c" {
				continue
			}
			t.Run(sc.name, func(t *testing.T) { kpCampaign(t, vic, cvic, sc, stats) })
		}
	})
	sort.Strings(stats.rows)
	var b strings.Builder
	fmt.Fprintf(&b, "kill points (redelivered: documented duplicates; in-receive: gone with a consumer killed after freeing them; both per recovery):\n%-6s %-26s %7s %5s %9s %12s %11s\n",
		"victim", "scenario", "stores", "runs", "problems", "redelivered", "in-receive")
	for _, r := range stats.rows {
		b.WriteString(r + "\n")
	}
	t.Log(b.String())
}

// kpNewRing makes a scenario's ring with the state it starts from: its
// preliminary messages, the dead process's leftovers, stale waiters and
// any further setup.
func kpNewRing(t *testing.T, sc kpScenario, cvic kpVictim) (*Ring, error) {
	r, err := New(sc.cfg)
	if err != nil {
		return nil, err
	}
	if len(sc.pre) > 0 {
		p, err := r.Producer()
		if err != nil {
			r.Close()
			return nil, err
		}
		p.countTasks = sc.queue
		for _, id := range sc.pre {
			if err := p.Send(context.Background(), kpMsg(id)); err != nil {
				r.Close()
				return nil, err
			}
		}
		p.Detach()
	}
	if len(sc.dead) > 0 {
		res, err := cvic.run(t, r.File(), 0, append(slices.Clone(sc.dead), "exit"))
		if err == nil && slices.ContainsFunc(res.lines, func(l string) bool { return strings.HasPrefix(l, "fail ") }) {
			err = fmt.Errorf("the dead process reported %q", res.lines)
		}
		if err == nil && sc.repair && !r.repairDead() {
			err = errors.New("the dead process left nothing to repair")
		}
		if err != nil {
			r.Close()
			return nil, err
		}
	}
	if sc.waiters {
		for _, epoch := range []uint64{offDataEpoch, offSpaceEpoch, offJoinEpoch} {
			atomic.StoreUint32(waitersOf(r.u32(epoch)), 1)
			atomic.StoreUint32(needOf(r.u32(epoch)), 1)
		}
	}
	if sc.setup != nil {
		sc.setup(r)
	}
	return r, nil
}

// kpFullPeerTable fills every peer slot with a dead process, slot 0 a
// consumer that died holding the message at position 0 (READING) and
// slot 1 a producer that died holding position 3 (WRITING), so that
// registering must repair a dead slot's cells and reuse it. The ring
// holds messages at positions 0, 1 and 2.
func kpFullPeerTable(r *Ring) {
	for s := 0; s < peerSlots; s++ {
		atomic.StoreUint64(r.peerIdent(s), deadIdent()+uint64(s))
		role := uint32(roleConsumer)
		if s == 1 {
			role = roleProducer
		}
		atomic.StoreUint32(r.peerRole(s), role)
	}
	atomic.StoreUint64(r.cellState(0), 0<<8|stReading|0)
	atomic.StoreUint64(r.cellState(3), 3<<8|stWriting|1)
	setPositions(r, 4, 1)
}

// kpCampaign runs one scenario with one victim at every kill point.
func kpCampaign(t *testing.T, vic, cvic kpVictim, sc kpScenario, stats *kpStats) {
	// The reference run: no kill; how many stores the scenario makes.
	r, err := kpNewRing(t, sc, cvic)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := vic.run(t, r.File(), 0, sc.ops)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ref.lines {
		if strings.HasPrefix(l, "fail ") && strings.HasSuffix(l, " corrupt") || strings.HasPrefix(l, "torn ") {
			t.Fatalf("the scenario fails without any kill: %q", ref.lines)
		}
	}
	n := ref.stores
	if n == 0 {
		t.Fatalf("the scenario made no store: %q", ref.lines)
	}
	ks := make([]uint64, 0, n+1)
	for k := uint64(1); k <= n+1; k++ { // n+1: completes without reaching it
		if testing.Short() && !*kpAll && k%7 != 1 && k != n && k != n+1 {
			continue
		}
		ks = append(ks, k)
	}
	var problems, runs, redelivered, lostInReceive atomic.Int64
	work := make(chan uint64)
	var wg sync.WaitGroup
	workers := 2*runtime.NumCPU() + 2
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				probs, tally := kpOne(t, vic, cvic, sc, k, n)
				redelivered.Add(tally.redelivered)
				lostInReceive.Add(tally.lostInReceive)
				for _, p := range probs {
					problems.Add(1)
					t.Errorf("kill point %d of %d: %s", k, n, p)
				}
				runs.Add(1)
			}
		}()
	}
	for _, k := range ks {
		if problems.Load() > 20 {
			break
		}
		work <- k
	}
	close(work)
	wg.Wait()
	stats.mu.Lock()
	stats.rows = append(stats.rows, fmt.Sprintf("%-6s %-26s %7d %5d %9d %12d %11d", vic.name, sc.name, n, runs.Load(),
		problems.Load(), redelivered.Load(), lostInReceive.Load()))
	stats.mu.Unlock()
	t.Logf("%d stores, %d kill points run, %d problems", n, runs.Load(), problems.Load())
}

// kpOne runs the victim to kill point k and checks what follows; it
// returns the problems found.
func kpOne(t *testing.T, vic, cvic kpVictim, sc kpScenario, k, n uint64) (problems []string, tally kpTally) {
	r, err := kpNewRing(t, sc, cvic)
	if err != nil {
		return []string{err.Error()}, tally
	}
	defer r.Close()
	res, err := vic.run(t, r.File(), k, sc.ops)
	if err != nil {
		return []string{err.Error()}, tally
	}
	if !res.killed && k <= n {
		// The store count differs from the reference run (a timing
		// dependence in the scenario): the run is still checked.
		t.Logf("kill point %d: the victim completed after %d stores (reference %d)", k, res.stores, n)
	}
	if res.killed && k > n {
		return []string{fmt.Sprintf("the victim made more stores than the reference run's %d: %s", n, res.site)}, tally
	}
	fail := func(format string, a ...any) {
		problems = append(problems, fmt.Sprintf(format, a...)+kpContext(res))
	}
	for _, p := range kpInvariants(r.mem, r) {
		fail("after the kill: %s", p)
	}
	closed := atomic.LoadUint32(r.u32(offClosed)) != 0
	// Recover a copy with mmapring.h, then the ring itself with Go.
	if !sc.queue {
		cp := memfdWith(t, r.mem, len(r.mem))
		out, perr := kpRecoverC(t, cvic, cp)
		if perr != nil {
			fail("C recovery: %v", perr)
		} else {
			cr, err := FromFile(cp)
			if err != nil {
				fail("C recovery left a ring that does not open: %v", err)
			} else {
				for _, p := range kpAfter(cr) {
					fail("after the C recovery: %s", p)
				}
				cr.Close()
			}
			for _, p := range kpAccount(sc, res, out, closed, &tally) {
				fail("C recovery: %s", p)
			}
		}
		cp.Close()
	}
	out := kpRecoverGo(sc, r.File())
	for _, p := range kpAfter(r) {
		fail("after the Go recovery: %s", p)
	}
	for _, p := range kpAccount(sc, res, out, closed, &tally) {
		fail("Go recovery: %s", p)
	}
	return problems, tally
}

func kpContext(res kpResult) string {
	site := res.site
	if site == "" {
		site = "completed"
	}
	return fmt.Sprintf("\n\t%s\n\tvictim reported %q", site, res.lines)
}

// kpOutcome is what a recovery saw.
type kpOutcome struct {
	got        []int
	torn       []string
	sent       bool   // the post-crash message was sent
	sendStatus string // "ok", or why not
	end        string // how the final drain ended: "eof" expected
	problems   []string
	unfinished uint64 // Queue: tasks left after the recovery's TaskDones
	joinErr    string // Queue: Join with a short deadline
}

// kpRecoverC runs ring_killpoint's recovery on f.
func kpRecoverC(t *testing.T, cvic kpVictim, f *os.File) (kpOutcome, error) {
	var out kpOutcome
	cmd := testenv.Command(cvic.bin, "recover", "3", strconv.Itoa(kpPost), "5000")
	cmd.Env = os.Environ()
	cmd.ExtraFiles = []*os.File{f}
	var so bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, os.Stderr
	if err := cmd.Start(); err != nil {
		return out, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return out, fmt.Errorf("%v: %q", err, so.String())
		}
	case <-time.After(guard):
		cmd.Process.Kill()
		<-done
		return out, fmt.Errorf("hung (a wait ignored its deadline): %q", so.String())
	}
	out.sendStatus = "ok"
	for _, l := range strings.Split(strings.TrimSpace(so.String()), "\n") {
		w := strings.Fields(l)
		switch {
		case len(w) == 2 && w[0] == "got":
			out.got = append(out.got, int(atoi(w[1])))
		case len(w) == 2 && w[0] == "torn":
			out.torn = append(out.torn, w[1])
		case len(w) == 2 && w[0] == "sent":
			out.sent = true
		case len(w) >= 3 && w[0] == "fail" && w[1] == "send":
			out.sendStatus = strings.Join(w[2:], " ")
		case len(w) >= 2 && w[0] == "end":
			out.end = strings.Join(w[1:], " ")
		default:
			return out, fmt.Errorf("unexpected output %q", l)
		}
	}
	return out, nil
}

// kpCall runs a blocking call with deadline d and reports whether it
// returned in time (d plus a generous slack for a loaded machine).
func kpCall(d time.Duration, fn func(ctx context.Context) error) (late bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	err = fn(ctx)
	return time.Since(start) > d+5*time.Second, err
}

// kpRecoverGo is the documented recovery, by this process, on a fresh
// mapping of f: first a consumer with a short deadline (no call may
// ignore it, however the victim left the ring), then a producer sends the
// post-crash message and closes, and the consumer drains to EOF.
func kpRecoverGo(sc kpScenario, f *os.File) (out kpOutcome) {
	fail := func(format string, a ...any) { out.problems = append(out.problems, fmt.Sprintf(format, a...)) }
	take := func(m []byte) {
		if id, ok := kpParse(m); ok {
			out.got = append(out.got, id)
		} else {
			out.torn = append(out.torn, fmt.Sprintf("%x", m))
		}
	}
	buf := make([]byte, 4096)
	if sc.queue {
		return kpRecoverQueue(f, &out, fail, take, buf)
	}
	r, err := FromFile(f)
	if err != nil {
		fail("reopen: %v", err)
		return out
	}
	defer r.Close()
	c, err := r.Consumer()
	if err != nil {
		fail("new consumer: %v", err)
		return out
	}
	defer c.Close()
	for i := 0; ; i++ {
		var n int
		late, err := kpCall(30*time.Millisecond, func(ctx context.Context) (err error) { n, err = c.Receive(ctx, buf); return })
		if late {
			fail("Receive ignored its 30 ms deadline (%v)", err)
		}
		if err != nil {
			if err != io.EOF && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrPeerDead) {
				fail("Receive before recovery: %v", err)
			}
			break
		}
		take(buf[:n])
		if i > 100 {
			fail("Receive before recovery: endless messages")
			return out
		}
	}
	p, err := r.Producer()
	if err != nil {
		fail("new producer: %v", err)
		return out
	}
	for i := 0; ; i++ {
		err = p.TrySend(kpMsg(kpPost))
		if err != ErrFull || i > 100 {
			break
		}
		var n int
		late, err := kpCall(5*time.Second, func(ctx context.Context) (err error) { n, err = c.Receive(ctx, buf); return })
		if late {
			fail("Receive ignored its deadline (%v)", err)
		}
		if err != nil {
			fail("Receive to make room: %v", err)
			break
		}
		take(buf[:n])
	}
	out.sendStatus = statusOf(err)
	out.sent = err == nil
	if err := p.Close(); err != nil {
		fail("producer Close: %v", err)
	}
	for i := 0; ; i++ {
		var n int
		late, err := kpCall(5*time.Second, func(ctx context.Context) (err error) { n, err = c.Receive(ctx, buf); return })
		if late {
			fail("Receive ignored its deadline (%v)", err)
		}
		if err != nil {
			out.end = statusOf(err)
			break
		}
		take(buf[:n])
		if i > 100 {
			fail("endless messages")
			break
		}
	}
	return out
}

// kpRecoverQueue is kpRecoverGo for a Queue: every message got is marked
// done, and Join (with a short deadline) tells whether tasks are left.
func kpRecoverQueue(f *os.File, out *kpOutcome, fail func(string, ...any), take func([]byte), buf []byte) kpOutcome {
	open := func() *Queue {
		r, err := FromFile(f)
		if err != nil {
			fail("reopen: %v", err)
			return nil
		}
		q, _ := QueueFromRing(r)
		return q
	}
	qc, qp := open(), open()
	if qc == nil || qp == nil {
		return *out
	}
	defer qc.Close()
	defer qp.Close()
	get := func(d time.Duration) error {
		var n int
		late, err := kpCall(d, func(ctx context.Context) (err error) { n, err = qc.Get(ctx, buf); return })
		if late {
			fail("Get ignored its deadline (%v)", err)
		}
		if err == nil {
			take(buf[:n])
			if terr := qc.TaskDone(); terr != nil {
				fail("TaskDone: %v", terr)
			}
		}
		return err
	}
	for i := 0; ; i++ {
		err := get(30 * time.Millisecond)
		if err != nil {
			if err != io.EOF && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrPeerDead) {
				fail("Get before recovery: %v", err)
			}
			break
		}
		if i > 100 {
			fail("endless messages")
			return *out
		}
	}
	var err error
	for i := 0; ; i++ {
		var late bool
		late, err = kpCall(20*time.Millisecond, func(ctx context.Context) error { return qp.Put(ctx, kpMsg(kpPost)) })
		if late {
			fail("Put ignored its deadline (%v)", err)
		}
		if !errors.Is(err, context.DeadlineExceeded) || i > 100 {
			break
		}
		if gerr := get(5 * time.Second); gerr != nil {
			fail("Get to make room: %v", gerr)
			break
		}
	}
	out.sendStatus = statusOf(err)
	out.sent = err == nil
	if err := errors.Join(qp.Shutdown(), qp.Close()); err != nil {
		fail("Shutdown and Close: %v", err)
	}
	for i := 0; ; i++ {
		err := get(5 * time.Second)
		if err != nil {
			out.end = statusOf(err)
			break
		}
		if i > 100 {
			fail("endless messages")
			break
		}
	}
	out.unfinished, _ = qc.Unfinished()
	late, err := kpCall(50*time.Millisecond, func(ctx context.Context) error { return qc.Join(ctx) })
	if late {
		fail("Join ignored its deadline")
	}
	out.joinErr = statusOf(err)
	return *out
}

// kpInvariants checks the protocol invariants of LAYOUT.md on the state a
// victim left (r is a live mapping of it; mem its bytes).
func kpInvariants(mem []byte, r *Ring) (problems []string) {
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	if _, err := validateHeader(mem[:headerSize], int64(len(mem))); err != nil {
		bad("the header does not validate: %v", err)
		return
	}
	prod := atomic.LoadUint64(r.u64(offProdPos))
	cons := atomic.LoadUint64(r.u64(offConsPos))
	if cons > prod {
		bad("cons_pos %d is ahead of prod_pos %d (invariant 1)", cons, prod)
		return
	}
	if c := atomic.LoadUint32(r.u32(offClosed)); c > 1 {
		bad("closed word %d", c)
	}
	if r.kind == KindSPSC {
		if prod-cons > r.capacity || prod%8 != 0 || cons%8 != 0 {
			bad("SPSC positions %d..%d", cons, prod)
			return
		}
		// Every published byte is a well-formed record holding an intact
		// message: nothing is published before it is written.
		for pos := cons; pos < prod; {
			idx := pos & r.mask
			hoff := headerSize + idx
			l := uint64(*r.u32(hoff))
			typ := *r.u32(hoff + 4)
			switch {
			case typ == recPadding && l == r.capacity-idx-recHeader && prod-pos >= r.capacity-idx:
				pos += r.capacity - idx
				continue
			case typ == recMessage && l <= r.maxMsg && r.recHdr+align8(l) <= prod-pos && idx+r.recHdr+align8(l) <= r.capacity:
				m := r.mem[hoff+r.recHdr : hoff+r.recHdr+l]
				if _, ok := kpParse(m); !ok {
					bad("published record at %d holds a torn message %q", pos, m)
				} else if r.checksum && *r.u32(hoff + 8) != sum(m) {
					bad("published record at %d has a wrong checksum", pos)
				}
				pos += r.recHdr + align8(l)
				continue
			}
			bad("published bytes at %d are no record (length %d, type %d)", pos, l, typ)
			return
		}
		return
	}
	if prod-cons > r.capacity+1 {
		bad("MPMC prod_pos %d is %d ahead of cons_pos %d", prod, prod-cons, cons)
	}
	orphanCells := uint32(0)
	for i := uint64(0); i < r.capacity; i++ {
		st := atomic.LoadUint64(r.cellState(i))
		sp, code := st>>8, st&0xff
		if sp&r.mask != i {
			bad("cell %d holds position %d of another cell (invariant 2)", i, sp)
			continue
		}
		if sp+r.capacity < cons || sp > prod+r.capacity {
			bad("cell %d at position %d, outside [cons %d - capacity, prod %d + capacity] (invariant 2)", i, sp, cons, prod)
		}
		switch {
		case code == stEmpty, code == stSkipped:
		case code == stFull, code == stOrphan:
			off := headerSize + i*r.cellSize
			l := uint64(*r.u32(off + 8))
			if l > r.maxMsg {
				bad("committed cell %d has length %d", i, l)
			} else if m := r.mem[off+cellHeader : off+cellHeader+l]; !kpIntact(m) {
				bad("committed cell %d (state %#x) holds a torn message %q", i, st, m)
			} else if r.checksum && *r.u32(off + 12) != sum(m) {
				bad("committed cell %d has a wrong checksum", i)
			}
			if code == stOrphan {
				orphanCells++
			}
		case claimed(st):
			s := int(st & stSlotMask)
			if atomic.LoadUint64(r.peerIdent(s)) == 0 {
				bad("cell %d (state %#x) is claimed by slot %d, which is free (invariant 3)", i, st, s)
			}
		default:
			bad("cell %d has state %#x", i, st)
		}
	}
	if o := atomic.LoadUint32(r.u32(offOrphans)); o < orphanCells {
		bad("orphans counter %d below the %d ORPHAN cells (invariant 5)", o, orphanCells)
	}
	return problems
}

// kpAfter checks the state a recovery left: drained, closed, no claim.
func kpAfter(r *Ring) []string {
	problems := kpInvariants(r.mem, r)
	prod := atomic.LoadUint64(r.u64(offProdPos))
	cons := atomic.LoadUint64(r.u64(offConsPos))
	if prod != cons {
		problems = append(problems, fmt.Sprintf("not drained: prod_pos %d, cons_pos %d", prod, cons))
	}
	if atomic.LoadUint32(r.u32(offClosed)) != 1 {
		problems = append(problems, "not closed")
	}
	if r.kind == KindMPMC {
		for i := uint64(0); i < r.capacity; i++ {
			if st := atomic.LoadUint64(r.cellState(i)); st&0xff != stEmpty && st&0xff != stSkipped {
				problems = append(problems, fmt.Sprintf("cell %d left in state %#x", i, st))
			}
		}
	}
	return problems
}

// kpPostRelease reports whether the victim died inside a receive after
// freeing the message's space: in the wake-up that follows the release
// (MPMC) or the publication of the consumer's position (SPSC). That
// message is gone with the consumer, as if it had died right after the
// call returned.
func kpPostRelease(site string) bool {
	if site == "" {
		return false
	}
	if !kpWaking(site) {
		return false
	}
	for _, n := range kpFrames(site)[1:] {
		switch n {
		case "(*Consumer).release", "(*Consumer).spscPublishHead", "(*Consumer).mpmcRecvFast", "mmr_release", "mmr__spsc_publish_head":
			return true
		}
	}
	return false
}

// kpWaking reports whether the victim died in a wake-up (the eventcount's
// notify, its slow half wakeWaiter, or bump), which follows the store it
// announces.
func kpWaking(site string) bool {
	first := kpFrames(site)[0]
	return first == "(*counters).notify" || first == "(*counters).wakeWaiter" || first == "bump" || first == "mmr_notify" || first == "mmr__bump"
}

// kpFrames returns the function names of a kill-point line: the store
// helper's caller first.
func kpFrames(site string) []string {
	_, rest, _ := strings.Cut(site, ": ")
	_, frames, _ := strings.Cut(rest, " in ")
	names := strings.Split(frames, " < ")
	for i, n := range names {
		if j := strings.IndexByte(n, ' '); j >= 0 {
			names[i] = n[:j] // drop "(file:line)"
		}
	}
	return names
}

// kpCommitWindow reports whether a Queue producer died between counting
// its task and committing the message (documented: one task is left
// counted with no message).
func kpCommitWindow(site string) bool {
	return strings.Contains(site, ": cas64 in (*Producer).mpmcCommit")
}

// kpAccount checks the delivery promises over the victim's report and a
// recovery's outcome.
func kpAccount(sc kpScenario, res kpResult, out kpOutcome, closedAtCrash bool, tally *kpTally) (problems []string) {
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	problems = append(problems, out.problems...)
	attempted := map[int]bool{kpPost: true}
	committed := map[int]bool{}
	for _, id := range sc.pre {
		attempted[id], committed[id] = true, true
	}
	for _, op := range sc.ops {
		var ids string
		switch {
		case strings.HasPrefix(op, "q+"):
			ids = op[2:]
		case len(op) > 3 && op[2] == ':' && strings.ContainsRune("stSvb", rune(op[0])):
			ids = op[3:]
		}
		for _, s := range strings.Split(ids, ",") {
			if s != "" {
				attempted[int(atoi(s))] = true
			}
		}
	}
	count := map[int]int{}
	var victimGot, victimPeek []int
	released := map[int]bool{}
	done, taskDone := 0, 0
	for _, l := range res.lines {
		w := strings.Fields(l)
		if len(w) == 0 {
			continue
		}
		switch w[0] {
		case "sent":
			committed[int(atoi(w[1]))] = true
		case "got":
			id := int(atoi(w[1]))
			count[id]++
			victimGot = append(victimGot, id)
		case "peek":
			id := int(atoi(w[1]))
			count[id]++
			victimPeek = append(victimPeek, id)
		case "rel":
			released[int(atoi(w[1]))] = true
		case "torn":
			bad("the victim received a torn message %s", w[1])
		case "fail":
			if w[len(w)-1] == "corrupt" || w[len(w)-1] == "busy" {
				bad("the victim's %s failed: %s", w[1], w[len(w)-1])
			}
		case "done":
			done++
		case "taskdone":
			taskDone++
		}
	}
	if out.sent {
		committed[kpPost] = true
	}
	for _, id := range out.got {
		count[id]++
	}
	for _, s := range out.torn {
		bad("the recovery received a torn message %s", s)
	}
	// The victim's receiving operation in progress, if it was killed.
	inReceive := false
	if res.killed && done < len(sc.ops) {
		op := sc.ops[done]
		inReceive = op == "q-" || strings.ContainsRune("rRWkKB", rune(op[0]))
	}
	lossOK := 0
	if inReceive && kpPostRelease(res.site) {
		lossOK = 1
	}
	dupOK := map[int]bool{}
	if sc.cfg.Kind == KindSPSC || sc.cfg.Kind == 0 {
		for _, id := range append(victimGot, victimPeek...) {
			dupOK[id] = true // at-least-once across an SPSC consumer's death
		}
	} else {
		for _, id := range victimPeek {
			if !released[id] {
				dupOK[id] = true // peeked, never released: redelivered
			}
		}
	}
	var lost []int
	for id := range committed {
		if count[id] == 0 {
			lost = append(lost, id)
		}
	}
	sort.Ints(lost)
	if len(lost) > lossOK {
		bad("committed messages never delivered: %v", lost)
	}
	tally.lostInReceive += int64(len(lost))
	ids := make([]int, 0, len(count))
	for id := range count {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		c := count[id]
		switch {
		case !attempted[id]:
			bad("message %d delivered but never sent", id)
		case c > 2 || c == 2 && !dupOK[id]:
			bad("message %d delivered %d times", id, c)
		case c == 2:
			tally.redelivered++
		}
	}
	if sc.cfg.Kind != KindMPMC {
		for i := 1; i < len(out.got); i++ {
			if out.got[i] <= out.got[i-1] {
				bad("SPSC recovery received out of order: %v", out.got)
				break
			}
		}
	}
	if out.end != "eof" {
		bad("the recovery's drain ended with %q, not EOF after Close", out.end)
	}
	switch {
	case closedAtCrash && out.sent:
		bad("a send on a closed ring succeeded")
	case !closedAtCrash && !out.sent:
		bad("the recovery could not send: %s", out.sendStatus)
	}
	if sc.queue {
		// Tasks left: messages the victim got and did not mark done,
		// plus one if it died between counting a Put's task and
		// committing it, or (possibly) inside Get after freeing the cell.
		want := uint64(len(victimGot) - taskDone)
		extra := uint64(lossOK)
		if kpCommitWindow(res.site) {
			extra = 1
		}
		if inTaskDone := res.killed && done < len(sc.ops) && sc.ops[done] == "qd"; inTaskDone && kpWaking(res.site) {
			want-- // killed waking Join after its count took effect
		}
		if out.unfinished < want || out.unfinished > want+extra {
			bad("%d tasks unfinished after the recovery, want %d (+%d)", out.unfinished, want, extra)
		}
		if (out.unfinished == 0) != (out.joinErr == "ok") {
			bad("Join with %d tasks unfinished: %s", out.unfinished, out.joinErr)
		}
	}
	return problems
}
