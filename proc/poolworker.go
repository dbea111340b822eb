package proc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"unsafe"

	"github.com/ipckit/ipckit/mmapring"
)

// TaskFunc is a pool task: it gets one task's bytes and appends its
// result to out (an empty slice with capacity kept from call to call)
// and returns it. task is valid only during the call. An error fails the
// task (its text reaches the caller); a panic does too, and the worker
// goes on with the next task.
type TaskFunc func(ctx context.Context, task, out []byte) ([]byte, error)

type taskEntry struct {
	fn      TaskFunc
	in, out reflect.Type // typed registrations; nil for TaskFunc
	inC     any          // Codec[In]
	outC    any          // Codec[Out]
}

var tasks = map[string]*taskEntry{} // guarded by regMu

// RegisterTask names fn so that a Pool can run it. Like Register, call it
// from an init function; it panics if name is empty or taken.
func RegisterTask(name string, fn TaskFunc) {
	if fn == nil {
		panic("proc: RegisterTask with a nil TaskFunc")
	}
	addTask(name, &taskEntry{fn: fn})
}

// RegisterTaskOf registers a typed task for PoolOf[In, Out], with
// DefaultCodec for both types.
func RegisterTaskOf[In, Out any](name string, fn func(context.Context, In) (Out, error)) {
	RegisterTaskCodec(name, fn, DefaultCodec[In](), DefaultCodec[Out]())
}

// RegisterTaskCodec is RegisterTaskOf with the codecs given. The worker
// decodes tasks and encodes results with them, and NewPoolOf uses the same
// codecs in the parent.
func RegisterTaskCodec[In, Out any](name string, fn func(context.Context, In) (Out, error), in Codec[In], out Codec[Out]) {
	if fn == nil || in == nil || out == nil {
		panic("proc: RegisterTaskCodec with a nil function or codec")
	}
	// The worker runs one task at a time, so one value of each type,
	// reused, keeps the per-task path free of allocations.
	var st struct {
		in  In
		out Out
	}
	wrapped := func(ctx context.Context, task, buf []byte) ([]byte, error) {
		var zero In
		st.in = zero
		if err := in.Decode(task, &st.in); err != nil {
			return buf, fmt.Errorf("decoding the task: %w", err)
		}
		r, err := fn(ctx, st.in)
		if err != nil {
			return buf, err
		}
		st.out = r
		b, err := out.Append(buf, &st.out)
		var zeroOut Out
		st.out = zeroOut
		if err != nil {
			return buf, fmt.Errorf("encoding the result: %w", err)
		}
		return b, nil
	}
	addTask(name, &taskEntry{fn: wrapped, in: reflect.TypeFor[In](), out: reflect.TypeFor[Out](), inC: in, outC: out})
}

