package csp

import (
	"fmt"
	"os"
	"reflect"

	"github.com/ipckit/ipckit/proc"
)

// Passing channels and ends to child processes with proc. A *Chan[T], a
// *Writer[T] or a *Reader[T] in proc.Options.Handles reaches the child,
// which gets it back by index with ChanOf, WriterOf or ReaderOf (and their
// Codec forms), checked against the T it asks for.

// The proc kinds, one interface each, so that proc's errors name them
// ("handle 1 is a csp.Reader, not a csp.Writer").
const (
	kindChan   = "csp.Chan"
	kindWriter = "csp.Writer"
	kindReader = "csp.Reader"
)

type chanKind interface {
	passChan() (*os.File, []byte, error)
}

type writerKind interface {
	passWriter() (*os.File, []byte, error)
}

type readerKind interface {
	passReader() (*os.File, []byte, error)
}

func (c *Chan[T]) passChan() (*os.File, []byte, error) {
	if c.closed.Load() {
		return nil, nil, ErrClosed
	}
	return c.s.ring.File(), passMeta(passChan, 0, 0), nil
}

func (w *Writer[T]) passWriter() (*os.File, []byte, error) { return w.pass() }
func (r *Reader[T]) passReader() (*os.File, []byte, error) { return r.pass() }

// received is what a child decodes before it knows T: the mapping and, for
// an end, its slot and the process that passed it.
type received struct {
	s    *shared
	slot int
	from uint64
}

type (
	receivedChan   struct{ received }
	receivedWriter struct{ received }
	receivedReader struct{ received }
)

func (r *receivedChan) passChan() (*os.File, []byte, error) {
	return r.s.ring.File(), passMeta(passChan, 0, 0), nil
}
func (r *receivedWriter) passWriter() (*os.File, []byte, error) {
	return nil, nil, fmt.Errorf("csp: open a writer with WriterOf before passing it on")
}
func (r *receivedReader) passReader() (*os.File, []byte, error) {
	return nil, nil, fmt.Errorf("csp: open a reader with ReaderOf before passing it on")
}

func decodeReceived(f *os.File, meta []byte, kind byte) (received, error) {
	slot, from, err := parseMeta(meta, kind)
	if err != nil {
		return received{}, err
	}
	if f == nil {
		return received{}, fmt.Errorf("csp: handle without a descriptor")
	}
	s, err := openShared(f)
	if err != nil {
		return received{}, err
	}
	return received{s: s, slot: slot, from: from}, nil
}

func init() {
	proc.RegisterKind[chanKind](kindChan,
		func(h chanKind) (*os.File, []byte, error) { return h.passChan() },
		func(f *os.File, meta []byte) (chanKind, error) {
			r, err := decodeReceived(f, meta, passChan)
			if err != nil {
				return nil, err
			}
			return &receivedChan{r}, nil
		})
	proc.RegisterKind[writerKind](kindWriter,
		func(h writerKind) (*os.File, []byte, error) { return h.passWriter() },
		func(f *os.File, meta []byte) (writerKind, error) {
			r, err := decodeReceived(f, meta, passWriter)
			if err != nil {
				return nil, err
			}
			return &receivedWriter{r}, nil
		})
	proc.RegisterKind[readerKind](kindReader,
		func(h readerKind) (*os.File, []byte, error) { return h.passReader() },
		func(f *os.File, meta []byte) (readerKind, error) {
			r, err := decodeReceived(f, meta, passReader)
			if err != nil {
				return nil, err
			}
			return &receivedReader{r}, nil
		})
}

func handleErr(i int, kind string, t reflect.Type, err error) error {
	return &proc.HandleError{Index: i, Kind: kind, Want: kind + "[" + t.String() + "]", Err: err}
}

// ChanOf returns handle i of c, a channel passed as a *Chan, as a *Chan[T].
// Asking for another kind of handle is a *proc.HandleError matching
// proc.ErrWrongKind; a channel of another element type (or one made with a
// custom codec) gives an error matching ErrWrongType. The caller closes
// the Chan.
func ChanOf[T any](c *proc.Child, i int) (*Chan[T], error) { return chanOf[T](c, i, nil) }

