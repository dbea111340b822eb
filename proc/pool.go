package proc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/errs"
	"github.com/ipckit/ipckit/mmapring"
)

var (
	// ErrWorkerDied is matched by a TaskError for a task whose worker
	// process died while running it.
	ErrWorkerDied = errors.New("proc: pool worker died")
	// ErrClosed is matched by the errors of a Pool's methods after Close
	// or Terminate, and of tasks that Terminate cancelled. It is ipckit's
	// one closed-handle error (the same value as posix.ErrClosed and
	// mmapring.ErrClosed) and matches os.ErrClosed.
	ErrClosed = errs.ErrClosed
	// errPoolClosed is what the pool returns: ErrClosed, saying which
	// handle was closed.
	errPoolClosed = fmt.Errorf("proc: pool closed: %w", ErrClosed)
	// ErrTooLarge is matched by a TaskError for a task whose encoding
	// does not fit in a worker's ring (PoolOptions.RingSize).
	ErrTooLarge = errors.New("proc: task larger than the pool's rings allow")
)

// TaskError is the error of one task. errors.Is matches ErrWorkerDied (with
// the worker's *ExitError too), ErrTooLarge or ErrClosed where they apply.
type TaskError struct {
	Index int // the task's index in Map's input (0 for Submit)
	Err   error
}

func (e *TaskError) Error() string { return fmt.Sprintf("proc: task %d: %v", e.Index, e.Err) }
func (e *TaskError) Unwrap() error { return e.Err }

// PoolOptions are NewPool's optional settings; nil means defaults.
type PoolOptions struct {
	// Workers is the number of worker processes (0: runtime.NumCPU()).
	Workers int
	// RingSize is the size in bytes of each worker's task ring and of its
	// result ring: a power of two of at least 4096 (0: 1 MiB). A task's
	// or result's encoding must fit in half of it.
	RingSize int
	// ChunkSize caps how many tasks go to a worker in one message (0:
	// 1024). The pool sends smaller chunks when fewer tasks wait, so that
	// the last ones spread over every worker.
	ChunkSize int
	// Process sets the workers' standard streams, environment, directory
	// and start timeout (its Handles must be empty).
	Process *Options
}

// Pool is a set of worker processes that run a registered task, like
// Python's multiprocessing.Pool. Tasks queue in the parent; each worker
// has a private pair of SPSC rings (tasks in, results out), and the pool
// keeps every worker fed with chunks of tasks; see the package
// documentation for the design. A worker that dies fails the
// task it was running with a TaskError matching ErrWorkerDied, which
// names the task and how the worker ended; its other tasks go to the
// other workers, and the pool starts a replacement. A Pool is safe for
// concurrent use.
type Pool struct {
	name     string
	entry    *taskEntry
	workers  int
	ringSize int
	chunk    int
	popts    Options
	ctlFile  *os.File
	ctl      []byte

	q     taskQueue
	slots []*poolSlot
	wg    sync.WaitGroup

	mu         sync.Mutex
	closing    chan struct{} // closed by Close and Terminate
	terminated chan struct{} // closed by Terminate
	state      int           // 0 open, 1 closing, 2 terminated
	fatal      error         // every slot gave up: why
	live       int           // slots still serving
	stopCtx    func() bool
	closeOnce  sync.Once

	replaced atomic.Int64
}

// NewPool starts o.Workers processes that run the task registered as name
// (RegisterTask). It returns when every worker has called Main.
// Cancelling ctx terminates the pool (Terminate).
func NewPool(ctx context.Context, name string, o *PoolOptions) (*Pool, error) {
	if !mainCalled.Load() {
		return nil, fmt.Errorf("%w: call proc.Main() first in main (and in TestMain)", ErrNoMain)
	}
	e := lookupTask(name)
	if e == nil {
		return nil, fmt.Errorf("%w: task %q (call proc.RegisterTask from an init function)", ErrNotRegistered, name)
	}
	return newPool(ctx, name, e, o)
}

