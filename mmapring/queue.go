package mmapring

import (
	"context"
	"sync"
	"sync/atomic"
)

// Queue is a bounded multi-process queue with Python's JoinableQueue
// semantics, built on an MPMC ring: Put blocks while Maxsize messages are
// queued, Get blocks while none are, every Get is matched by a TaskDone,
// and Join waits until every message ever put has been marked done, in
// whichever process. A Queue is safe for concurrent use by goroutines.
type Queue struct {
	r   *Ring
	pmu sync.Mutex
	p   *Producer
	cmu sync.Mutex
	c   *Consumer
	cnt counters
}

// CreateQueue makes a queue in a new memfd for messages of up to msgSize
// bytes, holding at most maxsize messages.
func CreateQueue(maxsize, msgSize int) (*Queue, error) {
	r, err := Create(queueConfig(maxsize, msgSize))
	if err != nil {
		return nil, err
	}
	return &Queue{r: r}, nil
}

// QueueConfig returns the ring configuration of a queue, for CreateShm or
// CreatePath.
func QueueConfig(maxsize, msgSize int) Config { return queueConfig(maxsize, msgSize) }

func queueConfig(maxsize, msgSize int) Config {
	capacity := 2
	for capacity < maxsize {
		capacity <<= 1
	}
	return Config{Kind: KindMPMC, Capacity: capacity, CellSize: msgSize, Limit: maxsize}
}

// NewQueue wraps an MPMC ring (from Create, OpenFile, OpenShm ...) as a
// Queue; the Queue owns the ring from then on.
func NewQueue(r *Ring) (*Queue, error) {
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
	if q.p == nil {
		p, err := q.r.Producer()
		if err != nil {
			return err
		}
		q.p = p
	}
	// Count the task before it becomes visible, so Join can never see 0
	// while it is queued.
	atomic.AddUint64(q.r.u64(offUnfinished), 1)
	if err := q.p.Send(ctx, msg); err != nil {
		q.taskDone()
		return err
	}
	return nil
}

// Get receives the next message into buf, waiting as ctx allows.
func (q *Queue) Get(ctx context.Context, buf []byte) (int, error) {
	q.cmu.Lock()
	defer q.cmu.Unlock()
	if q.c == nil {
		c, err := q.r.Consumer()
		if err != nil {
			return 0, err
		}
		q.c = c
	}
	return q.c.Recv(ctx, buf)
}

// TaskDone marks one message got earlier as processed. Called more times
// than messages were put it returns ErrTaskDone.
func (q *Queue) TaskDone() error {
	if !q.taskDone() {
		return ErrTaskDone
	}
	return nil
}

func (q *Queue) taskDone() bool {
	u := q.r.u64(offUnfinished)
	for {
		n := atomic.LoadUint64(u)
		if n == 0 {
			return false
		}
		if atomic.CompareAndSwapUint64(u, n, n-1) {
			if n == 1 {
				var c counters
				c.notify(q.r.u32(offJoinEpoch))
			}
			return true
		}
	}
}

// Join blocks until every message put (by any process) is TaskDone, or
// ctx is done. It does not detect dead peers: a process that dies between
// Get and TaskDone leaves its task unfinished.
func (q *Queue) Join(ctx context.Context) error {
	u := q.r.u64(offUnfinished)
	epoch := q.r.u32(offJoinEpoch)
	waiters, need := waitersOf(epoch), needOf(epoch)
	for {
		if atomic.LoadUint64(u) == 0 {
			return nil
		}
		ep := atomic.LoadUint32(epoch)
		atomic.AddUint32(waiters, 1)
		atomic.StoreUint32(need, 1)
		if atomic.LoadUint64(u) == 0 {
			atomic.AddUint32(waiters, ^uint32(0))
			return nil
		}
		_, err := q.cnt.sleep(ctx, epoch, ep)
		atomic.AddUint32(waiters, ^uint32(0))
		if err != nil {
			return err
		}
	}
}

// Qsize returns the approximate number of queued messages.
func (q *Queue) Qsize() int {
	enq := atomic.LoadUint64(q.r.u64(offProdPos))
	deq := atomic.LoadUint64(q.r.u64(offConsPos))
	if enq < deq {
		return 0
	}
	return int(enq - deq)
}

// Unfinished returns the number of messages put and not yet TaskDone.
func (q *Queue) Unfinished() uint64 { return atomic.LoadUint64(q.r.u64(offUnfinished)) }

// Close closes the queue for Put (consumers drain, then get io.EOF) if
// closeRing, detaches this process's handles and unmaps the ring.
func (q *Queue) Close(closeRing bool) error {
	q.pmu.Lock()
	if q.p != nil {
		if closeRing {
			q.p.Close()
		} else {
			q.p.Detach()
		}
	} else if closeRing {
		if p, err := q.r.Producer(); err == nil {
			p.Close()
		}
	}
	q.pmu.Unlock()
	q.cmu.Lock()
	if q.c != nil {
		q.c.Close()
	}
	q.cmu.Unlock()
	return q.r.Close()
}
