package proc

import (
	"context"
	"fmt"
	"reflect"
)

// PoolOf is a Pool whose tasks and results are Go values, encoded with the
// codecs the task was registered with (RegisterTaskOf: DefaultCodec, which
// copies fixed-size pointer-free types raw, with no allocation per task,
// and uses gob for the others). It is safe for concurrent use.
type PoolOf[In, Out any] struct {
	*Pool
	in  Codec[In]
	out Codec[Out]
}

// NewPoolOf starts a pool for the task registered as name with
// RegisterTaskOf[In, Out] (or RegisterTaskCodec); In and Out must be the
// types it was registered with.
func NewPoolOf[In, Out any](ctx context.Context, name string, o *PoolOptions) (*PoolOf[In, Out], error) {
	if !mainCalled.Load() {
		return nil, fmt.Errorf("%w: call proc.Main() first in main (and in TestMain)", ErrNoMain)
	}
	e := lookupTask(name)
	if e == nil {
		return nil, fmt.Errorf("%w: task %q (call proc.RegisterTaskOf from an init function)", ErrNotRegistered, name)
	}
	in, out := reflect.TypeFor[In](), reflect.TypeFor[Out]()
	if e.in != in || e.out != out {
		return nil, fmt.Errorf("proc: task %q takes %v and returns %v, not %v and %v", name, typeName(e.in), typeName(e.out), in, out)
	}
	p, err := newPool(ctx, name, e, o)
	if err != nil {
		return nil, err
	}
	return &PoolOf[In, Out]{Pool: p, in: e.inC.(Codec[In]), out: e.outC.(Codec[Out])}, nil
}

func typeName(t reflect.Type) string {
	if t == nil {
		return "[]byte (RegisterTask)"
	}
	return t.String()
}

// Map runs the task on every element of in and returns the results in
// order; errors are as for Pool.Map (the result of a failed task is the
// zero value).
func (p *PoolOf[In, Out]) Map(ctx context.Context, in []In) ([]Out, error) {
	out := make([]Out, len(in))
	j := &job{
		enc: func(i int, dst []byte) ([]byte, error) { return p.in.Append(dst, &in[i]) },
		dec: func(i int, res []byte, _ *arena) error { return p.out.Decode(res, &out[i]) },
	}
	if err := p.run(ctx, j, len(in)); err != nil {
		return nil, err
	}
	if j.err != nil {
		return out, j.err
	}
	return out, nil
}

// Submit queues one task and returns at once; ResultOf.Wait gives its
// result. v is encoded when a worker takes it; it is copied now.
func (p *PoolOf[In, Out]) Submit(v In) (*ResultOf[Out], error) {
	r := &ResultOf[Out]{}
	r.j = &job{
		enc: func(_ int, dst []byte) ([]byte, error) { return p.in.Append(dst, &v) },
		dec: func(_ int, res []byte, _ *arena) error { return p.out.Decode(res, &r.val) },
	}
	if err := p.enqueue(r.j, 1); err != nil {
		return nil, err
	}
	return r, nil
}

// ResultOf is the future result of PoolOf.Submit.
type ResultOf[Out any] struct {
	j   *job
	val Out
}

// Wait waits for the task's result, as ctx allows.
func (r *ResultOf[Out]) Wait(ctx context.Context) (Out, error) {
	var zero Out
	select {
	case <-r.j.done:
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	if r.j.err != nil {
		return zero, r.j.err
	}
	return r.val, nil
}
