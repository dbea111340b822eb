package main

import (
	"context"
	"os"
	"time"

	"github.com/ipckit/ipckit/mmapring"
)

// The mmapring rows: two rings (one each way) in memfds handed to the
// child as fds 3 and 4.

type ringConn struct {
	p     *mmapring.Producer
	c     *mmapring.Consumer
	rings []*mmapring.Ring
}

var bg = context.Background()

func (r *ringConn) send(b []byte) error { return r.p.Send(bg, b) }

// sendFor and recvAll are sendFor's and the sink's loops with the ring's
// Send and Receive called directly, as a program would, rather than through
// the conn interface (the C row calls mmr_send and mmr_recv directly too).
func (r *ringConn) sendFor(msg []byte, start time.Time, d time.Duration) int {
	n := 0
	for {
		for i := 0; i < 64; i++ {
			if r.p.Send(bg, msg) != nil {
				return n
			}
			n++
		}
		if time.Since(start) >= d {
			return n
		}
	}
}

func (r *ringConn) recvAll(buf []byte) int {
	n := 0
	for {
		if _, err := r.c.Receive(bg, buf); err != nil {
			return n
		}
		n++
	}
}
func (r *ringConn) recv(b []byte) (int, error)    { return r.c.Receive(bg, b) }
func (r *ringConn) sendBatch(msgs [][]byte) error { _, err := r.p.SendBatch(bg, msgs); return err }
func (r *ringConn) closeSend() error              { return r.p.Close() }
func (r *ringConn) close() {
	r.c.Close()
	for _, x := range r.rings {
		x.Close()
	}
}

func ringConfig(kind mmapring.Kind, size int) mmapring.Config {
	if kind == mmapring.KindSPSC {
		capacity := 1 << 20
		for capacity/2-8 < size {
			capacity <<= 1
		}
		return mmapring.Config{Kind: kind, Capacity: capacity}
	}
	cells := 1024
	if size > 4096 {
		cells = 32
	}
	return mmapring.Config{Kind: kind, Capacity: cells, CellSize: size}
}

func ringEnds(out, in *mmapring.Ring, mode string) (*ringConn, error) {
	p, err := out.Producer()
	if err != nil {
		return nil, err
	}
	c, err := in.Consumer()
	if err != nil {
		p.Detach()
		return nil, err
	}
	if mode == "sleep" {
		p.SetSpin(0)
		c.SetSpin(0)
	}
	return &ringConn{p: p, c: c}, nil
}

func ringSetup(kind mmapring.Kind) func(int, string) (conn, []*os.File, []string, func(), error) {
	return func(size int, mode string) (conn, []*os.File, []string, func(), error) {
		cfg := ringConfig(kind, size)
		// "checksum": every record carries a CRC32C (Config.Checksum);
		// the child learns it from the ring's header.
		cfg.Checksum = mode == "checksum"
		out, err := mmapring.New(cfg)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		in, err := mmapring.New(cfg)
		if err != nil {
			out.Close()
			return nil, nil, nil, nil, err
		}
		rc, err := ringEnds(out, in, mode)
		if err != nil {
			out.Close()
			in.Close()
			return nil, nil, nil, nil, err
		}
		rc.rings = []*mmapring.Ring{out, in}
		// Wait in the conn's first use for the child to attach: the
		// parent's sends simply fill the ring until it does.
		return rc, []*os.File{out.File(), in.File()}, nil, rc.close, nil
	}
}

// ringFromFD attaches to the ring on a descriptor inherited through
// exec.Cmd.ExtraFiles; the Ring keeps a duplicate, so fd itself is closed.
func ringFromFD(fd int) (*mmapring.Ring, error) {
	f := os.NewFile(uintptr(fd), "inherited")
	defer f.Close()
	return mmapring.FromFile(f)
}

func ringOpen(size int, mode string, args []string) (conn, error) {
	in, err := ringFromFD(3)
	if err != nil {
		return nil, err
	}
	out, err := ringFromFD(4)
	if err != nil {
		return nil, err
	}
	rc, err := ringEnds(out, in, mode)
	if err != nil {
		return nil, err
	}
	rc.rings = []*mmapring.Ring{out, in}
	return rc, nil
}
