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
	"time"

	"golang.org/x/sys/unix"
)

// ipckit bench: every transport side by side in one run, on this machine,
// with ratios to one baseline row. Two-process transports re-execute this
// binary (os.Executable) as the second process; the C ring is built at run
// time from mmapring.h with cc. The rows and targets are tables in
// bench_rows.go; output formats are in bench_out.go and bench_svg.go.

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
// set: setup/open (parent and a re-executed child talk through conns),
// inproc (two goroutines), or custom tput/rtt functions.
type transport struct {
	name     string
	short    string // the name in "vs ..." column headers when this row is the baseline
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
	mode   string // passed to setup/open: "spin", "sleep" or "checksum" (spin, with Config.Checksum)
}

func (t *transport) label() string {
	if t.short != "" {
		return t.short
	}
	return t.name
}

// benchTarget is one of the project's targets: a's value over b's.
type benchTarget struct {
	desc string
	a, b string
	rtt  bool // compare RTT p50 (at most want) instead of throughput (at least want)
	want float64
	size int
}

type result struct {
	t        *transport
	size     int
	skip     string // why the row was not measured at this size
	err      string // why the measurement failed
	msgsPerS float64
	mbPerS   float64
	p50, p99 time.Duration
	hasTput  bool
	hasRTT   bool
}

func (r *result) ok() bool { return r.skip == "" && r.err == "" }

// benchRun is everything one run measured, for every output format.
type benchRun struct {
	opts     benchOpts
	sizes    []int
	rows     []*transport
	baseline *transport
	results  map[int][]*result // by size, in row order
}

func (b *benchRun) find(size int, name string) *result {
	for _, r := range b.results[size] {
		if r.t.name == name {
			return r
		}
	}
	return nil
}

// ratios returns this row's throughput and RTT p50 over the baseline's
// (0 where either is missing).
func (b *benchRun) ratios(r *result) (tput, p50 float64) {
	ref := b.find(r.size, b.baseline.name)
	if ref == nil || !ref.ok() || !r.ok() {
		return 0, 0
	}
	if r.hasTput && ref.hasTput && ref.msgsPerS > 0 {
		tput = r.msgsPerS / ref.msgsPerS
	}
	if r.hasRTT && ref.hasRTT && ref.p50 > 0 {
		p50 = float64(r.p50) / float64(ref.p50)
	}
	return tput, p50
}

// targetStatus evaluates a target: "met", "missed", "not measured" (a
// row was run but skipped or failed) or "not run" (a row was not
// selected, or the size was not measured).
func (b *benchRun) targetStatus(tg benchTarget) (status string, ratio float64) {
	if _, ok := b.results[tg.size]; !ok {
		return "not run", 0
	}
	a, c := b.find(tg.size, tg.a), b.find(tg.size, tg.b)
	if a == nil || c == nil {
		return "not run", 0
	}
	switch {
	case tg.rtt && a.hasRTT && c.hasRTT && c.p50 > 0:
		ratio = float64(a.p50) / float64(c.p50)
	case !tg.rtt && a.hasTput && c.hasTput && c.msgsPerS > 0:
		ratio = a.msgsPerS / c.msgsPerS
	default:
		return "not measured", 0
	}
	if (tg.rtt && ratio <= tg.want) || (!tg.rtt && ratio >= tg.want) {
		return "met", ratio
	}
	return "missed", ratio
}

