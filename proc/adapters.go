package proc

// The kinds of ipckit handle that Start passes and the child's typed
// accessors. Everything that depends on how mmapring, posix and sysv
// expose their descriptors is in this file.

import (
	"fmt"
	"os"
	"strconv"

	"github.com/ipckit/ipckit/mmapring"
	"github.com/ipckit/ipckit/posix"
	"github.com/ipckit/ipckit/sysv"
)

const (
	kindRing      = "mmapring.Ring"
	kindRingQueue = "mmapring.Queue"
	kindConn      = "posix.Conn"
	kindEventFD   = "posix.EventFD"
	kindMQ        = "posix.Queue"
	kindShm       = "posix.SharedMemory"
	kindMapping   = "posix.Mapping"
	kindFile      = "os.File"
	kindSysVQueue = "sysv.Queue"
	kindSemSet    = "sysv.SemSet"
	kindSegment   = "sysv.Segment"
)

func init() {
	RegisterKind(kindRing,
		func(r *mmapring.Ring) (*os.File, []byte, error) { return r.File(), nil, nil },
		func(f *os.File, _ []byte) (*mmapring.Ring, error) { return mmapring.FromFile(f) })
	RegisterKind(kindRingQueue,
		func(q *mmapring.Queue) (*os.File, []byte, error) { return q.Ring().File(), nil, nil },
		func(f *os.File, _ []byte) (*mmapring.Queue, error) {
			r, err := mmapring.FromFile(f)
			if err != nil {
				return nil, err
			}
			q, err := mmapring.QueueFromRing(r)
			if err != nil {
				r.Close()
			}
			return q, err
		})
	RegisterKind(kindConn,
		func(c *posix.Conn) (*os.File, []byte, error) { return c.File(), nil, nil },
		func(f *os.File, _ []byte) (*posix.Conn, error) { return posix.ConnFromFile(f) })
	RegisterKind(kindEventFD,
		func(e *posix.EventFD) (*os.File, []byte, error) { return e.File(), nil, nil },
		func(f *os.File, _ []byte) (*posix.EventFD, error) { return posix.EventFDFromFile(f) })
	// A message queue and a shared-memory object travel as their
	// descriptors alone: the child adopts the very object the parent
	// passed, whatever has happened to its name since.
	RegisterKind(kindMQ,
		func(q *posix.Queue) (*os.File, []byte, error) { return q.File(), nil, nil },
		func(f *os.File, _ []byte) (*posix.Queue, error) { return posix.QueueFromFile(f) })
	RegisterKind(kindShm,
		func(s *posix.SharedMemory) (*os.File, []byte, error) { return s.File(), nil, nil },
		func(f *os.File, _ []byte) (*posix.SharedMemory, error) { return posix.SharedMemoryFromFile(f) })
	RegisterKind(kindMapping,
		func(m *posix.Mapping) (*os.File, []byte, error) {
			return nil, nil, fmt.Errorf("%w: a posix.Mapping carries no descriptor; pass the *os.File or *posix.SharedMemory it maps, and call Child.Mapping in the child", ErrUnsupported)
		},
		func(f *os.File, _ []byte) (*posix.Mapping, error) { return nil, ErrUnsupported })
	RegisterKind(kindFile,
		func(f *os.File) (*os.File, []byte, error) { return f, []byte(f.Name()), nil },
		func(f *os.File, meta []byte) (*os.File, error) { return dupFile(f, string(meta)) })
	RegisterKind(kindSysVQueue,
		func(q *sysv.Queue) (*os.File, []byte, error) {
			return nil, strconv.AppendInt(nil, int64(q.ID()), 10), nil
		},
		func(_ *os.File, meta []byte) (*sysv.Queue, error) {
			id, err := strconv.Atoi(string(meta))
			if err != nil {
				return nil, err
			}
			return sysv.QueueFromID(id)
		})
	RegisterKind(kindSemSet,
		func(s *sysv.SemSet) (*os.File, []byte, error) {
			return nil, strconv.AppendInt(nil, int64(s.ID()), 10), nil
		},
		func(_ *os.File, meta []byte) (*sysv.SemSet, error) {
			id, err := strconv.Atoi(string(meta))
			if err != nil {
				return nil, err
			}
			return sysv.SemSetFromID(id)
		})
	RegisterKind(kindSegment,
		func(s *sysv.Segment) (*os.File, []byte, error) {
			return nil, strconv.AppendInt(nil, int64(s.ID()), 10), nil
		},
		func(_ *os.File, meta []byte) (*sysv.Segment, error) {
			id, err := strconv.Atoi(string(meta))
			if err != nil {
				return nil, err
			}
			return sysv.SegmentFromID(id)
		})
}

