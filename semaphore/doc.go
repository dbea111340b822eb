// Package semaphore provides futex-based semaphores and locks that
// interoperate with C: glibc-compatible POSIX semaphores (named and unnamed),
// an explicit musl format, SysV-backed semaphores whose units return when a
// holder dies, and crash-safe cross-process mutexes.
package semaphore
