package main

import (
	"bufio"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ipckit/ipckit/mmapring"
)

// The C rows: mmapring.h's implementation of the same protocol, both
// processes in C (SPSC and MPMC rings), and a C++ SPSC queue between two
// threads of one process, compiled at run time with cc and c++ (skipped
// without them).

//go:embed cring/ring_bench.c
var ringBenchC string

//go:embed cring/spsc_queue.cpp
var spscQueueCpp string

// A program built once per bench run, in a directory removed at the end.
type builtProg struct {
	once sync.Once
	bin  string
	err  error
}

var cring struct {
	mu   sync.Mutex
	dir  string
	ring builtProg // ring_bench
	cpp  builtProg // spsc_queue
}

func findTool(names ...string) string {
	for _, c := range names {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	return ""
}

// benchDir is the directory the programs are built in.
func benchDir() (string, error) {
	cring.mu.Lock()
	defer cring.mu.Unlock()
	if cring.dir != "" {
		return cring.dir, nil
	}
	dir, err := os.MkdirTemp("", "ipckit-bench-")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "mmapring.h"), []byte(mmapring.CHeader), 0o600); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	cring.dir = dir
	return dir, nil
}

// build compiles one source file into dir with the first compiler found.
func build(p *builtProg, compilers []string, file, src string, flags ...string) (string, error) {
	p.once.Do(func() {
		cc := findTool(compilers...)
		if cc == "" {
			p.err = &skipError{"no " + compilers[1]}
			return
		}
		dir, err := benchDir()
		if err != nil {
			p.err = err
			return
		}
		path := filepath.Join(dir, file)
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			p.err = err
			return
		}
		bin := strings.TrimSuffix(path, filepath.Ext(path))
		out, err := exec.Command(cc, append(append([]string{"-O2"}, flags...), "-o", bin, path)...).CombinedOutput()
		if err != nil {
			p.err = fmt.Errorf("%s: %v\n%s", cc, err, out)
			return
		}
		p.bin = bin
	})
	return p.bin, p.err
}

func buildCRing() (string, error) {
	return build(&cring.ring, []string{os.Getenv("CC"), "cc", "gcc", "clang"}, "ring_bench.c", ringBenchC, "-std=gnu11")
}

func buildCppQueue() (string, error) {
	return build(&cring.cpp, []string{os.Getenv("CXX"), "c++", "g++", "clang++"}, "spsc_queue.cpp", spscQueueCpp, "-std=c++17", "-pthread")
}

// cleanupCRing removes the built programs and forgets them, so that a
// later bench run in the same process (tests run the command repeatedly)
// builds them again instead of using removed binaries.
func cleanupCRing() {
	cring.mu.Lock()
	defer cring.mu.Unlock()
	if cring.dir != "" {
		os.RemoveAll(cring.dir)
	}
	cring.dir = ""
	cring.ring = builtProg{}
	cring.cpp = builtProg{}
}

func cRings(kind mmapring.Kind, size int) (a, b *mmapring.Ring, err error) {
	a, err = mmapring.New(ringConfig(kind, size))
	if err != nil {
		return nil, nil, err
	}
	b, err = mmapring.New(ringConfig(kind, size))
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

func cStart(bin string, files []*os.File, args ...string) (*exec.Cmd, *bufio.Reader, error) {
	cmd := exec.Command(bin, args...)
	cmd.ExtraFiles = files
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	return cmd, bufio.NewReader(out), nil
}

// cTput and cRTT measure the C ring rows on rings of kind.
func cTput(kind mmapring.Kind) func(o benchOpts, size int) (int, time.Duration, error) {
	return func(o benchOpts, size int) (int, time.Duration, error) { return cTputKind(o, kind, size) }
}

func cRTT(kind mmapring.Kind) func(o benchOpts, size int) ([]time.Duration, error) {
	return func(o benchOpts, size int) ([]time.Duration, error) { return cRTTKind(o, kind, size) }
}

func cTputKind(o benchOpts, kind mmapring.Kind, size int) (int, time.Duration, error) {
	bin, err := buildCRing()
	if err != nil {
		return 0, 0, err
	}
	a, b, err := cRings(kind, size)
	if err != nil {
		return 0, 0, err
	}
	defer a.Close()
	defer b.Close()
	files := []*os.File{a.File(), b.File()}
	sink, sout, err := cStart(bin, files, "sink", "3", "4")
	if err != nil {
		return 0, 0, err
	}
	defer sink.Wait()
	if l, err := sout.ReadString('\n'); err != nil || strings.TrimSpace(l) != "ready" {
		sink.Process.Kill()
		return 0, 0, fmt.Errorf("C sink did not start")
	}
	src, out, err := cStart(bin, files, "source", "3", "4", strconv.Itoa(size), strconv.FormatInt(o.dur.Nanoseconds(), 10))
	if err != nil {
		sink.Process.Kill()
		return 0, 0, err
	}
	line, _ := out.ReadString('\n')
	if err := src.Wait(); err != nil {
		sink.Process.Kill()
		return 0, 0, fmt.Errorf("C source: %v", err)
	}
	var n, ns int64
	if _, err := fmt.Sscan(line, &n, &ns); err != nil || ns <= 0 {
		return 0, 0, fmt.Errorf("C source printed %q", line)
	}
	return int(n), time.Duration(ns), nil
}

func cRTTKind(o benchOpts, kind mmapring.Kind, size int) ([]time.Duration, error) {
	bin, err := buildCRing()
	if err != nil {
		return nil, err
	}
	a, b, err := cRings(kind, size)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	defer b.Close()
	files := []*os.File{a.File(), b.File()}
	echoCmd, eout, err := cStart(bin, files, "echo", "3", "4", strconv.Itoa(size))
	if err != nil {
		return nil, err
	}
	defer echoCmd.Wait()
	if l, err := eout.ReadString('\n'); err != nil || strings.TrimSpace(l) != "ready" {
		echoCmd.Process.Kill()
		return nil, fmt.Errorf("C echo did not start")
	}
	ping, out, err := cStart(bin, files, "ping", "3", "4", strconv.Itoa(size), strconv.FormatInt(o.rttDur.Nanoseconds(), 10), strconv.Itoa(o.rttMax))
	if err != nil {
		echoCmd.Process.Kill()
		return nil, err
	}
	line, _ := out.ReadString('\n')
	if err := ping.Wait(); err != nil {
		echoCmd.Process.Kill()
		return nil, fmt.Errorf("C ping: %v", err)
	}
	var p50, p99 int64
	if _, err := fmt.Sscan(line, &p50, &p99); err != nil {
		return nil, fmt.Errorf("C ping printed %q", line)
	}
	// Two samples reproduce the percentiles the caller computes.
	lat := make([]time.Duration, 100)
	for i := range lat {
		lat[i] = time.Duration(p50)
	}
	lat[99] = time.Duration(p99)
	return lat, nil
}

// cppTput measures the C++ SPSC queue between two threads.
func cppTput(o benchOpts, size int) (int, time.Duration, error) {
	bin, err := buildCppQueue()
	if err != nil {
		return 0, 0, err
	}
	out, err := exec.Command(bin, strconv.Itoa(size), strconv.FormatInt(o.dur.Nanoseconds(), 10)).Output()
	if err != nil {
		return 0, 0, fmt.Errorf("spsc_queue: %v", err)
	}
	var n, ns int64
	if _, err := fmt.Sscan(string(out), &n, &ns); err != nil || ns <= 0 {
		return 0, 0, fmt.Errorf("spsc_queue printed %q", out)
	}
	return int(n), time.Duration(ns), nil
}
