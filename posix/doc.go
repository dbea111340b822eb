// Package posix gives Go programs POSIX IPC without cgo: shared-memory
// objects and mappings, POSIX message queues that wait in the Go runtime
// poller, pipes, FIFOs, eventfd and descriptor passing.
package posix
