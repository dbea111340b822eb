package main

import (
	"fmt"
	"os"
	"unsafe"

	"github.com/ipckit/ipckit/csp"
)

// The csp rows: typed channels (package csp) between two processes, values
// copied raw, one channel each way, one-to-one (an SPSC ring) and
// buffered like the Go channel row (1024 values). A message is one value:
// an int64 (8-byte messages) or a 64-byte struct (64-byte messages).

// csp64 is the 64-byte value of the struct row.
type csp64 struct {
	Seq     int64
	Payload [56]byte
}

const cspCap = 1024

type cspConn[T any] struct {
	w     *csp.Writer[T]
	r     *csp.Reader[T]
	chans []*csp.Chan[T]
}

// value converts a message to the row's value and back; T is int64 or
// csp64, both as large as the message.
func toValue[T any](b []byte) (v T) {
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&v)), unsafe.Sizeof(v)), b)
	return v
}

func (c *cspConn[T]) send(b []byte) error { return c.w.Send(bg, toValue[T](b)) }

func (c *cspConn[T]) recv(b []byte) (int, error) {
	v, err := c.r.Receive(bg)
	if err != nil {
		return 0, err // io.EOF once the other side retired its writer
	}
	return copy(b, unsafe.Slice((*byte)(unsafe.Pointer(&v)), unsafe.Sizeof(v))), nil
}

func (c *cspConn[T]) closeSend() error { return c.w.Retire() }

func (c *cspConn[T]) close() {
	c.w.Close()
	c.r.Close()
	for _, ch := range c.chans {
		ch.Close()
	}
}

func cspSizeOK[T any](size int) string {
	var v T
	if n := int(unsafe.Sizeof(v)); size != n {
		return fmt.Sprintf("sends one %d-byte value per message (-sizes %d)", n, n)
	}
	return ""
}

func cspEnds[T any](out, in *csp.Chan[T]) (*cspConn[T], error) {
	w, err := out.Writer()
	if err != nil {
		return nil, err
	}
	r, err := in.Reader()
	if err != nil {
		w.Close()
		return nil, err
	}
	return &cspConn[T]{w: w, r: r, chans: []*csp.Chan[T]{out, in}}, nil
}

func cspSetup[T any](size int, mode string) (conn, []*os.File, []string, func(), error) {
	o := &csp.Options{Capacity: cspCap, OneToOne: true, Encoding: csp.Raw}
	out, err := csp.NewChan[T](o)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	in, err := csp.NewChan[T](o)
	if err != nil {
		out.Close()
		return nil, nil, nil, nil, err
	}
	c, err := cspEnds(out, in)
	if err != nil {
		out.Close()
		in.Close()
		return nil, nil, nil, nil, err
	}
	return c, []*os.File{out.File(), in.File()}, nil, c.close, nil
}

func cspOpen[T any](size int, mode string, args []string) (conn, error) {
	f3, f4 := os.NewFile(3, "csp-in"), os.NewFile(4, "csp-out")
	in, err := csp.ChanFromFile[T](f3)
	if err != nil {
		return nil, err
	}
	out, err := csp.ChanFromFile[T](f4)
	if err != nil {
		in.Close()
		return nil, err
	}
	f3.Close()
	f4.Close()
	c, err := cspEnds(out, in)
	if err != nil {
		in.Close()
		out.Close()
	}
	return c, err
}
