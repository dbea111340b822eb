package mmapring

import "hash/crc32"

// castagnoli is the CRC32C table (hardware-accelerated by hash/crc32 on
// amd64, arm64 and s390x where available).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// sum is the checksum of a message payload: CRC32C with the standard
// initial value and final XOR, as mmapring.h computes it.
func sum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
