package csp

import (
	"context"
	"fmt"
	"time"

	"github.com/ipckit/ipckit/internal/abi"
	"github.com/ipckit/ipckit/internal/futex"
)

// Guard is one alternative of a Select: an input guard (Receive), a timeout
// guard (Timeout) or a skip guard (Skip), as PyCSP's InputGuard,
// TimeoutGuard and SkipGuard.
type Guard struct {
	in   input
	kind int
	d    time.Duration
}

const (
	guardInput = iota + 1
	guardTimeout
	guardSkip
)

// input is a reader end with the destination of the value it takes.
type input interface {
	try() error                               // take a value; ErrEmpty when none is ready
	prepare() (w word, ready bool, err error) // register as a sleeper (ready: nothing registered; w still names the word)
	finish()                                  // end the registration of prepare
	liveness()                                // after a sleep timed out
}

type recvGuard[T any] struct {
	r   *Reader[T]
	dst *T
}

func (g *recvGuard[T]) try() error { return g.r.take(g.dst) }

func (g *recvGuard[T]) prepare() (word, bool, error) {
	addr, val, ready, err := g.r.c.PrepareWait()
	if err != nil {
		return word{}, false, ringErr(err)
	}
	if ready {
		return word{addr, val}, true, nil
	}
	if g.r.s.loadState()&(stPoisoned|stWritersGone) != 0 {
		g.r.c.FinishWait()
		return word{addr, val}, true, nil
	}
	return word{addr, val}, false, nil
}

func (g *recvGuard[T]) finish()   { g.r.c.FinishWait() }
func (g *recvGuard[T]) liveness() { g.r.liveness() }

// Receive is an input guard: when Select chooses it, it has received a value
// from r into *dst (or the error r's Receive would have returned:
// ErrPoisoned, io.EOF, ErrPeerDead ...).
func Receive[T any](r *Reader[T], dst *T) Guard {
	return Guard{kind: guardInput, in: &recvGuard[T]{r: r, dst: dst}}
}

// Timeout is a guard that Select chooses when d has passed since Select
// began and no input guard was ready.
func Timeout(d time.Duration) Guard { return Guard{kind: guardTimeout, d: d} }

// Skip is a guard that Select chooses at once when no input guard is
// ready: with it Select never waits.
func Skip() Guard { return Guard{kind: guardSkip} }

// maxInputs is how many input guards a Select may have: futex_waitv takes
// 128 words, one of which is the cancellation word.
const maxInputs = futex.FutexWaitvMax - 1

// Alt is a reusable selection over guards (PyCSP's Alternation). Reusing
// one keeps Select from allocating, and its FairSelect remembers which
// guard fired last. An Alt is not safe for concurrent use, and the reader
// ends in its guards must not be used by another goroutine while it
// selects.
type Alt struct {
	guards  []Guard
	next    int // FairSelect: where the next scan starts
	ws      []word
	regs    []input
	scratch []abi.FutexWaitv
	err     error
}

// NewAlt returns an Alt over guards.
func NewAlt(guards ...Guard) *Alt {
	a := &Alt{guards: guards}
	n, timeouts, skips := 0, 0, 0
	for _, g := range guards {
		switch g.kind {
		case guardInput:
			n++
		case guardTimeout:
			timeouts++
		case guardSkip:
			skips++
		default:
			a.err = fmt.Errorf("csp: a zero Guard (make guards with Receive, Timeout and Skip)")
		}
	}
	if n > maxInputs {
		a.err = fmt.Errorf("csp: Select over %d input guards; at most %d", n, maxInputs)
	}
	a.ws = make([]word, 0, n)
	a.regs = make([]input, 0, n)
	a.scratch = make([]abi.FutexWaitv, n+1)
	return a
}

// Select waits until one of the guards is ready and returns its index:
// an input guard whose channel had a value (stored through its dst) or
// would return an error (returned with the index: ErrPoisoned, io.EOF,
// ErrPeerDead, ErrClosed ...), else a Skip guard at once, else a Timeout
// guard when its time has passed. When several input guards are ready the
// first in the list wins (PyCSP's PriSelect); FairSelect rotates instead.
// Skip and Timeout guards fire only when no input guard is ready,
// wherever they are in the list. Exactly one input guard takes a value
// per Select.
//
// Select sleeps in the kernel on every channel at once (futex_waitv,
// Linux 5.16+, on the rings' futex words in shared memory), so a value
// sent by any process wakes it; it never polls. Where futex_waitv is
// missing (older kernels, qemu-user) it sleeps on each channel's word in a
// goroutine of its own (an OS thread each while it sleeps, woken and
// released when any one returns), which costs threads and allocations but
// keeps every guarantee. When ctx is done first Select returns -1 and
// ctx.Err(). With a context that cannot be cancelled a reused Alt over raw
// channels does not allocate.
func (a *Alt) Select(ctx context.Context) (int, error) { return a.sel(ctx, false) }

