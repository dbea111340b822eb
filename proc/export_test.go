package proc

import "context"

// TrackerPID returns the pid of this process's own resource tracker (0 if
// it has none, or inherited its parent's).
func TrackerPID() int {
	trk.mu.Lock()
	defer trk.mu.Unlock()
	if trk.proc == nil {
		return 0
	}
	return trk.proc.Pid()
}

// StartLifelineOnly is Start without the parent-death signal: only the
// lifeline pipe watches the parent.
func StartLifelineOnly(ctx context.Context, name string, o *Options) (*Process, error) {
	if err := ensureTracker(); err != nil {
		return nil, err
	}
	if o == nil {
		o = &Options{}
	}
	return start(ctx, name, o, spawnConfig{noPdeathsig: true})
}
