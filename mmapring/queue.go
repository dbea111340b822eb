package mmapring

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
)

// Queue is a bounded multi-process queue with Python's JoinableQueue
// semantics, built on an MPMC ring: Put blocks while Maxsize messages are
// queued, Get blocks while none are, every Get is matched by a TaskDone,
// and Join waits until every message ever put has been marked done, in
// whichever process. A Queue is safe for concurrent use by goroutines,
// Close included: calls blocked in this process when it is closed return
// ErrClosed, and every later call returns ErrClosed.
//
// Tasks and dead processes: Put counts a task only once its message is
// written, just before committing it, so a producer killed while waiting
// for room (or while writing) leaves no task behind. What remains:
//   - a producer killed in the two instructions between counting and
//     committing leaves one task counted with no message;
//   - a consumer that dies between Get and TaskDone leaves its task
//     unfinished (the message itself was delivered);
//   - a consumer that dies inside Get, after claiming a message and before
//     freeing its cell, has the message redelivered to another consumer;
//     the task is counted once and finished once by that consumer. One
//     that dies after freeing the cell (in the wake-up just before Get
//     returns) leaves the task unfinished, as if it had died after Get.
//
// A Join blocked behind such a task waits until its context ends.
type Queue struct {
	r      *Ring
	closed atomic.Bool
	pmu    sync.Mutex
	p      *Producer
	cmu    sync.Mutex
	c      *Consumer
}

// NewQueue makes a queue in a new (sealed) memfd for messages of up to
// msgSize bytes, holding at most maxsize messages (1 … 2^32, and on 32-bit
// platforms 1 … 2^30).
func NewQueue(maxsize, msgSize int) (*Queue, error) {
	cfg := queueConfig(maxsize, msgSize)
	if cfg.Capacity < 0 {
		return nil, fmt.Errorf("mmapring: queue maxsize %d outside [1, %d]", maxsize, maxQueue())
	}
	r, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return &Queue{r: r}, nil
}

// maxQueue is the largest maxsize: the ring's cells are a power of two of
// at most 2^32 that must fit an int.
func maxQueue() uint64 {
	if uint64(math.MaxInt) < maxCells {
		return uint64(math.MaxInt)/2 + 1
	}
	return maxCells
}

// QueueConfig returns the ring configuration of a queue, for CreateShm or
// CreatePath. A maxsize outside the range NewQueue accepts gives a
// Config that every constructor refuses.
func QueueConfig(maxsize, msgSize int) Config { return queueConfig(maxsize, msgSize) }

func queueConfig(maxsize, msgSize int) Config {
	if maxsize < 1 || uint64(maxsize) > maxQueue() {
		// Capacity -1 is refused by every constructor (the doubling below
		// must never run past what fits).
		return Config{Kind: KindMPMC, Capacity: -1, CellSize: msgSize, Limit: maxsize}
	}
	capacity := uint64(2)
	for capacity < uint64(maxsize) {
		capacity <<= 1
	}
	return Config{Kind: KindMPMC, Capacity: int(capacity), CellSize: msgSize, Limit: maxsize}
}

// QueueFromRing wraps an MPMC ring (from New, FromFile, OpenShm ...) as a
// Queue; the Queue owns the ring from then on (its Close closes the ring).
func QueueFromRing(r *Ring) (*Queue, error) {
	if r.kind != KindMPMC {
		return nil, ErrWrongKind
	}
	return &Queue{r: r}, nil
}

// Ring returns the underlying ring (for File, to hand it to a child).
func (q *Queue) Ring() *Ring { return q.r }

// Put adds msg, waiting for room as ctx allows.
func (q *Queue) Put(ctx context.Context, msg []byte) error {
	q.pmu.Lock()
	defer q.pmu.Unlock()
	if q.closed.Load() {
		return ErrClosed
	}
	if q.p == nil {
		p, err := q.r.Producer()
		if err != nil {
			return err
		}
		p.countTasks = true
		q.p = p
	}
	return q.p.Send(ctx, msg)
}

// Get receives the next message into buf, waiting as ctx allows.
func (q *Queue) Get(ctx context.Context, buf []byte) (int, error) {
	q.cmu.Lock()
	defer q.cmu.Unlock()
	if q.closed.Load() {
		return 0, ErrClosed
	}
	if q.c == nil {
		c, err := q.r.Consumer()
		if err != nil {
			return 0, err
		}
		q.c = c
	}
	return q.c.Receive(ctx, buf)
}

