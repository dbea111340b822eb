package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a child started by Start. Its methods are safe for
// concurrent use. Signals go through Go's os.Process, which holds a pidfd
// on Linux 5.4 and later: a signal never reaches another process that
// reused the child's pid.
type Process struct {
	name    string
	pid     int
	cmd     *exec.Cmd
	grace   time.Duration
	stopCtx func() bool

	first  chan struct{} // the first status frame came, or the stream ended
	exited chan struct{} // the process was reaped
	done   chan struct{} // reaped, and its status and crash output read

	mu        sync.Mutex // guards helloed, record, text (the status reader writes them) and stopCtx
	hasExited bool

	// Written by the readers and the reaper before done is closed.
	helloed bool
	record  byte   // the final frame's kind (0: none)
	text    string // its text
	crash   string
	state   *os.ProcessState
	waitErr error
}

const crashMax = 64 << 10

func newProcess(name string, cmd *exec.Cmd, statusR, crashR *os.File, grace time.Duration) *Process {
	p := &Process{name: name, pid: cmd.Process.Pid, cmd: cmd, grace: grace,
		first: make(chan struct{}), exited: make(chan struct{}), done: make(chan struct{})}
	var firstOnce sync.Once
	signalFirst := func() { firstOnce.Do(func() { close(p.first) }) }
	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		defer statusR.Close()
		for {
			kind, payload, err := readFrame(statusR)
			if err != nil {
				break
			}
			p.mu.Lock()
			if kind == frameHello {
				p.helloed = true
			} else if p.record == 0 {
				p.record, p.text = kind, string(payload)
			}
			p.mu.Unlock()
			signalFirst()
		}
		signalFirst()
	}()
	go func() {
		defer readers.Done()
		defer crashR.Close()
		b, _ := io.ReadAll(io.LimitReader(crashR, crashMax))
		io.Copy(io.Discard, crashR)
		p.crash = string(b)
	}()
	go func() {
		err := cmd.Wait()
		p.state = cmd.ProcessState
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			p.waitErr = err
		}
		close(p.exited)
		p.mu.Lock()
		p.hasExited = true
		stop := p.stopCtx
		p.mu.Unlock()
		if stop != nil {
			stop()
		}
		// The child's status pipe closes when it exits. Only a program that
		// never called Main (which makes its descriptors close-on-exec) can
		// leave it open in a grandchild: do not wait for that forever.
		deadline := time.Now().Add(time.Second)
		statusR.SetReadDeadline(deadline)
		crashR.SetReadDeadline(deadline)
		readers.Wait()
		close(p.done)
	}()
	return p
}

// Pid returns the child's process id (for logs; signal it with Signal).
func (p *Process) Pid() int { return p.pid }

// Name returns the name the child was started as.
func (p *Process) Name() string { return p.name }

// Alive reports whether the child is running: false once it has exited
// and been reaped.
func (p *Process) Alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Done returns a channel closed when the child has exited and Wait's
// result is ready.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits until the child has exited, or ctx is done (ctx.Err(); the
// child keeps running). It returns nil if the Func returned nil (or the
// child called os.Exit(0)), and otherwise an *ExitError with the exit
// status or signal, the text of the error the Func returned, or the value
// and stack of its panic. Wait may be called any number of times.
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return p.result()
}

// ExitCode returns the child's exit status, -1 while it runs or when a
// signal killed it.
func (p *Process) ExitCode() int {
	select {
	case <-p.exited:
		return p.state.ExitCode()
	default:
		return -1
	}
}

// status returns what the child said so far.
func (p *Process) status() (helloed bool, record byte, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.helloed, p.record, p.text
}

// watch terminates the child when ctx is cancelled.
func (p *Process) watch(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.hasExited {
		p.stopCtx = context.AfterFunc(ctx, func() { p.Terminate(p.grace) })
	}
}

func (p *Process) result() error {
	if p.waitErr != nil {
		return fmt.Errorf("proc: waiting for child %q (pid %d): %w", p.name, p.pid, p.waitErr)
	}
	helloed, record, _ := p.status()
	ok := p.state != nil && p.state.Success()
	if ok && (record == frameOK || (record == 0 && helloed)) {
		return nil
	}
	var cause error
	switch {
	case record == frameUnregistered:
		cause = ErrNotRegistered
	case !helloed && record == 0:
		cause = ErrNoMain
	}
	return p.exitError(cause)
}

func (p *Process) exitError(cause error) *ExitError {
	e := &ExitError{Name: p.name, Pid: p.pid, Code: -1, Cause: cause, Crash: p.crash}
	if p.state != nil {
		e.Code = p.state.ExitCode()
		if ws, ok := p.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			e.Signal = ws.Signal()
		}
	}
	_, record, text := p.status()
	switch record {
	case frameError, frameUnregistered, frameSetup:
		e.Err = text
	case framePanic:
		e.Panic = text
	}
	return e
}

// Signal sends sig to the child. After the child has been reaped it
// returns an error matching os.ErrProcessDone.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Kill sends SIGKILL.
func (p *Process) Kill() error { return p.Signal(os.Kill) }

// Terminate stops the child: SIGTERM, which cancels the Func's context,
// then SIGKILL if it has not exited after grace. It returns once the child
// has exited (nil), or with the error of a signal that could not be sent.
// Wait reports how it ended.
func (p *Process) Terminate(grace time.Duration) error {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		if errors.Is(err, os.ErrProcessDone) {
			return nil
		}
		return err
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited:
		return nil
	case <-t.C:
	}
	if err := p.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	<-p.exited
	return nil
}

// ExitError is how a child ended when it did not succeed. errors.Is
// matches Cause (ErrNoMain, ErrNotRegistered) when there is one.
type ExitError struct {
	Name   string         // the name the child was started as
	Pid    int            // its process id
	Code   int            // exit status; -1 if a signal killed it
	Signal syscall.Signal // the signal that killed it, or 0
	Err    string         // the text of the error the Func returned (or why it could not run)
	Panic  string         // the value and stack of the Func's panic
	Crash  string         // what the Go runtime wrote when the child crashed (first 64 KiB)
	Cause  error          // ErrNoMain, ErrNotRegistered, or nil
}

func (e *ExitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "proc: child %q (pid %d) ", e.Name, e.Pid)
	switch {
	case e.Signal != 0:
		fmt.Fprintf(&b, "killed by signal %d (%v)", int(e.Signal), e.Signal)
	default:
		fmt.Fprintf(&b, "exited with status %d", e.Code)
	}
	switch {
	case errors.Is(e.Cause, ErrNoMain):
		b.WriteString(" without calling proc.Main")
	case e.Panic != "":
		b.WriteString(": panic: ")
		b.WriteString(e.Panic)
	case e.Err != "":
		b.WriteString(": ")
		b.WriteString(e.Err)
	}
	if e.Crash != "" {
		b.WriteString("\ncrash output:\n")
		b.WriteString(e.Crash)
	}
	return b.String()
}

func (e *ExitError) Unwrap() error { return e.Cause }