func runBench(args []string, stdout, stderr io.Writer) int {
	c := newCLI("bench", "bench [flags]",
		"Measure every transport on this machine in one run: throughput (messages per\n"+
			"second from one process to another) and round trip (a ping-pong's p50 and\n"+
			"p99), for each message size, with ratios to one baseline row and the\n"+
			"project's targets. Progress goes to stderr (-q silences it); the table, or\n"+
			"-json or -csv, to stdout. Numbers from one run on a shared or virtual machine\n"+
			"swing; use -repeat or -long for medians. The exit status is 1 if a row failed.",
		stdout, stderr)
	sizes := c.fs.String("sizes", "64,65536,1048576", "comma-separated message `SIZES` in bytes (8 .. 1048576)")
	dur := c.fs.Duration("time", 250*time.Millisecond, "`DURATION` of each throughput measurement (> 0)")
	rttDur := c.fs.Duration("rtt-time", 150*time.Millisecond, "`DURATION` of each round-trip measurement (> 0)")
	long := c.fs.Bool("long", false, "measure 8× longer and repeat at least 3 times")
	repeats := c.fs.Int("repeat", 1, "repeat each measurement `N` times (>= 1) and report the median")
	only := c.fs.String("only", "", "comma-separated `WORDS`: run only the rows whose name contains one (case-insensitive)")
	baseline := c.fs.String("baseline", "", "the `ROW` ratios are taken against (default mmapring SPSC, or the first row run)")
	quick := c.fs.Bool("quick", false, "tiny measurements: a smoke test, the numbers mean nothing")
	asJSON := c.fs.Bool("json", false, "print every row, ratio and target as JSON instead of the table")
	asCSV := c.fs.Bool("csv", false, "print every row, ratio and target as CSV instead of the table")
	svg := c.fs.String("svg", "", "also write a bar chart (log scale) of throughput and round trip to `FILE`")
	quiet := c.fs.Bool("q", false, "no progress on stderr")
	var ex strings.Builder
	ex.WriteString("rows:\n")
	for _, t := range transports {
		fmt.Fprintf(&ex, "  %s\n", t.name)
	}
	ex.WriteString("\ntargets:\n")
	for _, tg := range benchTargets {
		fmt.Fprintf(&ex, "  %s (%d-byte messages)\n", tg.desc, tg.size)
	}
	ex.WriteString("\nexamples:\n  ipckit bench -only spsc,pipe -sizes 64\n  ipckit bench -repeat 5 -svg bench.svg\n  ipckit bench -quick -json")
	c.extra = ex.String()
	pos, done, st := c.parse(args)
	if done {
		return st
	}
	switch {
	case len(pos) > 0:
		return c.usageErr("unexpected argument %q (bench takes only flags)", pos[0])
	case *repeats < 1:
		return c.usageErr("-repeat %d: must be at least 1", *repeats)
	case *dur <= 0:
		return c.usageErr("-time %v: must be positive", *dur)
	case *rttDur <= 0:
		return c.usageErr("-rtt-time %v: must be positive", *rttDur)
	case *asJSON && *asCSV:
		return c.usageErr("-json and -csv: choose one")
	case *quick && *long:
		return c.usageErr("-quick and -long: choose one")
	}
	o := benchOpts{dur: *dur, rttDur: *rttDur, rttMax: 200000, repeats: *repeats}
	if *long {
		o.dur *= 8
		o.rttDur *= 8
		o.rttMax *= 8
		o.repeats = max(o.repeats, 3)
	}
	if *quick {
		o = benchOpts{dur: 5 * time.Millisecond, rttDur: 5 * time.Millisecond, rttMax: 200, repeats: 1}
	}
	var szs []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 8 || n > 1<<20 {
			return c.usageErr("-sizes: bad size %q (8 .. 1048576)", s)
		}
		szs = append(szs, n)
	}
	sel, err := selectRows(*only)
	if err != nil {
		return c.usageErr("-only: %v", err)
	}
	base, err := pickBaseline(*baseline, sel)
	if err != nil {
		return c.usageErr("-baseline: %v", err)
	}
	var svgFile *os.File
	if *svg != "" {
		// Open it now, so a bad path fails before minutes of measuring.
		svgFile, err = os.Create(*svg)
		if err != nil {
			return c.fail("-svg: %v", err)
		}
		defer svgFile.Close()
	}

	defer cleanupCRing()
	b := &benchRun{opts: o, sizes: szs, rows: sel, baseline: base, results: map[int][]*result{}}
	prog := newProgress(stderr, *quiet, o, szs, sel)
	failed := false
	for _, size := range szs {
		for _, t := range sel {
			prog.step(t, size)
			r := measure(o, t, size)
			if r.err != "" {
				failed = true
			}
			b.results[size] = append(b.results[size], r)
		}
	}
	prog.finish()

	switch {
	case *asJSON:
		err = writeBenchJSON(stdout, b)
	case *asCSV:
		err = writeBenchCSV(stdout, b)
	default:
		writeBenchTables(stdout, b)
	}
	if err != nil {
		return c.fail("%v", err)
	}
	if svgFile != nil {
		if err := writeBenchSVG(svgFile, b); err != nil {
			return c.fail("-svg: %v", err)
		}
		if err := svgFile.Close(); err != nil {
			return c.fail("-svg: %v", err)
		}
	}
	if failed {
		return 1
	}
	return 0
}