func newPool(ctx context.Context, name string, e *taskEntry, o *PoolOptions) (*Pool, error) {
	if o == nil {
		o = &PoolOptions{}
	}
	p := &Pool{name: name, entry: e, workers: o.Workers, ringSize: o.RingSize, chunk: o.ChunkSize,
		closing: make(chan struct{}), terminated: make(chan struct{})}
	if p.workers <= 0 {
		p.workers = runtime.NumCPU()
	}
	if p.ringSize == 0 {
		p.ringSize = 1 << 20
	}
	if p.ringSize < 4096 || p.ringSize&(p.ringSize-1) != 0 {
		return nil, fmt.Errorf("proc: pool ring size %d is not a power of two of at least 4096", p.ringSize)
	}
	if p.chunk <= 0 {
		p.chunk = 1024
	}
	if o.Process != nil {
		if len(o.Process.Handles) > 0 {
			return nil, errors.New("proc: PoolOptions.Process.Handles must be empty")
		}
		p.popts = *o.Process
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := ensureTracker(); err != nil {
		return nil, err
	}
	p.q.avail = make(chan struct{}, 1)
	// The control memfd: one started-task word per worker slot.
	size := (p.workers*ctlStride + 4095) &^ 4095
	fd, err := unix.MemfdCreate("ipckit-pool", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	p.ctlFile = os.NewFile(uintptr(fd), "ipckit-pool")
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		p.ctlFile.Close()
		return nil, os.NewSyscallError("ftruncate", err)
	}
	p.ctl, err = unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		p.ctlFile.Close()
		return nil, os.NewSyscallError("mmap", err)
	}
	p.slots = make([]*poolSlot, p.workers)
	errs := make([]error, p.workers)
	var started sync.WaitGroup
	for i := range p.slots {
		s := &poolSlot{p: p, idx: i, word: (*uint64)(unsafe.Pointer(&p.ctl[i*ctlStride])),
			window: 2 * p.chunk}
		p.slots[i] = s
		started.Add(1)
		go func() {
			defer started.Done()
			errs[i] = s.spawn()
		}()
	}
	started.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, s := range p.slots {
			if s.proc != nil {
				s.stop(true)
			}
		}
		p.release()
		return nil, fmt.Errorf("proc: starting the pool's workers: %w", err)
	}
	p.live = p.workers
	for _, s := range p.slots {
		p.wg.Add(1)
		go s.run()
	}
	p.stopCtx = context.AfterFunc(ctx, func() { p.Terminate() })
	return p, nil
}

// Workers returns the number of worker slots.
func (p *Pool) Workers() int { return p.workers }

// Replaced returns how many workers have died so far; each is replaced
// by a new one (unless the pool is closing, or the slot gave up because
// its workers kept dying before they started a task).
func (p *Pool) Replaced() int { return int(p.replaced.Load()) }

// Map runs the task on every element of tasks and returns the results in
// the same order, waiting as ctx allows. If tasks fail, the error is the
// *TaskError of the first failing task (lowest index) and the results of
// the others are still filled in (nil for the failed ones). tasks must
// not change until Map returns. If ctx is done first, Map returns
// ctx.Err(), and tasks not yet sent to a worker are dropped.
func (p *Pool) Map(ctx context.Context, tasks [][]byte) ([][]byte, error) {
	out := make([][]byte, len(tasks))
	j := &job{
		enc: func(i int, dst []byte) ([]byte, error) { return append(dst, tasks[i]...), nil },
		dec: func(i int, res []byte, a *arena) error { out[i] = a.copy(res); return nil },
	}
	if err := p.run(ctx, j, len(tasks)); err != nil {
		return nil, err
	}
	if j.err != nil {
		return out, j.err
	}
	return out, nil
}