// use runs fn with a reference to the mapping held (so Close cannot unmap
// it meanwhile) and the fault guard on where needed.
func (q *Queue) use(fn func() error) (err error) {
	if q.closed.Load() || !q.r.acquire() {
		return ErrClosed
	}
	defer q.r.release()
	if q.r.m.guard {
		defer q.r.m.contain(guardOn(), &err)
	}
	return fn()
}

// TaskDone marks one message got earlier as processed. Called more times
// than messages were put it returns ErrTaskDone.
func (q *Queue) TaskDone() error {
	return q.use(func() error {
		u := q.r.u64(offUnfinished)
		for i := 0; i < maxRetries; i++ {
			n := atomic.LoadUint64(u)
			if n == 0 {
				return ErrTaskDone
			}
			if cas64(u, n, n-1) {
				if n == 1 {
					var c counters
					return c.notify(q.r.u32(offJoinEpoch))
				}
				return nil
			}
		}
		return errBadPosition
	})
}

// Join blocks until every message put (by any process) is TaskDone, or
// ctx is done. See Queue for what dead processes leave behind.
func (q *Queue) Join(ctx context.Context) error {
	return q.use(func() error {
		var cnt counters // per call: Join may run in many goroutines
		u := q.r.u64(offUnfinished)
		epoch := q.r.u32(offJoinEpoch)
		waiters, need := waitersOf(epoch), needOf(epoch)
		for {
			if atomic.LoadUint64(u) == 0 {
				return nil
			}
			if q.closed.Load() || q.r.closed.Load() {
				return ErrClosed
			}
			ep := atomic.LoadUint32(epoch)
			add32(waiters, 1)
			st32(need, 1)
			if atomic.LoadUint64(u) == 0 {
				add32(waiters, ^uint32(0))
				return nil
			}
			_, err := cnt.sleep(ctx, epoch, ep, LivenessInterval)
			add32(waiters, ^uint32(0))
			if err != nil {
				return err
			}
		}
	})
}

// Qsize returns the approximate number of queued messages.
func (q *Queue) Qsize() (int, error) {
	var n int
	err := q.use(func() error {
		enq := atomic.LoadUint64(q.r.u64(offProdPos))
		deq := atomic.LoadUint64(q.r.u64(offConsPos))
		if enq > deq {
			n = int(enq - deq)
		}
		return nil
	})
	return n, err
}

// Unfinished returns the number of messages put and not yet TaskDone.
func (q *Queue) Unfinished() (uint64, error) {
	var n uint64
	err := q.use(func() error {
		n = atomic.LoadUint64(q.r.u64(offUnfinished))
		return nil
	})
	return n, err
}

// Shutdown ends the queue for every process, as Python 3.13's
// Queue.shutdown does: from then on Put fails with ErrClosed in every
// process, and Get returns what is still queued, then io.EOF. It wakes
// every blocked Put and Get, in every process. This process's Queue stays
// open (Get still drains it) until Close; Shutdown after Close returns
// ErrClosed. Shutting down twice is harmless.
func (q *Queue) Shutdown() error {
	return q.use(func() error {
		// As a producer's Close does.
		st32(q.r.u32(offClosed), 1)
		return errors.Join(bump(q.r.u32(offDataEpoch)), bump(q.r.u32(offSpaceEpoch)))
	})
}

// Close detaches this process from the queue (its producer and consumer
// registrations) and releases the ring; other processes go on using the
// queue (end it for everyone with Shutdown first). Calls blocked in this
// process return ErrClosed, and so does every later call. A second Close
// returns nil. Close does not unlink a name (see Ring.Unlink).
func (q *Queue) Close() error {
	if q.closed.Swap(true) {
		return nil
	}
	var errs []error
	// Closing the Ring wakes this process's blocked Put, Get and Join
	// (they return ErrClosed and free the locks); the handles keep the
	// mapping until they are closed below.
	errs = append(errs, q.r.Close())
	q.pmu.Lock()
	if q.p != nil {
		errs = append(errs, q.p.Detach())
		q.p = nil
	}
	q.pmu.Unlock()
	q.cmu.Lock()
	if q.c != nil {
		errs = append(errs, q.c.Close())
		q.c = nil
	}
	q.cmu.Unlock()
	return errors.Join(errs...)
}