// selectRows returns the rows -only selects (all for ""). Every word must
// match at least one row.
func selectRows(only string) ([]*transport, error) {
	if strings.TrimSpace(only) == "" {
		return transports, nil
	}
	picked := map[*transport]bool{}
	for _, w := range strings.Split(only, ",") {
		w = strings.ToLower(strings.TrimSpace(w))
		if w == "" {
			continue
		}
		n := 0
		for _, t := range transports {
			if strings.Contains(strings.ToLower(t.name), w) {
				picked[t] = true
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("%q matches no row (rows: %s)", w, rowNames())
		}
	}
	if len(picked) == 0 {
		return nil, fmt.Errorf("no row named (rows: %s)", rowNames())
	}
	var sel []*transport
	for _, t := range transports {
		if picked[t] {
			sel = append(sel, t)
		}
	}
	return sel, nil
}

func rowNames() string {
	var s []string
	for _, t := range transports {
		s = append(s, strconv.Quote(t.name))
	}
	return strings.Join(s, ", ")
}

// pickBaseline resolves -baseline among the selected rows: an exact name
// or a word that matches one row. By default it is the SPSC ring, or the
// first row run when -only left it out.
func pickBaseline(name string, sel []*transport) (*transport, error) {
	if name == "" {
		for _, t := range sel {
			if t.name == nameSPSC {
				return t, nil
			}
		}
		return sel[0], nil
	}
	w := strings.ToLower(strings.TrimSpace(name))
	var match []*transport
	for _, t := range sel {
		if strings.ToLower(t.name) == w {
			return t, nil
		}
		if strings.Contains(strings.ToLower(t.name), w) {
			match = append(match, t)
		}
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		return nil, fmt.Errorf("%q is not among the rows run", name)
	}
	var s []string
	for _, t := range match {
		s = append(s, strconv.Quote(t.name))
	}
	return nil, fmt.Errorf("%q matches %d rows (%s): name one", name, len(match), strings.Join(s, ", "))
}

// progress reports on stderr which row and size is running and about
// how long is left: on one rewritten line on a terminal, else a line per
// step.
type progress struct {
	w        io.Writer
	quiet    bool
	tty      bool
	o        benchOpts
	steps    int
	n        int
	estTotal time.Duration
	estDone  time.Duration
	prevEst  time.Duration
	start    time.Time
}

// spawnCost is a rough allowance for starting a child and setting up.
const spawnCost = 60 * time.Millisecond

func (p *progress) estimate(t *transport, size int) time.Duration {
	if t.sizeOK != nil && t.sizeOK(size) != "" {
		return 0
	}
	var d time.Duration
	if !t.rttOnly {
		d += p.o.dur + spawnCost
	}
	if !t.tputOnly {
		d += p.o.rttDur + spawnCost
	}
	return d * time.Duration(p.o.repeats)
}

func newProgress(w io.Writer, quiet bool, o benchOpts, sizes []int, rows []*transport) *progress {
	p := &progress{w: w, quiet: quiet, o: o, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
		p.tty = err == nil
	}
	for _, size := range sizes {
		for _, t := range rows {
			p.steps++
			p.estTotal += p.estimate(t, size)
		}
	}
	return p
}

func (p *progress) step(t *transport, size int) {
	p.estDone += p.prevEst
	p.prevEst = p.estimate(t, size)
	p.n++
	if p.quiet {
		return
	}
	left := p.estTotal - p.estDone
	if el := time.Since(p.start); p.estDone > 0 && el > p.estDone {
		// Scale by how far behind the estimate the run is so far.
		left = time.Duration(float64(left) * float64(el) / float64(p.estDone))
	}
	about := "under a second left"
	if left >= time.Second {
		about = fmt.Sprintf("about %s left", left.Round(time.Second))
	}
	line := fmt.Sprintf("ipckit bench: [%d/%d] %s, %s messages (%s)", p.n, p.steps, t.name, sizeName(size), about)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
}

func (p *progress) finish() {
	if p.quiet {
		return
	}
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
	el := time.Since(p.start)
	if el < time.Second {
		el = el.Round(time.Millisecond)
	} else {
		el = el.Round(100 * time.Millisecond)
	}
	fmt.Fprintf(p.w, "ipckit bench: %d measurements in %s\n", p.steps, el)
}

// sizeName is 64 B, 64 KiB, 1 MiB.
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
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
	r := &result{t: t, size: size}
	if t.sizeOK != nil {
		if why := t.sizeOK(size); why != "" {
			r.skip = why
			return r
		}
	}
	fail := func(err error) *result {
		var s *skipError
		if errors.As(err, &s) {
			r.skip = s.why
		} else {
			r.err = err.Error()
		}
		return r
	}
	var rates, p50s, p99s []float64
	for i := 0; i < o.repeats; i++ {
		if !t.rttOnly {
			n, el, err := measureTput(o, t, size)
			if err != nil {
				return fail(err)
			}
			rates = append(rates, float64(n)/el.Seconds())
		}
		if !t.tputOnly {
			lat, err := measureRTT(o, t, size)
			if err != nil {
				return fail(err)
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

// skipError marks a row that cannot run here (a missing tool, a limit).
type skipError struct{ why string }

func (e *skipError) Error() string { return e.why }

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
	msg := benchMessage(size)
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

// benchMessage is a message of size bytes with every byte written, as the
// C and C++ rows' are: untouched memory reads as the kernel's zero page,
// which is cheaper to copy than a real message.
func benchMessage(size int) []byte {
	msg := make([]byte, size)
	for i := range msg {
		msg[i] = byte(i*131 + 1)
	}
	return msg
}

func sendFor(c conn, msg []byte, batch [][]byte, start time.Time, d time.Duration) int {
	if rc, ok := c.(*ringConn); ok && batch == nil {
		return rc.sendFor(msg, start, d)
	}
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
	msg := benchMessage(size)
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
	if args[0] == "mpmc-pc" {
		return pcChild(args[1:])
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
		var n int
		if rc, ok := c.(*ringConn); ok {
			n = rc.recvAll(buf)
		} else {
			for {
				if _, err := c.recv(buf); err != nil {
					break
				}
				n++
			}
		}
		fmt.Println(n)
	case "echo":
		echo(c, size)
	}
	return 0
}