// FairSelect is Select that, when several input guards are ready, chooses
// the one after the guard it chose last time (in list order, wrapping), so
// that a busy channel cannot starve the others (PyCSP's FairSelect).
func (a *Alt) FairSelect(ctx context.Context) (int, error) { return a.sel(ctx, true) }

// Select is NewAlt(guards...).Select(ctx).
func Select(ctx context.Context, guards ...Guard) (int, error) {
	return NewAlt(guards...).Select(ctx)
}

func (a *Alt) sel(ctx context.Context, fair bool) (int, error) {
	if a.err != nil {
		return -1, a.err
	}
	n := len(a.guards)
	timeoutIdx, skipIdx := -1, -1
	var deadline time.Time
	for i, g := range a.guards {
		switch g.kind {
		case guardTimeout:
			if timeoutIdx < 0 || g.d < a.guards[timeoutIdx].d {
				timeoutIdx = i
			}
		case guardSkip:
			if skipIdx < 0 {
				skipIdx = i
			}
		}
	}
	if timeoutIdx >= 0 {
		deadline = time.Now().Add(a.guards[timeoutIdx].d)
	}
	// scan tries every input guard once, from the start (or, fair, from
	// after the last winner); -1 when none was ready.
	var idx int
	var err error
	scan := func() bool {
		first := 0
		if fair && n > 0 {
			first = a.next % n
		}
		for k := 0; k < n; k++ {
			i := first + k
			if i >= n {
				i -= n
			}
			g := a.guards[i]
			if g.kind != guardInput {
				continue
			}
			if e := g.in.try(); e != ErrEmpty {
				idx, err = i, e
				if fair {
					a.next = i + 1
				}
				return true
			}
		}
		return false
	}
	if scan() {
		return idx, err
	}
	if skipIdx >= 0 {
		return skipIdx, nil
	}
	if spinUntil(scan) {
		return idx, err
	}
	for stall := 0; ; stall++ {
		if scan() {
			return idx, err
		}
		if timeoutIdx >= 0 && !time.Now().Before(deadline) {
			return timeoutIdx, nil
		}
		if e := ctx.Err(); e != nil {
			return -1, e
		}
		// Register on every channel, collecting their words (once each:
		// two guards may share a channel). A guard found ready registers
		// nothing; the others are finished below.
		ws, regs := a.ws[:0], a.regs[:0]
		ready := false
		var perr error
		perrIdx := -1
		for i, g := range a.guards {
			if g.kind != guardInput {
				continue
			}
			w, rdy, e := g.in.prepare()
			if e != nil {
				perr, perrIdx = e, i
				break
			}
			if rdy {
				ready = true
			} else {
				regs = append(regs, g.in)
			}
			dup := false
			for _, x := range ws {
				if x.addr == w.addr {
					dup = true
					if x.val != w.val {
						ready = true // it moved between two registrations
					}
				}
			}
			if !dup {
				ws = append(ws, w)
			}
		}
		timedOut, liveTick := false, false
		var serr error
		switch {
		case perr != nil:
		case ready && stall < stallLimit:
			// Look again at once.
		case len(ws) > 0:
			d := livenessInterval
			if ready {
				d = stallSleep(stall) // "ready" again and again with nothing to take
			}
			until := time.Now().Add(d)
			if timeoutIdx >= 0 && deadline.Before(until) {
				until = deadline
			}
			timedOut, serr = sleep(ctx, ws, until, a.scratch)
			liveTick = timedOut && d == livenessInterval && (timeoutIdx < 0 || time.Now().Before(deadline))
		default:
			// Only timeout guards (or none): sleep on nothing.
			if timeoutIdx < 0 {
				<-ctx.Done()
				serr = ctx.Err()
			} else {
				t := time.NewTimer(time.Until(deadline))
				select {
				case <-ctx.Done():
					serr = ctx.Err()
				case <-t.C:
				}
				t.Stop()
			}
		}
		for _, g := range regs {
			g.finish()
		}
		a.ws, a.regs = ws[:0], regs[:0]
		if perr != nil {
			return perrIdx, perr
		}
		if serr != nil {
			return -1, serr
		}
		if liveTick {
			for _, g := range a.guards {
				if g.kind == guardInput {
					g.in.liveness()
				}
			}
		}
	}
}
