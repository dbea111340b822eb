package mmapring

import "sync/atomic"

// Stats is a snapshot of a ring's shared state.
type Stats struct {
	Kind         Kind
	Capacity     int    // data bytes (SPSC) or cells (MPMC)
	MaxMessage   int    // largest message
	ProducerPos  uint64 // bytes (SPSC) or messages (MPMC) ever published
	ConsumerPos  uint64 // bytes or messages ever consumed (as published)
	Used         uint64 // bytes (SPSC) or messages (MPMC) queued
	Fill         float64
	DataWaiters  uint32 // consumers registered as sleeping
	SpaceWaiters uint32 // producers registered as sleeping
	Closed       bool
	Orphans      uint32 // MPMC messages waiting for redelivery
	Unfinished   uint64 // Queue: put and not yet TaskDone
	Peers        []Peer
}

// Stats reads the shared counters and the peer table (checking each
// peer's liveness, so it reads /proc: not for hot paths). It fails with
// ErrClosed after Close.
func (r *Ring) Stats() (s Stats, err error) {
	if !r.acquire() {
		return s, ErrClosed
	}
	defer r.release()
	if r.m.guard {
		defer r.m.contain(guardOn(), &err)
	}
	s = Stats{Kind: r.kind, Capacity: int(r.capacity), MaxMessage: int(r.maxMsg)}
	s.ProducerPos = atomic.LoadUint64(r.u64(offProdPos))
	s.ConsumerPos = atomic.LoadUint64(r.u64(offConsPos))
	if s.ProducerPos >= s.ConsumerPos {
		s.Used = s.ProducerPos - s.ConsumerPos
	}
	s.Fill = float64(s.Used) / float64(r.capacity)
	s.DataWaiters = atomic.LoadUint32(r.u32(offDataWaiters))
	s.SpaceWaiters = atomic.LoadUint32(r.u32(offSpaceWaiters))
	s.Closed = atomic.LoadUint32(r.u32(offClosed)) != 0
	s.Orphans = atomic.LoadUint32(r.u32(offOrphans))
	s.Unfinished = atomic.LoadUint64(r.u64(offUnfinished))
	for i := 0; i < peerSlots; i++ {
		id := atomic.LoadUint64(r.peerIdent(i))
		if id == 0 {
			continue
		}
		role := atomic.LoadUint32(r.peerRole(i))
		s.Peers = append(s.Peers, Peer{Pid: int(id >> 32), Producer: role&roleProducer != 0,
			Consumer: role&roleConsumer != 0, Alive: identAlive(id)})
	}
	return s, nil
}
