//go:build !mmapring_killpoints

package mmapring

// killpoint is called by every store helper (store.go) before its store.
// In the default build it is empty and inlined away: the helpers compile
// to the bare atomic or plain store. The mmapring_killpoints build
// (killpoint_on.go) numbers the stores instead.
func killpoint() {}

// killpointsBuilt reports whether this build numbers stores.
const killpointsBuilt = false

// killpointStores returns how many stores this process has made to shared
// memory (always 0 in the default build).
func killpointStores() uint64 { return 0 }
