package csp

// RingWaiters reports how many processes sleep on c's ring (readers,
// writers), so tests can wait until a call is blocked in the kernel.
func RingWaiters[T any](c *Chan[T]) (readers, writers int) { return c.s.ring.Waiters() }

// AckWaiting reports whether a rendezvous writer sleeps for its
// acknowledgement (any slot).
func AckWaiting[T any](c *Chan[T]) bool {
	for i := 0; i < maxEnds; i++ {
		if *c.s.slotU32(i, endAckNeed) != 0 {
			return true
		}
	}
	return false
}

// SetHaveWaitv replaces the futex_waitv probe; the returned function
// restores it.
func SetHaveWaitv(f func() bool) (restore func()) {
	old := haveWaitv
	haveWaitv = f
	return func() { haveWaitv = old }
}

// CountWaiting reports whether a one-to-one writer sleeps for room.
func CountWaiting[T any](c *Chan[T]) bool { return *c.s.count.need != 0 }

// SetSlotLoaded sets a function that scanDead calls between reading an
// end's slot and testing its holder; the returned function removes it.
func SetSlotLoaded(f func(slot int)) (restore func()) {
	slotLoaded = f
	return func() { slotLoaded = nil }
}

// WriterSlot returns the end slot of w.
func WriterSlot[T any](w *Writer[T]) int { return w.slot }