// Ring returns handle i, a ring (*mmapring.Ring or the ring of an
// *mmapring.Queue passed by the parent), attached to the inherited memfd
// or shm descriptor.
func (c *Child) Ring(i int) (*mmapring.Ring, error) {
	if k, err := c.Kind(i); err == nil && k == kindRingQueue {
		q, err := c.RingQueue(i)
		if err != nil {
			return nil, err
		}
		return q.Ring(), nil
	}
	v, err := c.typed(i, kindRing)
	if err != nil {
		return nil, err
	}
	return v.(*mmapring.Ring), nil
}

// RingQueue returns handle i, an *mmapring.Queue (or an MPMC ring passed
// as an *mmapring.Ring).
func (c *Child) RingQueue(i int) (*mmapring.Queue, error) {
	if k, err := c.Kind(i); err == nil && k == kindRing {
		r, err := c.Ring(i)
		if err != nil {
			return nil, err
		}
		q, err := mmapring.QueueFromRing(r)
		if err != nil {
			r.Close()
			return nil, &HandleError{Index: i, Kind: kindRing, Want: kindRingQueue, Err: err}
		}
		return q, nil
	}
	v, err := c.typed(i, kindRingQueue)
	if err != nil {
		return nil, err
	}
	return v.(*mmapring.Queue), nil
}

// Conn returns handle i, a *posix.Conn (pipe end, socket or FIFO).
func (c *Child) Conn(i int) (*posix.Conn, error) {
	v, err := c.typed(i, kindConn)
	if err != nil {
		return nil, err
	}
	return v.(*posix.Conn), nil
}

// EventFD returns handle i, a *posix.EventFD.
func (c *Child) EventFD(i int) (*posix.EventFD, error) {
	v, err := c.typed(i, kindEventFD)
	if err != nil {
		return nil, err
	}
	return v.(*posix.EventFD), nil
}

// Queue returns handle i, a POSIX message queue: the queue the parent
// passed, adopted from the inherited descriptor (posix.QueueFromFile), in
// the access mode the parent opened it with. It needs no name, so it
// works after the parent unlinked the queue; the Queue it returns has no
// name either (Name returns "", Unlink does nothing).
func (c *Child) Queue(i int) (*posix.Queue, error) {
	v, err := c.typed(i, kindMQ)
	if err != nil {
		return nil, err
	}
	return v.(*posix.Queue), nil
}

// SharedMemory returns handle i, a POSIX shared-memory object (or memfd
// or file) adopted from the inherited descriptor
// (posix.SharedMemoryFromFile). It needs no name; the SharedMemory it
// returns has none either (Unlink does nothing). Mapping(i) maps it.
func (c *Child) SharedMemory(i int) (*posix.SharedMemory, error) {
	v, err := c.typed(i, kindShm)
	if err != nil {
		return nil, err
	}
	return v.(*posix.SharedMemory), nil
}

// Mapping maps the whole of handle i read-write and shared: a shared
// memory object, a memfd or file passed as an *os.File, or a ring's
// memory. The caller closes the mapping.
func (c *Child) Mapping(i int) (*posix.Mapping, error) {
	f, err := c.File(i)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	kind, _ := c.Kind(i)
	st, err := f.Stat()
	if err != nil {
		return nil, &HandleError{Index: i, Kind: kind, Want: "mapping", Err: err}
	}
	if !st.Mode().IsRegular() {
		return nil, &HandleError{Index: i, Kind: kind, Want: "mapping", Err: fmt.Errorf("%w: its descriptor is not a file, memfd or shared-memory object", ErrWrongKind)}
	}
	if st.Size() <= 0 || st.Size() > int64(^uint(0)>>1) {
		return nil, &HandleError{Index: i, Kind: kind, Want: "mapping", Err: fmt.Errorf("cannot map an object of %d bytes", st.Size())}
	}
	m, err := posix.Map(f, 0, int(st.Size()), 0)
	if err != nil {
		return nil, &HandleError{Index: i, Kind: kind, Want: "mapping", Err: err}
	}
	return m, nil
}

// SysVQueue returns handle i, a System V message queue (passed as a
// *sysv.Queue; an id passed as an int works with sysv.QueueFromID).
func (c *Child) SysVQueue(i int) (*sysv.Queue, error) {
	v, err := c.typed(i, kindSysVQueue)
	if err != nil {
		return nil, err
	}
	return v.(*sysv.Queue), nil
}

// SemSet returns handle i, a System V semaphore set, checked with
// IPC_STAT.
func (c *Child) SemSet(i int) (*sysv.SemSet, error) {
	v, err := c.typed(i, kindSemSet)
	if err != nil {
		return nil, err
	}
	return v.(*sysv.SemSet), nil
}

// Segment returns handle i, a System V shared-memory segment.
func (c *Child) Segment(i int) (*sysv.Segment, error) {
	v, err := c.typed(i, kindSegment)
	if err != nil {
		return nil, err
	}
	return v.(*sysv.Segment), nil
}
