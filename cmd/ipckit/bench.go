package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// ipckit bench: every transport side by side in one run, on this machine,
// with ratios to the SPSC ring. Two-process transports re-execute this
// binary (os.Executable) as the second process; the C ring is built at run
// time from mmapring.h with cc.

const benchChildEnv = "IPCKIT_BENCH_CHILD"

func init() {
	register(command{name: "bench", summary: "compare IPC transports side by side (throughput and round trip)", run: runBench})
	if os.Getenv(benchChildEnv) != "" {
		os.Exit(benchChild(os.Args[1:]))
	}
}

// benchOpts are the knobs of one run.
type benchOpts struct {
	dur     time.Duration // per throughput measurement
	rttDur  time.Duration // per round-trip measurement
	rttMax  int           // most round trips per measurement
	repeats int
}

// conn is one side of a two-process (or two-goroutine) channel.
type conn interface {
	send(p []byte) error
	recv(p []byte) (int, error) // io.EOF after the peer's closeSend
	closeSend() error
	close()
}

// batcher is implemented by conns with a batch send.
type batcher interface {
	sendBatch(msgs [][]byte) error
}

// transport describes one row. Exactly one of the measurement styles is
// set: go (parent and a re-executed child talk through conns), inproc
// (two goroutines), or custom functions.
type transport struct {
	name     string
	kind     string // group in the table
	rttOnly  bool
	tputOnly bool
	// setup creates the kernel objects for a two-process run and returns
	// the parent's conn, the files and args for the child, and a cleanup.
	setup func(size int, mode string) (parent conn, files []*os.File, args []string, cleanup func(), err error)
	// open makes the child's conn from its args (files are fd 3, 4, ...).
	open func(size int, mode string, args []string) (conn, error)
	// inproc returns two connected conns in this process.
	inproc func(size int) (a, b conn, err error)
	// custom measurements (C ring, raw references).
	tput func(o benchOpts, size int) (msgs int, el time.Duration, err error)
	rtt  func(o benchOpts, size int) ([]time.Duration, error)
	// sizeOK says why a size is not supported ("" if it is).
	sizeOK func(size int) string
	batch  bool
	mode   string // passed to setup/open: "spin" or "sleep"
	order  int    // row order
}

var transports []*transport

func addTransport(t *transport) bool {
	transports = append(transports, t)
	sort.SliceStable(transports, func(i, j int) bool { return transports[i].order < transports[j].order })
	return true
}

// Row names (the targets refer to them).
const (
	nameSPSC      = "mmapring SPSC"
	nameSPSCBatch = "mmapring SPSC SendBatch(32)"
	nameSPSCSleep = "mmapring SPSC no-spin (sleeping)"
	nameMPMC      = "mmapring MPMC"
	nameCRing     = "C ring (mmapring.h)"
	namePipe      = "pipe"
	nameSock      = "unix socketpair"
	nameSysV      = "SysV msg queue"
	nameMQ        = "POSIX mq"
	nameChan      = "Go chan (1 process)"
	nameRawLine   = "raw cache-line ping-pong"
	nameRawFutex  = "raw futex ping-pong"
)

type result struct {
	t        *transport
	skip     string
	msgsPerS float64
	mbPerS   float64
	p50, p99 time.Duration
	hasTput  bool
	hasRTT   bool
}

