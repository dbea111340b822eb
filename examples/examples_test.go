// Package examples holds runnable programs, one main package per
// directory, each mirroring a Python multiprocessing idiom with ipckit.
// This test builds every one of them and runs it as a user would: each
// must exit 0 (they check their own results) within its time limit.
package examples

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipckit/ipckit/internal/testenv"
)

// programs returns the directories under examples/ holding a main package.
func programs(t *testing.T) []string {
	ents, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(e.Name(), "*.go"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err == nil && strings.Contains(string(b), "\npackage main\n") && !strings.HasSuffix(f, "_test.go") {
				dirs = append(dirs, e.Name())
				break
			}
		}
	}
	return dirs
}

func TestExamples(t *testing.T) {
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = testenv.Tool(t, "go")
	}
	dirs := programs(t)
	if len(dirs) == 0 {
		t.Fatal("no example programs found")
	}
	bin := t.TempDir()
	for _, dir := range dirs {
		t.Run(dir, func(t *testing.T) {
			exe := filepath.Join(bin, dir)
			build := exec.Command(goTool, "build", "-o", exe, "./"+dir)
			build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build ./examples/%s: %v\n%s", dir, err, out)
			}
			cmd := testenv.Command(exe)
			var out lockedBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			// Its own process group, so that a program that does not
			// finish can be dumped (SIGQUIT: every Go process in the
			// group prints its goroutines) and killed with its children.
			// WaitDelay: a process outside the group (proc's resource
			// tracker is detached) may hold the output pipe open.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			cmd.WaitDelay = 5 * time.Second
			start := time.Now()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(exampleLimit):
				procs := groupReport(cmd.Process.Pid)
				syscall.Kill(-cmd.Process.Pid, syscall.SIGQUIT)
				time.Sleep(3 * time.Second)
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-done
				t.Fatalf("examples/%s did not finish in %v; its process group then:\n%s\noutput (ending with the goroutine dumps SIGQUIT asked for):\n%s",
					dir, exampleLimit, procs, out.String())
			}
			if err != nil {
				t.Fatalf("examples/%s: %v\n%s", dir, err, out.String())
			}
			t.Logf("examples/%s ran in %v:\n%s", dir, time.Since(start).Round(time.Millisecond), out.String())
		})
	}
}

// exampleLimit bounds one program's run (they take about 1 s natively,
// a few under emulation).
const exampleLimit = 60 * time.Second

// lockedBuffer collects a program's output; Wait's copying goroutine and
// the test read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// groupReport lists the processes of process group pgid: pid, state, the
// kernel function each sleeps in, and its command line.
func groupReport(pgid int) string {
	ents, _ := os.ReadDir("/proc")
	var b strings.Builder
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 3 || f[2] != strconv.Itoa(pgid) {
			continue
		}
		wchan, _ := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", pid))
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		fmt.Fprintf(&b, "  pid %d ppid %s state %s wchan %s: %s\n", pid, f[1], f[0], wchan,
			strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " "))
	}
	if b.Len() == 0 {
		return "  (no process left)\n"
	}
	return b.String()
}
