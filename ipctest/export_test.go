package ipctest

// SetForceMainThreadPath makes InNewIPCNamespace behave as if its
// goroutine had landed on the main thread (m0).
func SetForceMainThreadPath(b bool) { forceMainThreadPath = b }
