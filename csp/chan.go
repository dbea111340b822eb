package csp

import (
	"fmt"
	"hash/fnv"
	"os"
	"reflect"
	"sync/atomic"

	"github.com/ipckit/ipckit/proc"
)

// Encoding selects how values cross the channel.
type Encoding int

const (
	// Auto copies a fixed-size, pointer-free T raw and encodes any other T
	// with gob.
	Auto Encoding = iota
	// Raw copies values as their memory, with no allocation; NewChan fails
	// for a T that holds pointers, slices, maps, strings, interfaces,
	// channels or functions.
	Raw
	// Gob encodes every value with encoding/gob (proc.GobCodec).
	Gob
)

// Options are a channel's settings; nil means a rendezvous any-to-any
// channel with the Auto encoding.
type Options struct {
	// Capacity is how many values the channel buffers: Send waits while
	// Capacity values are queued. 0 makes a rendezvous channel, whose Send
	// returns only once a reader has taken the value.
	Capacity int
	// OneToOne declares that the channel has one writer end and one reader
	// end (at a time): it then runs on an SPSC ring, the fastest. Without
	// it the channel is any-to-any, on an MPMC ring.
	OneToOne bool
	// Encoding chooses raw copying or gob (Auto by default).
	Encoding Encoding
	// MaxMessage bounds the encoding of one value in bytes when values are
	// encoded (gob or a custom codec): a larger one fails Send with
	// ErrTooLarge. 0 means 4096. Raw channels ignore it.
	MaxMessage int
}

// Chan is a typed channel between processes. Make ends with Writer and
// Reader, here or in a child the Chan (or an end) was passed to. A Chan is
// safe for concurrent use; its ends are not (make one per goroutine).
type Chan[T any] struct {
	s      *shared
	codec  proc.Codec[T] // nil in raw mode
	closed atomic.Bool
}

// codecSpec resolves how values of T travel for enc (or a custom codec).
func codecSpec[T any](enc Encoding, custom proc.Codec[T]) (mode uint32, codec proc.Codec[T], elemSize int, codecFP uint64, err error) {
	t := reflect.TypeFor[T]()
	if custom != nil {
		h := fnv.New64a()
		h.Write([]byte(reflect.TypeOf(custom).String()))
		return modeCodec, custom, 0, h.Sum64() | 1, nil
	}
	why := notRaw(t)
	switch enc {
	case Auto:
		if why == "" {
			return modeRaw, nil, int(t.Size()), 0, nil
		}
		return modeGob, proc.GobCodec[T](), 0, 0, nil
	case Raw:
		if why != "" {
			return 0, nil, 0, 0, fmt.Errorf("csp: %v cannot be copied raw: %s (use Auto or Gob, or a codec)", t, why)
		}
		return modeRaw, nil, int(t.Size()), 0, nil
	case Gob:
		return modeGob, proc.GobCodec[T](), 0, 0, nil
	}
	return 0, nil, 0, 0, fmt.Errorf("csp: unknown encoding %d", enc)
}

// NewChan makes a channel of T in a new memfd (nothing is left behind
// when every process has closed it). A fixed-size, pointer-free T
// (numbers, arrays and structs of them) is copied raw; any other T is
// encoded with gob, unless o.Encoding says otherwise.
func NewChan[T any](o *Options) (*Chan[T], error) {
	var opt Options
	if o != nil {
		opt = *o
	}
	mode, codec, size, cfp, err := codecSpec[T](opt.Encoding, nil)
	if err != nil {
		return nil, err
	}
	return newChan(spec{t: reflect.TypeFor[T](), mode: mode, codecFP: cfp, elemSize: size, o: opt}, codec)
}

// NewChanCodec makes a channel whose values go through codec (o.Encoding
// is ignored). Every process opening it must use a codec of the same type
// (ChanOfCodec, ReaderOfCodec, WriterOfCodec, ChanFromFileCodec).
func NewChanCodec[T any](codec proc.Codec[T], o *Options) (*Chan[T], error) {
	if codec == nil {
		return nil, fmt.Errorf("csp: NewChanCodec with a nil codec")
	}
	var opt Options
	if o != nil {
		opt = *o
	}
	mode, codec, size, cfp, err := codecSpec[T](Auto, codec)
	if err != nil {
		return nil, err
	}
	return newChan(spec{t: reflect.TypeFor[T](), mode: mode, codecFP: cfp, elemSize: size, o: opt}, codec)
}