// Submit queues one task and returns at once; Result.Wait gives its
// result. The task is copied.
func (p *Pool) Submit(task []byte) (*Result, error) {
	task = append([]byte(nil), task...)
	r := &Result{}
	r.j = &job{
		enc: func(_ int, dst []byte) ([]byte, error) { return append(dst, task...), nil },
		dec: func(_ int, res []byte, _ *arena) error { r.val = append([]byte(nil), res...); return nil },
	}
	if err := p.enqueue(r.j, 1); err != nil {
		return nil, err
	}
	return r, nil
}

// Result is the future result of a task given to Submit.
type Result struct {
	j   *job
	val []byte
}

// Wait waits for the task's result, as ctx allows.
func (r *Result) Wait(ctx context.Context) ([]byte, error) {
	select {
	case <-r.j.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if r.j.err != nil {
		return nil, r.j.err
	}
	return r.val, nil
}

// run queues j's n tasks and waits for them.
func (p *Pool) run(ctx context.Context, j *job, n int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := p.enqueue(j, n); err != nil {
		return err
	}
	select {
	case <-j.done:
		return nil
	case <-ctx.Done():
		j.cancelled.Store(true)
		p.q.drop(j)
		return ctx.Err()
	}
}

func (p *Pool) enqueue(j *job, n int) error {
	j.done = make(chan struct{})
	j.remaining.Store(int64(n))
	if n == 0 {
		close(j.done)
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != 0 {
		return errPoolClosed
	}
	if p.fatal != nil {
		return p.fatal
	}
	p.q.push(j, 0, n)
	return nil
}

// Close stops the pool gracefully: Map and Submit fail with ErrClosed from
// now on, tasks already queued are run, then the workers are told there
// are no more tasks, exit, and are reaped. Close returns when they have;
// a second Close returns nil. Use Terminate to stop at once.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.state == 0 {
		p.state = 1
		close(p.closing)
	}
	p.mu.Unlock()
	return p.finish()
}

// Terminate stops the pool at once: workers are killed, and queued and
// running tasks fail with ErrClosed. It returns when the workers are
// reaped.
func (p *Pool) Terminate() error {
	p.mu.Lock()
	if p.state < 2 {
		if p.state == 0 {
			close(p.closing)
		}
		p.state = 2
		close(p.terminated)
	}
	p.mu.Unlock()
	p.q.failAll(errPoolClosed)
	return p.finish()
}

func (p *Pool) finish() error {
	p.wg.Wait()
	p.closeOnce.Do(func() {
		if p.stopCtx != nil {
			p.stopCtx()
		}
		p.q.failAll(errPoolClosed) // nothing can run them any more
		p.release()
	})
	return nil
}

func (p *Pool) release() {
	if p.ctl != nil {
		unix.Munmap(p.ctl)
		p.ctl = nil
	}
	if p.ctlFile != nil {
		p.ctlFile.Close()
	}
}

func (p *Pool) isTerminated() bool {
	select {
	case <-p.terminated:
		return true
	default:
		return false
	}
}

// slotGone records that a slot gave up (its workers keep dying before
// they run anything); when none is left, queued and future tasks fail.
func (p *Pool) slotGone(err error) {
	p.mu.Lock()
	p.live--
	last := p.live == 0
	if last && p.fatal == nil {
		p.fatal = fmt.Errorf("proc: every worker of the pool keeps dying: %w", err)
	}
	fatal := p.fatal
	p.mu.Unlock()
	if last {
		p.q.failAll(fatal)
	}
}

// ---- jobs and the queue ----

// job is one Map call or Submit: n tasks, how to encode each and where
// to put each result.
type job struct {
	enc       func(i int, dst []byte) ([]byte, error)
	dec       func(i int, res []byte, a *arena) error
	remaining atomic.Int64
	done      chan struct{}
	cancelled atomic.Bool

	mu  sync.Mutex
	err *TaskError // lowest-index failure; read after done
}

