// Package mmapring provides lock-free single-producer/single-consumer and
// multi-producer/multi-consumer rings in shared memory, blocking through
// shared futexes, with a C header so C processes can be peers.
package mmapring