func newChan[T any](sp spec, codec proc.Codec[T]) (*Chan[T], error) {
	s, err := newShared(sp)
	if err != nil {
		return nil, err
	}
	return &Chan[T]{s: s, codec: codec}, nil
}

// ChanFromFile opens the channel in f, a descriptor of a channel's memfd
// received from another process (Chan.File, passed with exec.Cmd's
// ExtraFiles or SCM_RIGHTS). The descriptor is duplicated; the caller
// still owns f. It fails with an error matching ErrWrongType if the
// channel carries another type than T or uses a custom codec.
func ChanFromFile[T any](f *os.File) (*Chan[T], error) {
	s, err := openShared(f)
	if err != nil {
		return nil, err
	}
	return chanOn[T](s, nil)
}

// ChanFromFileCodec is ChanFromFile for a channel made by NewChanCodec.
func ChanFromFileCodec[T any](f *os.File, codec proc.Codec[T]) (*Chan[T], error) {
	s, err := openShared(f)
	if err != nil {
		return nil, err
	}
	return chanOn(s, codec)
}

// chanOn wraps a mapping (whose reference it takes over) as a Chan[T]
// after checking the type.
func chanOn[T any](s *shared, custom proc.Codec[T]) (*Chan[T], error) {
	c, err := typedCodec(s, custom)
	if err != nil {
		s.release()
		return nil, err
	}
	return &Chan[T]{s: s, codec: c}, nil
}

// typedCodec checks that s carries T and returns the codec to use.
func typedCodec[T any](s *shared, custom proc.Codec[T]) (proc.Codec[T], error) {
	t := reflect.TypeFor[T]()
	if custom != nil {
		mode, c, _, cfp, _ := codecSpec(Auto, custom)
		if err := s.check(t, mode, cfp); err != nil {
			return nil, err
		}
		return c, nil
	}
	if err := s.check(t, 0, 0); err != nil {
		return nil, err
	}
	if s.mode == modeRaw {
		if int(t.Size()) != s.elemSize {
			return nil, &corruptError{fmt.Sprintf("raw element of %d bytes, %v has %d", s.elemSize, t, t.Size())}
		}
		return nil, nil
	}
	return proc.GobCodec[T](), nil
}

// File returns the channel's descriptor (owned by the Chan), to pass to
// another process; it opens it with ChanFromFile.
func (c *Chan[T]) File() *os.File { return c.s.ring.File() }

// Capacity returns the number of values the channel buffers (0 for a
// rendezvous channel).
func (c *Chan[T]) Capacity() int { return c.s.capacity }

// OneToOne reports whether the channel has one writer and one reader.
func (c *Chan[T]) OneToOne() bool { return c.s.oneToOne }

// Raw reports whether values are copied raw (else they are encoded).
func (c *Chan[T]) Raw() bool { return c.s.mode == modeRaw }

// Writer makes a new writer end, held by this process until it is passed
// to a child. It fails with ErrRetired once every writer has retired,
// ErrPoisoned after Poison, and ErrTooManyEnds when a one-to-one channel
// already has a writer or the channel has no free end slot (128 at once).
func (c *Chan[T]) Writer() (*Writer[T], error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	return newWriter(c.s, c.codec, -1)
}

// Reader makes a new reader end (see Writer).
func (c *Chan[T]) Reader() (*Reader[T], error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	return newReader(c.s, c.codec, -1)
}

// Poison poisons the channel: every operation on any of its ends, in
// every process, fails with ErrPoisoned from now on, including the calls
// blocked now, which return at once. Values still buffered are dropped.
// Poisoning twice is the same as once.
func (c *Chan[T]) Poison() error {
	if c.closed.Load() {
		return ErrClosed
	}
	c.s.poison()
	return nil
}

// Poisoned reports whether the channel was poisoned.
func (c *Chan[T]) Poisoned() bool { return c.s.loadState()&stPoisoned != 0 }

// Close releases this process's handle on the channel; the ends made from
// it stay usable until they are closed. It does not retire or poison
// anything. A second Close returns nil.
func (c *Chan[T]) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.s.release()
	return nil
}