// ChanOfCodec is ChanOf for a channel made by NewChanCodec.
func ChanOfCodec[T any](c *proc.Child, i int, codec proc.Codec[T]) (*Chan[T], error) {
	if codec == nil {
		return nil, fmt.Errorf("csp: ChanOfCodec with a nil codec")
	}
	return chanOf(c, i, codec)
}

func chanOf[T any](c *proc.Child, i int, codec proc.Codec[T]) (*Chan[T], error) {
	h, err := proc.Get[chanKind](c, i)
	if err != nil {
		return nil, err
	}
	r, ok := h.(*receivedChan)
	if !ok {
		return nil, handleErr(i, kindChan, reflect.TypeFor[T](), fmt.Errorf("csp: unexpected %T", h))
	}
	ch, err := chanOn(r.s, codec)
	if err != nil {
		return nil, handleErr(i, kindChan, reflect.TypeFor[T](), err)
	}
	return ch, nil
}

// WriterOf returns handle i of c, a writer end passed as a *Writer, as a
// *Writer[T]: this process holds the end from now on (its death without
// Retire counts as the writer dying). Errors are as for ChanOf; an end
// already taken by another process fails with ErrPassed.
func WriterOf[T any](c *proc.Child, i int) (*Writer[T], error) { return writerOf[T](c, i, nil) }

// WriterOfCodec is WriterOf for a channel made by NewChanCodec.
func WriterOfCodec[T any](c *proc.Child, i int, codec proc.Codec[T]) (*Writer[T], error) {
	if codec == nil {
		return nil, fmt.Errorf("csp: WriterOfCodec with a nil codec")
	}
	return writerOf(c, i, codec)
}

func writerOf[T any](c *proc.Child, i int, custom proc.Codec[T]) (*Writer[T], error) {
	h, err := proc.Get[writerKind](c, i)
	if err != nil {
		return nil, err
	}
	t := reflect.TypeFor[T]()
	r, ok := h.(*receivedWriter)
	if !ok {
		return nil, handleErr(i, kindWriter, t, fmt.Errorf("csp: unexpected %T", h))
	}
	codec, err := typedCodec(r.s, custom)
	if err == nil {
		err = r.s.adopt(r.slot, roleWriter, r.from)
	}
	if err != nil {
		r.s.release()
		return nil, handleErr(i, kindWriter, t, err)
	}
	w, err := newWriter(r.s, codec, r.slot)
	r.s.release() // newWriter took its own reference
	if err != nil {
		return nil, handleErr(i, kindWriter, t, err)
	}
	return w, nil
}

// ReaderOf returns handle i of c, a reader end passed as a *Reader, as a
// *Reader[T] held by this process from now on (see WriterOf).
func ReaderOf[T any](c *proc.Child, i int) (*Reader[T], error) { return readerOf[T](c, i, nil) }

// ReaderOfCodec is ReaderOf for a channel made by NewChanCodec.
func ReaderOfCodec[T any](c *proc.Child, i int, codec proc.Codec[T]) (*Reader[T], error) {
	if codec == nil {
		return nil, fmt.Errorf("csp: ReaderOfCodec with a nil codec")
	}
	return readerOf(c, i, codec)
}

func readerOf[T any](c *proc.Child, i int, custom proc.Codec[T]) (*Reader[T], error) {
	h, err := proc.Get[readerKind](c, i)
	if err != nil {
		return nil, err
	}
	t := reflect.TypeFor[T]()
	r, ok := h.(*receivedReader)
	if !ok {
		return nil, handleErr(i, kindReader, t, fmt.Errorf("csp: unexpected %T", h))
	}
	codec, err := typedCodec(r.s, custom)
	if err == nil {
		err = r.s.adopt(r.slot, roleReader, r.from)
	}
	if err != nil {
		r.s.release()
		return nil, handleErr(i, kindReader, t, err)
	}
	rd, err := newReader(r.s, codec, r.slot)
	r.s.release()
	if err != nil {
		return nil, handleErr(i, kindReader, t, err)
	}
	return rd, nil
}
