package posix

// SetEventFDNowait forces the eventfd read path: with RWF_NOWAIT (on) or
// with a zero-timeout poll before read(2) (off), the path used where the
// kernel lacks RWF_NOWAIT for eventfd. It returns a function that
// restores the probed state.
func SetEventFDNowait(on bool) (restore func()) {
	old := efdNowait.Load()
	if on {
		efdNowait.Store(1)
	} else {
		efdNowait.Store(2)
	}
	return func() { efdNowait.Store(old) }
}

// EventFDNowait reports what the probe found.
func EventFDNowait() bool { return eventfdNowait() }
