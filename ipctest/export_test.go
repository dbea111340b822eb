package ipctest

// SetForceMainThreadPath makes InNewIPCNamespace behave as if its
// goroutine had landed on the main thread (m0).
func SetForceMainThreadPath(b bool) { forceMainThreadPath = b }

// OnDiscardedThread runs body on a locked OS thread that is discarded
// afterwards, so that body may change the thread's namespaces.
func OnDiscardedThread(body func()) { onDiscardedThread(body) }
