package shmheap

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ipckit/ipckit/internal/testenv"
)

// Children re-execute the test binary and open the heap from descriptor 3.
func init() {
	testenv.RegisterChild("shmheap-adder", adderChild)
	testenv.RegisterChild("shmheap-crashat", crashAtChild)
	testenv.RegisterChild("shmheap-campaign", campaignChild)
}

func childHeap() *Heap {
	h, err := FromFile(os.NewFile(3, "heap"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: FromFile:", err)
		os.Exit(2)
	}
	return h
}

func fail(format string, args ...any) int {
	if os.Getenv("SHMHEAP_SMALL") != "" && len(args) > 0 {
		if err, ok := args[len(args)-1].(error); ok && errors.Is(err, ErrNoSpace) {
			select {} // wait to be killed
		}
	}
	fmt.Fprintf(os.Stderr, "child: "+format+"\n", args...)
	return 1
}

// startChild starts a child with the heap's descriptor as fd 3.
func startChild(t testing.TB, h *Heap, name string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := testenv.Child(t, name, args...)
	cmd.ExtraFiles = []*os.File{h.File()}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	return cmd, &stderr
}

const adderOps = 2000

func adderChild(args []string) int {
	id, _ := strconv.Atoi(args[0])
	h := childHeap()
	v, err := OpenValue[int64](h, "counter")
	if err != nil {
		return fail("%v", err)
	}
	a, _ := v.Int64("")
	st, err := OpenValue[[2]int64](h, "pair")
	if err != nil {
		return fail("%v", err)
	}
	vec, err := OpenVector[int64](h, "list")
	if err != nil {
		return fail("%v", err)
	}
	m, err := OpenMap[int64, int64](h, "map")
	if err != nil {
		return fail("%v", err)
	}
	ns, err := OpenNamespace(h, "ns", nil)
	if err != nil {
		return fail("%v", err)
	}
	for i := 0; i < adderOps; i++ {
		if err := st.Update(func(p *[2]int64) { p[0]++; p[1] += 2 }); err != nil {
			return fail("Update: %v", err)
		}
		if _, err := a.Add(1); err != nil {
			return fail("Add: %v", err)
		}
		if err := vec.Append(int64(id)<<32 | int64(i)); err != nil {
			return fail("Append: %v", err)
		}
		if err := m.Put(int64(id*adderOps+i), int64(i)); err != nil {
			return fail("Put: %v", err)
		}
		if i%10 == 0 {
			if err := ns.Set(fmt.Sprint("w", id), i); err != nil {
				return fail("Set: %v", err)
			}
		}
	}
	return 0
}

// TestProcesses runs four processes updating the same objects at once
// and checks that no update is lost.
func TestProcesses(t *testing.T) {
	locks(t, func(t *testing.T, lk LockKind) {
		h := newHeap(t, 8<<20, lk)
		for _, mk := range []func() error{
			func() error { v, err := CreateValue[int64](h, "counter"); v.Close(); return err },
			func() error { v, err := CreateValue[[2]int64](h, "pair"); v.Close(); return err },
			func() error { v, err := CreateVector[int64](h, "list"); v.Close(); return err },
			func() error { v, err := CreateMap[int64, int64](h, "map"); v.Close(); return err },
			func() error { v, err := CreateNamespace(h, "ns", nil); v.Close(); return err },
		} {
			if err := mk(); err != nil {
				t.Fatal(err)
			}
		}
		const n = 4
		var cmds []*exec.Cmd
		var errs []*bytes.Buffer
		for i := 0; i < n; i++ {
			cmd, stderr := startChild(t, h, "shmheap-adder", strconv.Itoa(i))
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cmds, errs = append(cmds, cmd), append(errs, stderr)
		}
		for i, cmd := range cmds {
			if err := cmd.Wait(); err != nil {
				t.Fatalf("child %d: %v\n%s", i, err, errs[i])
			}
		}
		v := must(OpenValue[int64](h, "counter"))
		defer v.Close()
		if x, _ := v.Load(); x != n*adderOps {
			t.Errorf("counter %d, want %d", x, n*adderOps)
		}
		p := must(OpenValue[[2]int64](h, "pair"))
		defer p.Close()
		if x, _ := p.Load(); x != [2]int64{n * adderOps, 2 * n * adderOps} {
			t.Errorf("pair %v", x)
		}
		vec := must(OpenVector[int64](h, "list"))
		defer vec.Close()
		all, _ := vec.Snapshot()
		next := make([]int64, n)
		for _, x := range all {
			id, i := x>>32, x&0xffffffff
			if next[id] != i {
				t.Fatalf("worker %d: element %d after %d", id, i, next[id]-1)
			}
			next[id]++
		}
		for id, k := range next {
			if k != adderOps {
				t.Errorf("worker %d appended %d", id, k)
			}
		}
		m := must(OpenMap[int64, int64](h, "map"))
		defer m.Close()
		if l, _ := m.Len(); l != n*adderOps {
			t.Errorf("map len %d", l)
		}
		mustCheck(t, h)
	})
}

func crashAtChild(args []string) int {
	name := args[0]
	point, _ := strconv.Atoi(args[1])
	h := childHeap()
	for _, sc := range crashScenarios {
		if sc.name != name {
			continue
		}
		hits := 0
		crashHook = func() {
			if hits++; hits == point {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}
		if err := sc.op(h); err != nil {
			return fail("%s: %v", name, err)
		}
		return 0
	}
	return fail("no scenario %q", name)
}

// TestCrashKill is TestCrashPoints with real deaths: a child process runs
// the operation and SIGKILLs itself at a crash point, so that the next
// locker meets the kernel's owner-died mark (robust heap lock) or a pid
// lock whose owner is gone.
func TestCrashKill(t *testing.T) {
	locks(t, func(t *testing.T, lk LockKind) {
		for _, sc := range crashScenarios {
			t.Run(sc.name, func(t *testing.T) {
				kills := 0
				defer func() { t.Logf("killed at %d points", kills) }()
				for _, point := range []int{1, 4, 12, 35, 80, 150, 10000} {
					h := newHeap(t, 1<<20, lk)
					if sc.setup != nil {
						if err := sc.setup(h); err != nil {
							t.Fatal(err)
						}
					}
					cmd, stderr := startChild(t, h, "shmheap-crashat", sc.name, strconv.Itoa(point))
					err := cmd.Run()
					done := err == nil
					if !done {
						if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
							t.Fatalf("point %d: child: %v\n%s", point, err, stderr)
						}
						kills++
					}
					if err := h.Check(); err != nil {
						t.Fatalf("killed at point %d: Check: %v", point, err)
					}
					if err := sc.verify(h, done); err != nil {
						t.Fatalf("killed at point %d: %v", point, err)
					}
					h.Close()
					if done {
						break
					}
				}
			})
		}
	})
}

// ---- the kill campaign ----

var campaignTrials = flag.Int("trials", 0, "kill-campaign trials (0: $SHMHEAP_TRIALS, else 40; -short: 12)")

type logEntry struct {
	Worker int32
	Seq    int32
}

type nsRecord struct {
	Seq int
	Pad []byte
}

func campaignChild(args []string) int {
	id, _ := strconv.Atoi(args[0])
	h := childHeap()
	lg, err := OpenVector[logEntry](h, "log")
	if err != nil {
		return fail("%v", err)
	}
	acks, err := OpenArray[int32](h, "acks")
	if err != nil {
		return fail("%v", err)
	}
	nsacks, err := OpenArray[int32](h, "nsacks")
	if err != nil {
		return fail("%v", err)
	}
	repairs, err := OpenValue[int64](h, "repairs")
	if err != nil {
		return fail("%v", err)
	}
	rep, _ := repairs.Int64("")
	repairHook = func() { rep.Add(1) }
	m, err := OpenMap[int64, [4]int64](h, "map")
	if err != nil {
		return fail("%v", err)
	}
	ns, err := OpenNamespace(h, "ns", nil)
	if err != nil {
		return fail("%v", err)
	}
	scratch, err := OpenVector[int64](h, "scratch")
	if err != nil {
		return fail("%v", err)
	}
	if id >= acks.Len() {
		return fail("worker %d beyond the acks array", id)
	}
	os.Stdout.Write([]byte{'R'})
	r := rand.New(rand.NewSource(int64(id)*7919 + time.Now().UnixNano()))
	var seq, nsSeq int32
	parent := os.Getppid()
	for iter := 0; ; iter++ {
		if iter%1024 == 0 && os.Getppid() != parent {
			return fail("the test process is gone")
		}
		switch k := r.Intn(12); {
		case k < 4:
			if err := lg.Append(logEntry{int32(id), seq}); err != nil {
				return fail("Append: %v", err)
			}
			seq++
			if err := acks.Store(id, seq); err != nil {
				return fail("ack: %v", err)
			}
		case k == 4:
			if err := ns.Set(fmt.Sprint("w", id), nsRecord{int(nsSeq), make([]byte, r.Intn(3000))}); err != nil {
				return fail("Set: %v", err)
			}
			nsSeq++
			if err := nsacks.Store(id, nsSeq); err != nil {
				return fail("nsack: %v", err)
			}
		case k == 5:
			if err := m.Put(int64(id%8*100+r.Intn(60)), [4]int64{int64(id)}); err != nil {
				return fail("Put: %v", err)
			}
		case k == 6:
			if _, err := m.Delete(int64(id%8*100 + r.Intn(60))); err != nil {
				return fail("Delete: %v", err)
			}
		case k == 7:
			name := fmt.Sprint("tmp-", id, "-", r.Intn(4))
			v, err := OpenOrCreateVector[int64](h, name)
			if err != nil {
				return fail("create %s: %v", name, err)
			}
			for i := 0; i < r.Intn(100); i++ {
				v.Append(int64(i))
			}
			v.Close()
			if err := h.Remove(name); err != nil {
				return fail("remove %s: %v", name, err)
			}
		case k == 8:
			if err := scratch.Append(int64(id)); err != nil {
				return fail("scratch Append: %v", err)
			}
			if n, _ := scratch.Len(); n > 50 {
				if err := scratch.Delete(r.Intn(n)); err != nil && err != ErrIndex {
					return fail("scratch Delete: %v", err)
				}
			}
		case k == 9:
			if err := ns.Set(fmt.Sprint("x", id%6), make([]byte, r.Intn(600))); err != nil {
				return fail("Set x: %v", err)
			}
		case k == 10:
			if err := ns.Delete(fmt.Sprint("x", id%6)); err != nil && !os.IsNotExist(err) {
				return fail("Delete x: %v", err)
			}
		case k == 11:
			if err := h.Remove(fmt.Sprint("tmp-", id, "-gone")); err != nil && !os.IsNotExist(err) {
				return fail("remove: %v", err)
			}
		}
	}
}

func trials(t *testing.T) int {
	if *campaignTrials > 0 {
		return *campaignTrials
	}
	if s := os.Getenv("SHMHEAP_TRIALS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	if testing.Short() {
		return 12
	}
	return 40
}

type worker struct {
	id     int
	cmd    *exec.Cmd
	stderr *bytes.Buffer
}

// TestKillCampaign runs four worker processes that append to a shared
// Vector, set Namespace attributes (of random sizes: blocks allocated and
// freed), put and delete Map keys, create, fill and remove objects, and
// delete from the middle of a Vector, while the test SIGKILLs one of them
// at a random instant and starts a replacement, trial after trial; every
// 20 trials it runs Check alongside the live workers. At the end it kills
// the rest and checks that the heap validates (every block accounted for)
// and that no committed element is lost or duplicated: each worker's
// appends are in the log exactly once, in order, up to the last one it
// acknowledged (plus at most the one in flight when it died), and each
// worker's Namespace attribute holds its last acknowledged or in-flight
// value. -trials N (or $SHMHEAP_TRIALS) sets the number of kills (40 by
// default, 12 with -short); SHMHEAP_SMALL=1 uses a 32 MiB heap that the
// workers fill (a worker that meets ErrNoSpace waits to be killed), so
// that kills also land in allocations that fail.
func TestKillCampaign(t *testing.T) {
	n := trials(t)
	for _, lk := range []LockKind{LockAuto, LockPID} {
		t.Run(lk.String(), func(t *testing.T) { runCampaign(t, lk, n) })
	}
}

func runCampaign(t *testing.T, lk LockKind, n int) {
	const W = 4
	maxWorkers := n + W + 1
	size := int64(256 << 20)
	if os.Getenv("SHMHEAP_SMALL") != "" {
		size = 32 << 20
	}
	h := newHeap(t, size, lk)
	lg := must(CreateVector[logEntry](h, "log"))
	defer lg.Close()
	acks := must(CreateArray[int32](h, "acks", maxWorkers))
	defer acks.Close()
	nsacks := must(CreateArray[int32](h, "nsacks", maxWorkers))
	defer nsacks.Close()
	repairs := must(CreateValue[int64](h, "repairs"))
	defer repairs.Close()
	must(CreateMap[int64, [4]int64](h, "map")).Close()
	ns := must(CreateNamespace(h, "ns", nil))
	defer ns.Close()
	must(CreateVector[int64](h, "scratch")).Close()

	var mu sync.Mutex
	var live []*worker
	next := 0
	spawn := func() {
		cmd, stderr := startChild(t, h, "shmheap-campaign", strconv.Itoa(next))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		if _, err := io.ReadFull(bufio.NewReader(out), b); err != nil {
			cmd.Wait()
			t.Fatalf("worker %d did not start: %v\n%s", next, err, stderr)
		}
		mu.Lock()
		live = append(live, &worker{next, cmd, stderr})
		mu.Unlock()
		next++
	}
	// Lock words of the heap and the long-lived objects, read right after
	// a kill: did the victim die holding one?
	c := h.c
	bodies := []uint64{lg.o.body, acks.o.body, nsacks.o.body, ns.o.body}
	for _, nm := range []string{"map", "scratch"} {
		objs, _ := c.listObjectsLocked()
		for _, o := range objs {
			if nmb, _, _, _ := c.objHeader(o.p); string(nmb) == nm {
				bodies = append(bodies, o.body)
			}
		}
	}
	heldHeap, heldObj := 0, 0
	kill := func(w *worker) {
		pid := uint32(w.cmd.Process.Pid)
		w.cmd.Process.Kill()
		err := w.cmd.Wait()
		if ws, ok := w.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("worker %d ended by itself: %v\n%s", w.id, err, w.stderr)
		}
		if lw := c.load32(hLock); (c.lockKind == lockRobust && lw&0x40000000 != 0) || (c.lockKind == lockPID && lw&pidMask == pid) {
			heldHeap++
		}
		for _, b := range bodies {
			if c.load32(b)&pidMask == pid {
				heldObj++
			}
		}
	}
	var parentRepairs atomic.Int64
	repairHook = func() { parentRepairs.Add(1) }
	defer func() { repairHook = nil }()
	defer func() {
		for _, w := range live {
			w.cmd.Process.Kill()
			w.cmd.Wait()
		}
	}()
	for i := 0; i < W; i++ {
		spawn()
	}
	r := rand.New(rand.NewSource(time.Now().UnixNano()))
	start := time.Now()
	checks := 0
	for trial := 0; trial < n; trial++ {
		time.Sleep(time.Duration(r.Intn(8000)) * time.Microsecond)
		k := r.Intn(len(live))
		w := live[k]
		live = append(live[:k], live[k+1:]...)
		kill(w)
		spawn()
		if trial%20 == 19 {
			if err := h.Check(); err != nil {
				t.Fatalf("trial %d: Check with live workers: %v", trial, err)
			}
			checks++
		}
	}
	for _, w := range live {
		kill(w)
	}
	live = nil
	elapsed := time.Since(start)
	if err := h.Check(); err != nil {
		t.Fatalf("final Check: %v", err)
	}
	entries, err := lg.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	got := make([]int32, next)
	for _, e := range entries {
		if e.Worker < 0 || int(e.Worker) >= next {
			t.Fatalf("log entry from unknown worker %d", e.Worker)
		}
		if e.Seq != got[e.Worker] {
			t.Fatalf("worker %d: entry %d after %d entries (lost or duplicated)", e.Worker, e.Seq, got[e.Worker])
		}
		got[e.Worker]++
	}
	ackd, _ := acks.Snapshot()
	nsackd, _ := nsacks.Snapshot()
	inflight := 0
	for id := 0; id < next; id++ {
		if got[id] != ackd[id] && got[id] != ackd[id]+1 {
			t.Fatalf("worker %d: %d entries in the log, %d acknowledged", id, got[id], ackd[id])
		}
		if got[id] == ackd[id]+1 {
			inflight++
		}
		var rec nsRecord
		err := ns.Get(fmt.Sprint("w", id), &rec)
		switch {
		case os.IsNotExist(err):
			if nsackd[id] != 0 {
				t.Fatalf("worker %d: Namespace attribute missing after %d acknowledged sets", id, nsackd[id])
			}
		case err != nil:
			t.Fatalf("worker %d: Get: %v", id, err)
		case int32(rec.Seq) != nsackd[id]-1 && int32(rec.Seq) != nsackd[id]:
			t.Fatalf("worker %d: attribute holds set %d, %d acknowledged", id, rec.Seq, nsackd[id])
		}
	}
	nrep, _ := repairs.Load()
	st, _ := h.Stats()
	t.Logf("%s lock: %d kills in %v (%d workers started); %d victims died holding the heap lock, %d holding an object lock; %d repairs by surviving workers, %d by the test's Checks (%d with live workers); %d log entries committed, %d appends in flight at a kill; heap %d/%d bytes used in %d blocks, %d removed objects awaiting reclaim",
		lk, n, elapsed.Round(time.Millisecond), next, heldHeap, heldObj, nrep, parentRepairs.Load(), checks, len(entries), inflight, st.Used, st.Arena, st.Blocks, st.Removed)
	// Everything removed, everything back.
	lg.Close()
	acks.Close()
	nsacks.Close()
	repairs.Close()
	ns.Close()
	names, _ := h.Names()
	for _, nm := range names {
		if err := h.Remove(nm); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Check(); err != nil {
		t.Fatalf("Check after removing everything: %v", err)
	}
	st, _ = h.Stats()
	if st.Objects != 0 || st.Removed != 0 || st.Blocks != 1 { // the directory's table
		t.Fatalf("after removing every object: %+v", st)
	}
}