func runBench(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bench", stderr)
	sizes := fs.String("sizes", "64,65536", "comma-separated message sizes in bytes")
	dur := fs.Duration("time", 250*time.Millisecond, "duration of each throughput measurement")
	rtt := fs.Duration("rtt-time", 150*time.Millisecond, "duration of each round-trip measurement")
	long := fs.Bool("long", false, "measure 8× longer and repeat 3 times, reporting medians")
	repeats := fs.Int("repeat", 1, "repeat each measurement and report the median")
	only := fs.String("only", "", "comma-separated substrings: run only matching transports")
	quick := fs.Bool("quick", false, "tiny measurements (a smoke test, numbers meaningless)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o := benchOpts{dur: *dur, rttDur: *rtt, rttMax: 200000, repeats: *repeats}
	if *long {
		o.dur *= 8
		o.rttDur *= 8
		o.rttMax *= 8
		if o.repeats < 3 {
			o.repeats = 3
		}
	}
	if *quick {
		o = benchOpts{dur: 5 * time.Millisecond, rttDur: 5 * time.Millisecond, rttMax: 200, repeats: 1}
	}
	var szs []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 8 || n > 1<<20 {
			fmt.Fprintf(stderr, "ipckit bench: bad size %q (8 .. 1048576)\n", s)
			return 2
		}
		szs = append(szs, n)
	}
	var sel []*transport
	for _, t := range transports {
		if *only == "" {
			sel = append(sel, t)
			continue
		}
		for _, w := range strings.Split(*only, ",") {
			if w != "" && strings.Contains(strings.ToLower(t.name), strings.ToLower(w)) {
				sel = append(sel, t)
				break
			}
		}
	}
	defer cleanupCRing()
	fmt.Fprintf(stdout, "ipckit bench: %d transports, sizes %v, throughput %v, round trip %v, repeat %d (median)\n",
		len(sel), szs, o.dur, o.rttDur, o.repeats)
	fmt.Fprintf(stdout, "two processes unless noted; ratios are to \"%s\" of the same size in this run\n", transports[0].name)
	failed := false
	for _, size := range szs {
		var rs []*result
		for _, t := range sel {
			r := measure(o, t, size)
			if strings.HasPrefix(r.skip, "error") {
				failed = true
			}
			rs = append(rs, r)
		}
		printTable(stdout, size, rs)
		printTargets(stdout, size, rs)
	}
	if failed {
		return 1
	}
	return 0
}

func median(ds []float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := append([]float64(nil), ds...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func measure(o benchOpts, t *transport, size int) *result {
	r := &result{t: t}
	if t.sizeOK != nil {
		if why := t.sizeOK(size); why != "" {
			r.skip = "skipped: " + why
			return r
		}
	}
	var rates, p50s, p99s []float64
	for i := 0; i < o.repeats; i++ {
		if !t.rttOnly {
			n, el, err := measureTput(o, t, size)
			if err != nil {
				r.skip = errString(err)
				return r
			}
			rates = append(rates, float64(n)/el.Seconds())
		}
		if !t.tputOnly {
			lat, err := measureRTT(o, t, size)
			if err != nil {
				r.skip = errString(err)
				return r
			}
			if len(lat) > 0 {
				sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
				p50s = append(p50s, float64(lat[len(lat)/2]))
				p99s = append(p99s, float64(lat[len(lat)*99/100]))
			}
		}
	}
	if len(rates) > 0 {
		r.hasTput = true
		r.msgsPerS = median(rates)
		r.mbPerS = r.msgsPerS * float64(size) / 1e6
	}
	if len(p50s) > 0 {
		r.hasRTT = true
		r.p50 = time.Duration(median(p50s))
		r.p99 = time.Duration(median(p99s))
	}
	return r
}

type skipError struct{ why string }

func (e *skipError) Error() string { return e.why }

func errString(err error) string {
	var s *skipError
	if errors.As(err, &s) {
		return "skipped: " + s.why
	}
	return "error: " + err.Error()
}

func fmtRate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	case d >= time.Microsecond:
		return fmt.Sprintf("%.2fµs", float64(d)/1e3)
	}
	return fmt.Sprintf("%dns", d.Nanoseconds())
}

func printTable(w io.Writer, size int, rs []*result) {
	fmt.Fprintf(w, "\n== %d-byte messages\n", size)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "transport\t msgs/s\t MB/s\t ring/this\t RTT p50\t RTT p99\t this/ring p50\t")
	ref := rs[0]
	for _, r := range rs {
		if r.skip != "" {
			fmt.Fprintf(tw, "%s\t %s\t\t\t\t\t\t\n", r.t.name, r.skip)
			continue
		}
		tput, mb, ratio, p50, p99, lr := "-", "-", "-", "-", "-", "-"
		if r.hasTput {
			tput, mb = fmtRate(r.msgsPerS), fmt.Sprintf("%.1f", r.mbPerS)
			if ref.hasTput && r.msgsPerS > 0 {
				ratio = fmt.Sprintf("%.2f×", ref.msgsPerS/r.msgsPerS)
			}
		}
		if r.hasRTT {
			p50, p99 = fmtDur(r.p50), fmtDur(r.p99)
			if ref.hasRTT && ref.p50 > 0 {
				lr = fmt.Sprintf("%.2f×", float64(r.p50)/float64(ref.p50))
			}
		}
		fmt.Fprintf(tw, "%s\t %s\t %s\t %s\t %s\t %s\t %s\t\n", r.t.name, tput, mb, ratio, p50, p99, lr)
	}
	tw.Flush()
}

