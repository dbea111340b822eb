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

// The C ring row: mmapring.h's implementation of the same protocol, both
// processes in C, compiled at run time with cc (skipped without one).

//go:embed cring/ring_bench.c
var ringBenchC string

var cring struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

func buildCRing() (string, error) {
	cring.once.Do(func() {
		cc := ""
		for _, c := range []string{os.Getenv("CC"), "cc", "gcc", "clang"} {
			if c == "" {
				continue
			}
			if p, err := exec.LookPath(c); err == nil {
				cc = p
				break
			}
		}
		if cc == "" {
			cring.err = &skipError{"no cc"}
			return
		}
		dir, err := os.MkdirTemp("", "ipckit-bench-")
		if err != nil {
			cring.err = err
			return
		}
		cring.dir = dir
		if err := os.WriteFile(filepath.Join(dir, "mmapring.h"), []byte(mmapring.CHeader), 0o600); err != nil {
			cring.err = err
			return
		}
		src := filepath.Join(dir, "ring_bench.c")
		if err := os.WriteFile(src, []byte(ringBenchC), 0o600); err != nil {
			cring.err = err
			return
		}
		bin := filepath.Join(dir, "ring_bench")
		out, err := exec.Command(cc, "-O2", "-std=gnu11", "-o", bin, src).CombinedOutput()
		if err != nil {
			cring.err = fmt.Errorf("%s: %v\n%s", cc, err, out)
			return
		}
		cring.bin = bin
	})
	return cring.bin, cring.err
}

// cleanupCRing removes the built peer and forgets it, so that a later
// bench run in the same process (tests run the command repeatedly)
// builds it again instead of using a removed binary.
func cleanupCRing() {
	if cring.dir != "" {
		os.RemoveAll(cring.dir)
	}
	cring.once = sync.Once{}
	cring.dir, cring.bin, cring.err = "", "", nil
}

func cRings(size int) (a, b *mmapring.Ring, err error) {
	a, err = mmapring.New(ringConfig(mmapring.KindSPSC, size))
	if err != nil {
		return nil, nil, err
	}
	b, err = mmapring.New(ringConfig(mmapring.KindSPSC, size))
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

func cTput(o benchOpts, size int) (int, time.Duration, error) {
	bin, err := buildCRing()
	if err != nil {
		return 0, 0, err
	}
	a, b, err := cRings(size)
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

func cRTT(o benchOpts, size int) ([]time.Duration, error) {
	bin, err := buildCRing()
	if err != nil {
		return nil, err
	}
	a, b, err := cRings(size)
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
