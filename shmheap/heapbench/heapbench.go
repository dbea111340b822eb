// Package heapbench measures shmheap's containers from several processes
// at once, side by side with Python's multiprocessing.Manager doing the
// same (driven by python3 on the same machine): the Go benchmark in
// shmheap and `ipckit bench` both call Run.
//
// Worker processes re-execute the running program: a program that imports
// heapbench runs a worker, instead of its main, when started with the
// environment variable heapbench sets (the dispatch is in this package's
// init, so nothing needs calling from main). Under ipckit's emulated test
// legs ($IPCKIT_EXEC), workers are started through the emulator.
package heapbench

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/ipckit/ipckit/shmheap"
)

// Row names: the Go rows and the Python rows they compare with.
const (
	VectorAppend     = "shmheap Vector.Append"
	MapGetPut        = "shmheap Map Get/Put"
	NamespaceRaw     = "shmheap Namespace Set/Get (Raw)"
	NamespaceGob     = "shmheap Namespace Set/Get (Gob)"
	PythonListAppend = "Python Manager list.append"
	PythonNSSet      = "Python Manager Namespace set"
)

// Rows lists every row, Go rows first.
var Rows = []string{VectorAppend, MapGetPut, NamespaceRaw, NamespaceGob, PythonListAppend, PythonNSSet}

// Targets pairs each Go row with the Python row it is compared with, and
// the project's target ratio of operations per second.
var Targets = []struct {
	Go, Python string
	Want       float64
}{
	{VectorAppend, PythonListAppend, 100},
	{NamespaceRaw, PythonNSSet, 100},
}

// Result is one row's measurement.
type Result struct {
	Row     string
	Procs   int
	Ops     int64         // operations completed by all processes
	Elapsed time.Duration // the longest process's measuring time
}