func find(rs []*result, name string) *result {
	for _, r := range rs {
		if r.t.name == name && r.skip == "" {
			return r
		}
	}
	return nil
}

// printTargets prints the project's targets as ratios from this run.
func printTargets(w io.Writer, size int, rs []*result) {
	type target struct {
		desc     string
		a, b     string
		rtt      bool
		mb       bool
		want     float64
		atMost   bool
		onlySize int
	}
	targets := []target{
		{"SPSC throughput ≥ 0.8× C ring", nameSPSC, nameCRing, false, false, 0.8, false, 64},
		{"SPSC throughput ≥ 2× Go channel (one process)", nameSPSC, nameChan, false, false, 2, false, 64},
		{"SPSC throughput ≥ 15× pipe", nameSPSC, namePipe, false, false, 15, false, 64},
		{"SPSC RTT p50 ≤ 2× raw cache-line ping-pong", nameSPSC, nameRawLine, true, false, 2, true, 64},
		{"sleeping SPSC wake-up RTT p50 ≤ 1.3× raw futex ping-pong", nameSPSCSleep, nameRawFutex, true, false, 1.3, true, 64},
		{"SPSC MB/s ≥ 0.9× C ring (copy-bound)", nameSPSC, nameCRing, false, true, 0.9, false, 65536},
	}
	printed := false
	for _, tg := range targets {
		if tg.onlySize != size {
			continue
		}
		a, b := find(rs, tg.a), find(rs, tg.b)
		if a == nil || b == nil || (tg.rtt && (!a.hasRTT || !b.hasRTT)) || (!tg.rtt && (!a.hasTput || !b.hasTput)) {
			continue
		}
		if !printed {
			fmt.Fprintf(w, "targets (%d B):\n", size)
			printed = true
		}
		var ratio float64
		if tg.rtt {
			ratio = float64(a.p50) / float64(b.p50)
		} else {
			ratio = a.msgsPerS / b.msgsPerS
		}
		ok := ratio >= tg.want
		if tg.atMost {
			ok = ratio <= tg.want
		}
		mark := "met"
		if !ok {
			mark = "MISSED"
		}
		fmt.Fprintf(w, "  %-58s %6.2f×  %s\n", tg.desc, ratio, mark)
	}
}

// ---- two-process plumbing ----

// spawn starts this binary as the bench child for transport t.
func spawn(t *transport, size int, role string, files []*os.File, args []string) (*exec.Cmd, *bufio.Reader, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(exe, append([]string{t.name, role, strconv.Itoa(size), t.mode}, args...)...)
	cmd.Env = append(os.Environ(), benchChildEnv+"=1")
	cmd.ExtraFiles = files
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	br := bufio.NewReader(out)
	line, err := br.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, nil, fmt.Errorf("%s child did not start (%q, %v)", t.name, line, err)
	}
	return cmd, br, nil
}

