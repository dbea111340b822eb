package csp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ipckit/ipckit/proc"
)

// Process is one member of Parallel: a child process that runs the Func
// registered with proc.Register as Name, handed Handles; or, when Func is
// set, a goroutine of this process running Func.
type Process struct {
	// Name is the proc.Func to run in a child process.
	Name string
	// Handles are passed to the child (proc.Options.Handles): channels,
	// ends and any other handle proc passes. For a Func member they only
	// name the channels it uses. Parallel poisons every channel named by
	// the Handles of every member when one fails.
	Handles []any
	// Options are the child's other settings (nil: defaults); their
	// Handles are replaced by the Handles above.
	Options *proc.Options
	// Func, when set, runs in this process instead of a child.
	Func func(ctx context.Context) error
}

// cspHandle is implemented by Chan, Writer and Reader.
type cspHandle interface {
	handleShared() (s *shared, slot int)
}

func (c *Chan[T]) handleShared() (*shared, int)   { return c.s, -1 }
func (w *Writer[T]) handleShared() (*shared, int) { return w.s, w.slot }
func (r *Reader[T]) handleShared() (*shared, int) { return r.s, r.slot }

// Parallel runs every member at once, the children as processes started
// with proc.Start, and waits until all have ended (PyCSP's Parallel). The
// first member to fail makes Parallel poison every channel named in the
// members' Handles, so that the others, blocked on those channels or using
// them later, end too; its error (a *proc.ExitError for a child) is what
// Parallel returns once all have ended.
//
// A member that ends with an error matching ErrPoisoned (for a child: an
// error whose text contains ErrPoisoned's) ended because the network was
// poisoned, which is how a CSP network shuts down: Parallel propagates the
// poison to every channel too, but does not count it as a failure. So
// Parallel returns nil when every member returned nil or was poisoned.
//
// An end passed to a child belongs to that child from its start: if the
// child dies without retiring it, even before opening it, the other side
// sees the end as dead. Cancelling ctx terminates the children (proc's
// SIGTERM, then SIGKILL) and cancels the Func members' contexts; Parallel
// then returns ctx.Err() unless a member had failed before. A member that
// cannot start fails Parallel in the same way as a member that failed.
func Parallel(ctx context.Context, members ...Process) error {
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var chans []*shared
	for _, m := range members {
		for _, h := range m.Handles {
			if ch, ok := h.(cspHandle); ok {
				s, _ := ch.handleShared()
				seen := false
				for _, x := range chans {
					seen = seen || x == s
				}
				if !seen {
					s.acquire()
					chans = append(chans, s)
				}
			}
		}
	}
	defer func() {
		for _, s := range chans {
			s.release()
		}
	}()

	var (
		mu       sync.Mutex
		firstErr error
		poisoned atomic.Bool
		wg       sync.WaitGroup
	)
	poisonAll := func() {
		if poisoned.Swap(true) {
			return
		}
		for _, s := range chans {
			s.poison()
		}
	}
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			if cerr := parent.Err(); cerr != nil {
				err = cerr // the caller's cancellation ended this member
			}
			firstErr = err
		}
		mu.Unlock()
		poisonAll()
	}
	end := func(err error) {
		switch {
		case err == nil:
		case isPoisonExit(err):
			poisonAll()
		default:
			fail(err)
		}
	}

	for i, m := range members {
		if m.Func != nil {
			wg.Add(1)
			go func(fn func(context.Context) error) {
				defer wg.Done()
				end(fn(ctx))
			}(m.Func)
			continue
		}
		var o proc.Options
		if m.Options != nil {
			o = *m.Options
		}
		o.Handles = m.Handles
		p, err := proc.Start(ctx, m.Name, &o)
		if err != nil {
			unpass(m.Handles)
			fail(fmt.Errorf("csp: Parallel member %d (%s): %w", i, m.Name, err))
			continue
		}
		// The child holds its ends from now on, even before it opens them.
		child := identOf(p.Pid())
		for _, h := range m.Handles {
			if ch, ok := h.(cspHandle); ok {
				if s, slot := ch.handleShared(); slot >= 0 {
					s.moveTo(slot, child)
				}
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			end(p.Wait(context.Background()))
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if firstErr == nil && parent.Err() != nil {
		// The caller's ctx ended the members, which may all have returned
		// nil or poisoned.
		return parent.Err()
	}
	return firstErr
}

// isPoisonExit reports whether a member ended because a channel was
// poisoned.
func isPoisonExit(err error) bool {
	if errors.Is(err, ErrPoisoned) {
		return true
	}
	var ee *proc.ExitError
	return errors.As(err, &ee) && ee.Code == proc.StatusError && strings.Contains(ee.Err, ErrPoisoned.Error())
}

// unpass gives back to this process the ends a failed Start may have
// marked as passed (nobody took them).
func unpass(handles []any) {
	for _, h := range handles {
		if e, ok := h.(interface{ unpass() }); ok {
			e.unpass()
		}
	}
}

func (e *end) unpass() {
	if e.passed && !e.done && e.s != nil {
		if e.s.holds(e.slot) {
			e.passed = false
		}
	}
}