// finish records the result of task i. It returns true when the caller
// is to count the task complete (complete(n) for several at once); a
// failure is counted at once.
func (j *job) finish(i int, status uint32, payload []byte, a *arena) bool {
	if !j.cancelled.Load() {
		switch status {
		case resultOK:
			if err := j.dec(i, payload, a); err != nil {
				j.fail(i, fmt.Errorf("decoding the result: %w", err))
				return false
			}
		case resultPanic:
			j.fail(i, fmt.Errorf("proc: the task panicked in the worker: %s", payload))
			return false
		default:
			j.fail(i, errors.New(string(payload)))
			return false
		}
	}
	return true
}

func (j *job) fail(i int, err error) {
	j.mu.Lock()
	if j.err == nil || i < j.err.Index {
		j.err = &TaskError{Index: i, Err: err}
	}
	j.mu.Unlock()
	j.complete(1)
}

// complete counts n tasks of j done.
func (j *job) complete(n int) {
	if j.remaining.Add(int64(-n)) == 0 {
		close(j.done)
	}
}

type taskRef struct {
	j *job
	i int
}

type qrange struct {
	j      *job
	lo, hi int
}

// taskQueue holds the tasks not yet sent to a worker, as ranges of jobs'
// indices, so that a Map of any length costs one entry.
type taskQueue struct {
	mu      sync.Mutex
	items   []qrange // items[head:] are pending
	head    int
	pending int
	avail   chan struct{} // a token when tasks may be waiting
}

func (q *taskQueue) signal() {
	select {
	case q.avail <- struct{}{}:
	default:
	}
}

func (q *taskQueue) push(j *job, lo, hi int) {
	q.mu.Lock()
	q.items = append(q.items, qrange{j, lo, hi})
	q.pending += hi - lo
	q.mu.Unlock()
	q.signal()
}

// pushFront puts tasks back at the head of the queue, in order.
func (q *taskQueue) pushFront(refs []taskRef) {
	if len(refs) == 0 {
		return
	}
	var rs []qrange
	for _, r := range refs {
		if n := len(rs); n > 0 && rs[n-1].j == r.j && rs[n-1].hi == r.i {
			rs[n-1].hi++
			continue
		}
		rs = append(rs, qrange{r.j, r.i, r.i + 1})
	}
	q.mu.Lock()
	if q.head >= len(rs) {
		q.head -= len(rs)
		copy(q.items[q.head:], rs)
	} else {
		q.items = append(rs, q.items[q.head:]...)
		q.head = 0
	}
	q.pending += len(refs)
	q.mu.Unlock()
	q.signal()
}

// take moves up to max tasks to dst: fewer when few wait, so that the
// last tasks spread over the workers (chunk is the most per message,
// workers the number of workers).
func (q *taskQueue) take(dst []taskRef, max, chunk, workers int) []taskRef {
	q.mu.Lock()
	n := q.pending / (2 * workers)
	if n < 1 {
		n = 1
	}
	if n > chunk {
		n = chunk
	}
	if n > max {
		n = max
	}
	for len(dst) < n && q.head < len(q.items) {
		it := &q.items[q.head]
		if it.j.cancelled.Load() {
			q.pending -= it.hi - it.lo
			it.lo = it.hi
		}
		for it.lo < it.hi && len(dst) < n {
			dst = append(dst, taskRef{it.j, it.lo})
			it.lo++
			q.pending--
		}
		if it.lo == it.hi {
			q.items[q.head] = qrange{}
			q.head++
		}
	}
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head > 64 && q.head > len(q.items)/2 {
		k := copy(q.items, q.items[q.head:])
		clear(q.items[k:])
		q.items, q.head = q.items[:k], 0
	}
	more := q.pending > 0
	q.mu.Unlock()
	if more {
		q.signal() // wake another idle worker
	}
	return dst
}

func (q *taskQueue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pending == 0
}

// drop removes the queued tasks of a cancelled job.
func (q *taskQueue) drop(j *job) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for k := q.head; k < len(q.items); k++ {
		if it := &q.items[k]; it.j == j {
			q.pending -= it.hi - it.lo
			it.lo = it.hi
		}
	}
}