// PerSecond returns the operations per second of all processes together.
func (r Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// ErrNoPython is returned (wrapped) by Run for a Python row when no
// python3 can run multiprocessing.
var ErrNoPython = errors.New("heapbench: python3 with multiprocessing not found")

//go:embed manager.py
var managerPy string

// Python returns the interpreter Run uses: python3 on PATH, else
// /usr/bin/python3.
func Python() (string, error) {
	for _, c := range []string{"python3", "/usr/bin/python3"} {
		p, err := exec.LookPath(c)
		if err != nil {
			continue
		}
		if exec.Command(p, "-c", "import multiprocessing.managers").Run() == nil {
			return p, nil
		}
	}
	return "", ErrNoPython
}

// Run measures row with procs processes working at once for about d.
func Run(ctx context.Context, row string, procs int, d time.Duration) (Result, error) {
	if procs < 1 || d <= 0 {
		return Result{}, fmt.Errorf("heapbench: %d processes for %v", procs, d)
	}
	switch row {
	case PythonListAppend:
		return runPython(ctx, row, "list-append", procs, d)
	case PythonNSSet:
		return runPython(ctx, row, "namespace-set", procs, d)
	case VectorAppend, MapGetPut, NamespaceRaw, NamespaceGob:
		return runGo(ctx, row, procs, d)
	}
	return Result{}, fmt.Errorf("heapbench: no row %q", row)
}

func runPython(ctx context.Context, row, op string, procs int, d time.Duration) (Result, error) {
	py, err := Python()
	if err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, d+60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-c", managerPy, op, strconv.Itoa(procs), strconv.FormatFloat(d.Seconds(), 'f', 3, 64))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return Result{}, fmt.Errorf("heapbench: %s: %v", row, err)
	}
	var res struct {
		Ops     int64   `json:"ops"`
		Elapsed float64 `json:"elapsed"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return Result{}, fmt.Errorf("heapbench: %s printed %q: %v", row, out, err)
	}
	return Result{Row: row, Procs: procs, Ops: res.Ops, Elapsed: time.Duration(res.Elapsed * float64(time.Second))}, nil
}

const workerEnv = "IPCKIT_HEAPBENCH_WORKER"

func init() {
	if os.Getenv(workerEnv) != "" {
		os.Exit(worker(os.Args[1:]))
	}
}

// heapSize is the heap of a Go run: a sparse memfd, so only the pages the
// run touches take memory. Appends stop early (and are counted as far as
// they went) if it fills.
const heapSize = 512 << 20

func runGo(ctx context.Context, row string, procs int, d time.Duration) (Result, error) {
	h, err := shmheap.New(heapSize, nil)
	if err != nil {
		return Result{}, err
	}
	defer h.Close()
	if err := setup(h, row); err != nil {
		return Result{}, err
	}
	exe, err := os.Executable()
	if err != nil {
		return Result{}, err
	}
	type child struct {
		cmd *exec.Cmd
		in  io.WriteCloser
		out *bufio.Reader
	}
	var kids []child
	defer func() {
		for _, k := range kids {
			k.cmd.Process.Kill()
			k.cmd.Wait()
		}
	}()
	for i := 0; i < procs; i++ {
		args := []string{row, strconv.Itoa(i), strconv.FormatInt(int64(d), 10)}
		var cmd *exec.Cmd
		if pre := strings.Fields(os.Getenv("IPCKIT_EXEC")); len(pre) > 0 {
			cmd = exec.CommandContext(ctx, pre[0], append(append(pre[1:len(pre):len(pre)], exe), args...)...)
		} else {
			cmd = exec.CommandContext(ctx, exe, args...)
		}
		cmd.Env = append(os.Environ(), workerEnv+"=1")
		cmd.ExtraFiles = []*os.File{h.File()}
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			return Result{}, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return Result{}, err
		}
		if err := cmd.Start(); err != nil {
			return Result{}, err
		}
		k := child{cmd, in, bufio.NewReader(out)}
		kids = append(kids, k)
		if line, err := k.out.ReadString('\n'); err != nil || line != "ready\n" {
			return Result{}, fmt.Errorf("heapbench: %s worker %d did not start (%q, %v)", row, i, line, err)
		}
	}
	for _, k := range kids { // all start at once
		k.in.Write([]byte("g"))
	}
	res := Result{Row: row, Procs: procs}
	for i, k := range kids {
		line, err := k.out.ReadString('\n')
		var n, ns int64
		if _, serr := fmt.Sscanf(line, "%d %d", &n, &ns); err != nil || serr != nil {
			return Result{}, fmt.Errorf("heapbench: %s worker %d: %q, %v", row, i, line, err)
		}
		res.Ops += n
		if el := time.Duration(ns); el > res.Elapsed {
			res.Elapsed = el
		}
	}
	for _, k := range kids {
		if err := k.cmd.Wait(); err != nil {
			return Result{}, fmt.Errorf("heapbench: %s worker: %v", row, err)
		}
	}
	kids = nil
	return res, nil
}

// setup creates the objects a row's workers use.
func setup(h *shmheap.Heap, row string) error {
	switch row {
	case VectorAppend:
		v, err := shmheap.CreateVector[int64](h, "vec")
		if err != nil {
			return err
		}
		return v.Close()
	case MapGetPut:
		m, err := shmheap.CreateMap[int64, int64](h, "map")
		if err != nil {
			return err
		}
		for k := int64(0); k < mapKeys; k++ {
			m.Put(k, k)
		}
		return m.Close()
	default:
		ns, err := shmheap.CreateNamespace(h, "ns", nil)
		if err != nil {
			return err
		}
		return ns.Close()
	}
}

const mapKeys = 4096

// worker is a re-executed process: handle 3 is the heap; it prints
// "ready", waits for a byte on stdin, works for the duration and prints
// "ops elapsed-ns".
func worker(args []string) int {
	if len(args) != 3 {
		fmt.Fprintln(os.Stderr, "heapbench worker: bad arguments", args)
		return 2
	}
	row := args[0]
	idx, _ := strconv.Atoi(args[1])
	dns, _ := strconv.ParseInt(args[2], 10, 64)
	h, err := shmheap.FromFile(os.NewFile(3, "heap"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "heapbench worker:", err)
		return 1
	}
	defer h.Close()
	var op func(i int64) error
	switch row {
	case VectorAppend:
		v, err := shmheap.OpenVector[int64](h, "vec")
		if err != nil {
			fmt.Fprintln(os.Stderr, "heapbench worker:", err)
			return 1
		}
		defer v.Close()
		op = func(i int64) error { return v.Append(i) }
	case MapGetPut:
		m, err := shmheap.OpenMap[int64, int64](h, "map")
		if err != nil {
			fmt.Fprintln(os.Stderr, "heapbench worker:", err)
			return 1
		}
		defer m.Close()
		op = func(i int64) error {
			k := (i*7919 + int64(idx)*1031) % mapKeys
			if i&1 == 0 {
				return m.Put(k, i)
			}
			_, _, err := m.Get(k)
			return err
		}
	case NamespaceRaw, NamespaceGob:
		codec := shmheap.Raw
		if row == NamespaceGob {
			codec = shmheap.Gob
		}
		ns, err := shmheap.OpenNamespace(h, "ns", &shmheap.NamespaceOptions{Codec: codec})
		if err != nil {
			fmt.Fprintln(os.Stderr, "heapbench worker:", err)
			return 1
		}
		defer ns.Close()
		attr := "w" + strconv.Itoa(idx)
		var x int64
		op = func(i int64) error {
			if i&1 == 0 {
				return ns.Set(attr, i)
			}
			return ns.Get(attr, &x)
		}
	default:
		fmt.Fprintln(os.Stderr, "heapbench worker: no row", row)
		return 2
	}
	os.Stdout.WriteString("ready\n")
	var b [1]byte
	if _, err := os.Stdin.Read(b[:]); err != nil {
		return 1
	}
	start := time.Now()
	end := start.Add(time.Duration(dns))
	var n int64
	for {
		for j := 0; j < 64; j++ {
			if err := op(n); err != nil {
				if errors.Is(err, shmheap.ErrNoSpace) {
					goto done
				}
				fmt.Fprintln(os.Stderr, "heapbench worker:", err)
				return 1
			}
			n++
		}
		if time.Now().After(end) {
			break
		}
	}
done:
	fmt.Printf("%d %d\n", n, time.Since(start).Nanoseconds())
	return 0
}