func measureTput(o benchOpts, t *transport, size int) (int, time.Duration, error) {
	if t.tput != nil {
		return t.tput(o, size)
	}
	msg := make([]byte, size)
	msg[0] = 1
	var batch [][]byte
	if t.batch {
		batch = make([][]byte, 32)
		for i := range batch {
			batch[i] = msg
		}
	}
	if t.inproc != nil {
		a, b, err := t.inproc(size)
		if err != nil {
			return 0, 0, err
		}
		done := make(chan int)
		go func() {
			buf := make([]byte, size)
			n := 0
			for {
				if _, err := b.recv(buf); err != nil {
					break
				}
				n++
			}
			done <- n
		}()
		start := time.Now()
		sent := sendFor(a, msg, batch, start, o.dur)
		a.closeSend()
		got := <-done
		el := time.Since(start)
		if got != sent {
			return 0, 0, fmt.Errorf("sent %d, received %d", sent, got)
		}
		return got, el, nil
	}
	p, files, args, cleanup, err := t.setup(size, t.mode)
	if err != nil {
		return 0, 0, err
	}
	defer cleanup()
	cmd, out, err := spawn(t, size, "sink", files, args)
	if err != nil {
		return 0, 0, err
	}
	defer cmd.Wait()
	start := time.Now()
	sent := sendFor(p, msg, batch, start, o.dur)
	p.closeSend()
	line, err := out.ReadString('\n')
	el := time.Since(start)
	if err != nil {
		cmd.Process.Kill()
		return 0, 0, fmt.Errorf("sink: %v", err)
	}
	got, _ := strconv.Atoi(strings.TrimSpace(line))
	if got != sent {
		return 0, 0, fmt.Errorf("sent %d, sink received %d", sent, got)
	}
	return got, el, nil
}

func sendFor(c conn, msg []byte, batch [][]byte, start time.Time, d time.Duration) int {
	n := 0
	for {
		if batch != nil {
			if c.(batcher).sendBatch(batch) != nil {
				return n
			}
			n += len(batch)
		} else {
			for i := 0; i < 64; i++ {
				if c.send(msg) != nil {
					return n
				}
				n++
			}
		}
		if time.Since(start) >= d {
			return n
		}
	}
}

func measureRTT(o benchOpts, t *transport, size int) ([]time.Duration, error) {
	if t.rtt != nil {
		return t.rtt(o, size)
	}
	msg := make([]byte, size)
	buf := make([]byte, size)
	lat := make([]time.Duration, 0, o.rttMax)
	pingpong := func(a conn) error {
		// warm up
		for i := 0; i < 100; i++ {
			a.send(msg)
			if _, err := a.recv(buf); err != nil {
				return err
			}
		}
		end := time.Now().Add(o.rttDur)
		for len(lat) < o.rttMax {
			t0 := time.Now()
			if err := a.send(msg); err != nil {
				return err
			}
			if _, err := a.recv(buf); err != nil {
				return err
			}
			t1 := time.Now()
			lat = append(lat, t1.Sub(t0))
			if t1.After(end) {
				break
			}
		}
		return nil
	}
	if t.inproc != nil {
		a, b, err := t.inproc(size)
		if err != nil {
			return nil, err
		}
		go echo(b, size)
		err = pingpong(a)
		a.closeSend()
		return lat, err
	}
	p, files, args, cleanup, err := t.setup(size, t.mode)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	cmd, _, err := spawn(t, size, "echo", files, args)
	if err != nil {
		return nil, err
	}
	err = pingpong(p)
	p.closeSend()
	if werr := cmd.Wait(); err == nil && werr != nil {
		err = fmt.Errorf("echo child: %v", werr)
	}
	return lat, err
}

func echo(c conn, size int) {
	buf := make([]byte, size)
	for {
		n, err := c.recv(buf)
		if err != nil {
			c.closeSend()
			return
		}
		if c.send(buf[:n]) != nil {
			return
		}
	}
}

// benchChild runs in the re-executed binary: TRANSPORT ROLE SIZE MODE ARGS...
func benchChild(args []string) int {
	if len(args) < 4 {
		fmt.Fprintln(os.Stderr, "bench child: bad arguments")
		return 2
	}
	if args[0] == "raw" {
		return rawChild(args[1:])
	}
	var t *transport
	for _, x := range transports {
		if x.name == args[0] {
			t = x
		}
	}
	size, _ := strconv.Atoi(args[2])
	if t == nil || t.open == nil {
		fmt.Fprintf(os.Stderr, "bench child: unknown transport %q\n", args[0])
		return 2
	}
	c, err := t.open(size, args[3], args[4:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench child:", err)
		return 1
	}
	defer c.close()
	fmt.Println("ready")
	switch args[1] {
	case "sink":
		buf := make([]byte, size)
		n := 0
		for {
			if _, err := c.recv(buf); err != nil {
				break
			}
			n++
		}
		fmt.Println(n)
	case "echo":
		echo(c, size)
	}
	return 0
}