// failAll fails every queued task with err.
func (q *taskQueue) failAll(err error) {
	q.mu.Lock()
	items := append([]qrange(nil), q.items[q.head:]...)
	q.items, q.head, q.pending = nil, 0, 0
	q.mu.Unlock()
	for _, it := range items {
		for i := it.lo; i < it.hi; i++ {
			it.j.fail(i, err)
		}
	}
}

// arena hands out result buffers carved from larger blocks, so that Map
// costs about one allocation per 64 KiB of results rather than one per
// result.
type arena struct{ buf []byte }

func (a *arena) copy(b []byte) []byte {
	if len(b) == 0 {
		return []byte{}
	}
	if len(b) > 16<<10 {
		return append([]byte(nil), b...)
	}
	if cap(a.buf)-len(a.buf) < len(b) {
		a.buf = make([]byte, 0, 64<<10)
	}
	n := len(a.buf)
	a.buf = append(a.buf, b...)
	return a.buf[n : n+len(b) : n+len(b)]
}

// ---- worker slots ----

// poolSlot runs one worker process after another: it feeds the worker
// chunks of tasks, collects its results, and replaces it when it dies.
type poolSlot struct {
	p      *Pool
	idx    int
	word   *uint64
	window int // most tasks in flight to one worker

	proc   *Process
	tr, rr *mmapring.Ring
	prod   *mmapring.Producer
	cons   *mmapring.Consumer
	ctx    context.Context
	cancel context.CancelFunc
	maxMsg int

	seq, ack uint64    // next sequence number to send, and to be answered
	inflight []taskRef // inflight[ih:] are sent and unanswered, in order
	ih       int
	refs     []taskRef // scratch for take
	scratch  []byte    // the message being built
	arena    arena
	doneJob  *job // results taken but not yet counted: doneN tasks of doneJob
	doneN    int
	bad      error // set by onResult on a malformed result
	onRes    func(msg []byte)
	barren   int   // workers in a row that died before answering anything
	lastExit error // how the last worker ended
}

func (s *poolSlot) pending() int { return len(s.inflight) - s.ih }

var (
	errWorkerExited = errors.New("proc: pool worker exited")
	errPoolDone     = errors.New("proc: pool done")
)