func addTask(name string, e *taskEntry) {
	if name == "" {
		panic("proc: RegisterTask with an empty name")
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := tasks[name]; dup {
		panic("proc: task " + strconv.Quote(name) + " registered twice")
	}
	tasks[name] = e
}

func lookupTask(name string) *taskEntry {
	regMu.Lock()
	defer regMu.Unlock()
	return tasks[name]
}

// Wire format between the pool and a worker, on two SPSC rings per worker
// (little-endian):
//
//	task message:   seq0 u64 | count u32 | 0 u32 | count × (len u32 | bytes)
//	result message: seq u64 | status u32 | len u32 | bytes
//
// Task k of a message has sequence number seq0+k; the worker answers every
// task with one result, in order. Before it runs task s it stores s+1 in
// its word of the control memfd, so that when it dies the pool knows
// whether the first unanswered task had started (it failed with the
// worker) or not (it goes to another worker).
const (
	taskHeader   = 16
	resultHeader = 16
	ctlStride    = 64 // one cache line per worker slot

	resultOK    = 0
	resultError = 1
	resultPanic = 2
)

const workerName = "ipckit/proc.worker"

func init() { registerInternal(workerName, workerMain, false) }

// workerMain is a pool worker: handles 0 and 1 are its task and result
// rings, 2 the control memfd, 3 its slot, 4 the task name.
func workerMain(ctx context.Context, c *Child) error {
	name, err := c.String(4)
	if err != nil {
		return err
	}
	te := lookupTask(name)
	if te == nil {
		return fmt.Errorf("%w: no task registered as %q in the worker", ErrNotRegistered, name)
	}
	slot, err := c.Int(3)
	if err != nil {
		return err
	}
	ctl, err := c.Mapping(2)
	if err != nil {
		return err
	}
	defer ctl.Close()
	mem := ctl.Bytes()
	if slot < 0 || slot > (len(mem)-8)/ctlStride {
		return fmt.Errorf("proc: worker slot %d outside the control memory (%d bytes)", slot, len(mem))
	}
	word := (*uint64)(unsafe.Pointer(&mem[slot*ctlStride]))
	tr, err := c.Ring(0)
	if err != nil {
		return err
	}
	defer tr.Close()
	rr, err := c.Ring(1)
	if err != nil {
		return err
	}
	defer rr.Close()
	cons, err := tr.Consumer()
	if err != nil {
		return err
	}
	defer cons.Close()
	prod, err := rr.Producer()
	if err != nil {
		return err
	}
	defer prod.Close()
	w := &worker{fn: te.fn, word: word, cons: cons, prod: prod,
		buf: make([]byte, tr.MaxMessage()), out: make([]byte, 0, 4096), maxResult: rr.MaxMessage() - resultHeader}
	return w.run(ctx)
}

// worker is the worker side of a pool, separate from workerMain so that
// tests can run it inside one process.
type worker struct {
	fn        TaskFunc
	word      *uint64
	cons      *mmapring.Consumer
	prod      *mmapring.Producer
	buf, out  []byte
	maxResult int
}

var errCorruptTask = errors.New("proc: corrupt task message from the pool")

func (w *worker) run(ctx context.Context) error {
	for {
		n, err := w.cons.Receive(ctx, w.buf)
		if err == io.EOF {
			return nil // the pool closed: no more tasks
		}
		if err != nil {
			return err
		}
		if err := w.chunk(ctx, w.buf[:n]); err != nil {
			return err
		}
	}
}

// chunk runs the tasks of one message and sends their results.
func (w *worker) chunk(ctx context.Context, msg []byte) error {
	if len(msg) < taskHeader {
		return errCorruptTask
	}
	seq0 := binary.LittleEndian.Uint64(msg)
	count := binary.LittleEndian.Uint32(msg[8:])
	off := taskHeader
	for k := uint32(0); k < count; k++ {
		if len(msg)-off < 4 {
			return errCorruptTask
		}
		l := binary.LittleEndian.Uint32(msg[off:])
		off += 4
		if uint64(l) > uint64(len(msg)-off) {
			return errCorruptTask
		}
		task := msg[off : off+int(l) : off+int(l)]
		off += int(l)
		seq := seq0 + uint64(k)
		atomic.StoreUint64(w.word, seq+1)
		res, status := w.call(ctx, task)
		if status == resultOK && len(res) > w.maxResult {
			res, status = fmt.Appendf(w.out[:0], "result of %d bytes is larger than the pool's rings allow (%d)", len(res), w.maxResult), resultError
		}
		if err := w.send(ctx, seq, status, res); err != nil {
			return err
		}
	}
	if off != len(msg) {
		return errCorruptTask
	}
	return nil
}

// call runs one task, turning an error or a panic into an error result.
func (w *worker) call(ctx context.Context, task []byte) (res []byte, status uint32) {
	defer func() {
		if r := recover(); r != nil {
			res, status = fmt.Appendf(w.out[:0], "panic: %v\n\n%s", r, debug.Stack()), resultPanic
		}
	}()
	r, err := w.fn(ctx, task, w.out[:0])
	if err != nil {
		return append(w.out[:0], err.Error()...), resultError
	}
	// Keep a grown buffer for the next task, unless it is not ours.
	if cap(r) > cap(w.out) && !overlaps(r, w.buf) {
		w.out = r[:0]
	}
	return r, resultOK
}

func (w *worker) send(ctx context.Context, seq uint64, status uint32, res []byte) error {
	b, err := w.prod.Reserve(ctx, resultHeader+len(res))
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint64(b, seq)
	binary.LittleEndian.PutUint32(b[8:], status)
	binary.LittleEndian.PutUint32(b[12:], uint32(len(res)))
	copy(b[resultHeader:], res)
	return w.prod.Commit(resultHeader + len(res))
}

// overlaps reports whether a and b share memory.
func overlaps(a, b []byte) bool {
	if cap(a) == 0 || cap(b) == 0 {
		return false
	}
	a0 := uintptr(unsafe.Pointer(unsafe.SliceData(a)))
	b0 := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return a0 < b0+uintptr(cap(b)) && b0 < a0+uintptr(cap(a))
}