func (s *poolSlot) spawn() error {
	tr, err := mmapring.New(mmapring.Config{Kind: mmapring.KindSPSC, Capacity: s.p.ringSize})
	if err != nil {
		return err
	}
	rr, err := mmapring.New(mmapring.Config{Kind: mmapring.KindSPSC, Capacity: s.p.ringSize})
	if err != nil {
		tr.Close()
		return err
	}
	prod, err1 := tr.Producer()
	cons, err2 := rr.Consumer()
	if err := errors.Join(err1, err2); err != nil {
		tr.Close()
		rr.Close()
		return err
	}
	// The parent sleeps as soon as no result is ready, rather than spin:
	// on a host with few cores a spinning parent takes the CPU its
	// workers need (measured with BenchmarkPoolMap on 2 cores), and each
	// wake-up then drains a whole batch of results.
	cons.SetSpin(0)
	atomic.StoreUint64(s.word, 0)
	o := s.p.popts
	o.Handles = []any{tr, rr, s.p.ctlFile, s.idx, s.p.name}
	proc, err := start(context.Background(), workerName, &o, spawnConfig{})
	if err != nil {
		prod.Close()
		cons.Close()
		tr.Close()
		rr.Close()
		return err
	}
	s.proc, s.tr, s.rr, s.prod, s.cons = proc, tr, rr, prod, cons
	s.maxMsg = tr.MaxMessage()
	s.seq, s.ack = 0, 0
	s.inflight, s.ih = s.inflight[:0], 0
	s.bad = nil
	if s.onRes == nil {
		s.onRes = s.onResult
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	ctx, cancel := s.ctx, s.cancel
	go func() {
		select {
		case <-proc.exited:
		case <-s.p.terminated:
		case <-ctx.Done():
		}
		cancel()
	}()
	return nil
}

// stop ends the current worker: gracefully (no more tasks: it exits) or
// by SIGKILL; then it is reaped and its rings released.
func (s *poolSlot) stop(kill bool) {
	if kill {
		s.proc.Kill()
	} else {
		s.prod.Close()
	}
	<-s.proc.Done()
	s.release()
}

func (s *poolSlot) release() {
	s.cancel()
	s.prod.Close()
	s.cons.Close()
	s.tr.Close()
	s.rr.Close()
	s.proc = nil
}

func (s *poolSlot) run() {
	defer s.p.wg.Done()
	for {
		err := s.serve()
		switch {
		case s.p.isTerminated():
			s.failInflight(errPoolClosed)
			s.stop(true)
			return
		case err == errPoolDone:
			s.stop(false)
			return
		}
		// A worker that ran a task was doing its job; one that died before
		// starting any, three times in a row, means the slot cannot work.
		worked := s.ack > 0 || atomic.LoadUint64(s.word) != 0
		s.crashed()
		if worked {
			s.barren = 0
		} else {
			s.barren++
		}
		for {
			if s.p.isTerminated() {
				return
			}
			var serr error
			if s.barren >= 3 {
				serr = fmt.Errorf("its last workers died before starting a task, the last one: %w", s.lastExit)
			} else if serr = s.spawn(); serr == nil {
				break
			}
			s.p.slotGone(serr)
			return
		}
	}
}

// serve feeds and drains the current worker until it dies, the pool is
// done with it, or the pool is terminated.
func (s *poolSlot) serve() error {
	for {
		if err := s.fill(); err != nil {
			return err
		}
		if s.pending() == 0 {
			select {
			case <-s.p.q.avail:
				continue
			case <-s.proc.exited:
				return errWorkerExited
			case <-s.p.terminated:
				return errPoolClosed
			case <-s.p.closing:
				if s.p.q.empty() {
					return errPoolDone
				}
				// Others may be idle too: pass the word on.
				s.p.q.signal()
				continue
			}
		}
		_, err := s.cons.ReceiveBatch(s.ctx, 1024, s.onRes)
		s.flush()
		if s.bad != nil {
			return s.bad
		}
		if err != nil {
			return err
		}
	}
}

// fill sends chunks of queued tasks while the worker has room for them.
func (s *poolSlot) fill() error {
	for s.pending() < s.window {
		refs := s.p.q.take(s.refs[:0], s.window-s.pending(), s.p.chunk, s.p.workers)
		s.refs = refs[:0]
		if len(refs) == 0 {
			return nil
		}
		full, err := s.send(refs)
		if err != nil || full {
			return err
		}
	}
	return nil
}

// send encodes refs into one message and sends it. When the ring is full
// and results are pending it puts the tasks back and reports full: the
// caller then collects results (the worker may be waiting for room to
// send them), so the two never wait for each other.
func (s *poolSlot) send(refs []taskRef) (full bool, err error) {
	if s.ih > 0 && (s.ih == len(s.inflight) || s.ih >= cap(s.inflight)/2) {
		// Keep the FIFO compact: its length stays within two windows.
		n := copy(s.inflight, s.inflight[s.ih:])
		clear(s.inflight[n:])
		s.inflight, s.ih = s.inflight[:n], 0
	}
	b := append(s.scratch[:0], make([]byte, taskHeader)...)
	first := len(s.inflight)
	for k, r := range refs {
		start := len(b)
		b = append(b, 0, 0, 0, 0)
		b, err = r.j.enc(r.i, b)
		if err != nil {
			b = b[:start]
			r.j.fail(r.i, fmt.Errorf("encoding the task: %w", err))
			continue
		}
		l := len(b) - start - 4
		if len(b) > s.maxMsg {
			b = b[:start]
			if taskHeader+4+l > s.maxMsg {
				r.j.fail(r.i, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, l, s.maxMsg-taskHeader-4))
				continue
			}
			s.p.q.pushFront(refs[k:])
			break
		}
		binary.LittleEndian.PutUint32(b[start:], uint32(l))
		s.inflight = append(s.inflight, r)
	}
	s.scratch = b[:0]
	count := len(s.inflight) - first
	if count == 0 {
		return false, nil
	}
	binary.LittleEndian.PutUint64(b, s.seq)
	binary.LittleEndian.PutUint32(b[8:], uint32(count))
	binary.LittleEndian.PutUint32(b[12:], 0)
	if first > s.ih {
		err = s.prod.TrySend(b)
		if err == mmapring.ErrFull {
			s.p.q.pushFront(s.inflight[first:])
			clear(s.inflight[first:])
			s.inflight = s.inflight[:first]
			return true, nil
		}
	} else {
		// Nothing unanswered: the worker cannot be waiting to send a
		// result, so waiting for room is safe.
		err = s.prod.Send(s.ctx, b)
	}
	if err != nil {
		return false, err
	}
	s.seq += uint64(count)
	return false, nil
}

var errBadResult = errors.New("proc: malformed result from a pool worker")

// onResult takes one result message from the worker.
func (s *poolSlot) onResult(msg []byte) {
	if s.bad != nil {
		return
	}
	if len(msg) < resultHeader || s.pending() == 0 {
		s.bad = errBadResult
		return
	}
	seq := binary.LittleEndian.Uint64(msg)
	status := binary.LittleEndian.Uint32(msg[8:])
	l := binary.LittleEndian.Uint32(msg[12:])
	if seq != s.ack || uint64(l) != uint64(len(msg)-resultHeader) || status > resultPanic {
		s.bad = errBadResult
		return
	}
	r := s.inflight[s.ih]
	s.inflight[s.ih] = taskRef{}
	s.ih++
	s.ack++
	if r.j.finish(r.i, status, msg[resultHeader:], &s.arena) {
		// Count completions once per batch and job: the counter is shared
		// by every slot.
		if r.j != s.doneJob {
			s.flush()
			s.doneJob = r.j
		}
		s.doneN++
	}
}

// flush counts the completions onResult gathered.
func (s *poolSlot) flush() {
	if s.doneN > 0 {
		s.doneJob.complete(s.doneN)
	}
	s.doneJob, s.doneN = nil, 0
}

// crashed handles a worker that died (or misbehaved): it takes the
// results the worker committed, fails the task it was running, and
// queues the rest again.
func (s *poolSlot) crashed() {
	if s.proc.Alive() {
		s.proc.Kill() // a malformed result: the worker is not to be trusted
	}
	<-s.proc.Done()
	exit := s.proc.result()
	if exit == nil {
		exit = fmt.Errorf("proc: worker %d (pid %d) exited with status 0 in the middle of its tasks", s.idx, s.proc.Pid())
	}
	s.lastExit = exit
	s.p.replaced.Add(1) // before any task fails, so that a caller who saw the failure sees the count
	for s.bad == nil {
		msg, err := s.cons.TryPeek()
		if err != nil {
			break
		}
		s.onResult(msg)
		s.cons.Release()
	}
	s.flush()
	if s.pending() > 0 && atomic.LoadUint64(s.word) == s.ack+1 {
		r := s.inflight[s.ih]
		s.ih++
		r.j.fail(r.i, fmt.Errorf("%w while running it (worker %d, pid %d): %w", ErrWorkerDied, s.idx, s.proc.Pid(), exit))
	}
	s.p.q.pushFront(s.inflight[s.ih:])
	s.inflight, s.ih = s.inflight[:0:0], 0
	s.release()
}

func (s *poolSlot) failInflight(err error) {
	for _, r := range s.inflight[s.ih:] {
		r.j.fail(r.i, err)
	}
	s.inflight, s.ih = s.inflight[:0:0], 0
}
