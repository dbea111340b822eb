// Package procmaps reads the calling process's memory map from
// /proc/self/maps (proc(5)), to check what kind of mapping a byte slice
// lives in before its address is handed to the kernel or to other
// processes.
//
// Each line of /proc/self/maps is "start-end perms offset dev inode
// [path]", addresses in hexadecimal, lines sorted by address; the fourth
// character of perms is 's' for a MAP_SHARED mapping (shared file, POSIX or
// System V shared memory, memfd, MAP_SHARED|MAP_ANONYMOUS) and 'p' for a
// private one (the Go heap, goroutine stacks, MAP_PRIVATE mappings).
//
// The map is read afresh on every call (a few dozen lines for a Go
// program): nothing is cached, because a range may be unmapped and mapped
// again with other flags at any time. Call it on set-up paths, not hot ones.
package procmaps

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// Mapping is one line of /proc/self/maps.
type Mapping struct {
	Start, End uintptr // [Start, End)
	Perms      string  // "rw-s"
	Path       string  // file, "[heap]", "/dev/zero (deleted)", "" for anonymous
}

// Shared reports whether the mapping is MAP_SHARED.
func (m Mapping) Shared() bool { return len(m.Perms) == 4 && m.Perms[3] == 's' }

// path is the file read; tests point it elsewhere.
var path = "/proc/self/maps"

// Covering returns the mappings that cover [addr, addr+n), in address
// order. ok is false when part of the range is not mapped at all; then
// the mappings up to the first hole are returned. n == 0 is treated as 1.
func Covering(addr, n uintptr) (maps []Mapping, ok bool, err error) {
	if n == 0 {
		n = 1
	}
	end := addr + n
	if end < addr {
		return nil, false, fmt.Errorf("procmaps: range %#x+%#x wraps around", addr, n)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false, err
	}
	cur := addr
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		m, perr := parse(line)
		if perr != nil {
			return nil, false, fmt.Errorf("procmaps: %s: %w", path, perr)
		}
		if m.End <= cur {
			continue
		}
		if m.Start > cur {
			return maps, false, nil // a hole
		}
		maps = append(maps, m)
		cur = m.End
		if cur >= end {
			return maps, true, nil
		}
	}
	return maps, false, nil
}

// Shared reports whether every byte of [addr, addr+n) is mapped, and
// mapped MAP_SHARED.
func Shared(addr, n uintptr) (bool, error) {
	maps, ok, err := Covering(addr, n)
	if err != nil || !ok {
		return false, err
	}
	for _, m := range maps {
		if !m.Shared() {
			return false, nil
		}
	}
	return true, nil
}

// parse reads one line: "start-end perms offset dev inode [path]".
func parse(line []byte) (Mapping, error) {
	var m Mapping
	f := bytes.Fields(line)
	if len(f) < 5 {
		return m, fmt.Errorf("malformed line %q", line)
	}
	dash := bytes.IndexByte(f[0], '-')
	if dash < 0 {
		return m, fmt.Errorf("malformed range %q", f[0])
	}
	start, err1 := strconv.ParseUint(string(f[0][:dash]), 16, 64)
	end, err2 := strconv.ParseUint(string(f[0][dash+1:]), 16, 64)
	if err1 != nil || err2 != nil || end < start || len(f[1]) != 4 {
		return m, fmt.Errorf("malformed line %q", line)
	}
	m.Start, m.End, m.Perms = uintptr(start), uintptr(end), string(f[1])
	if len(f) > 5 {
		// The path is the rest of the line after the inode column, which
		// the kernel pads with spaces; it may itself contain spaces.
		m.Path = string(afterFields(line, 5))
	}
	return m, nil
}

// afterFields returns line after its first n space-separated fields and
// the spaces that follow them.
func afterFields(line []byte, n int) []byte {
	for ; n > 0; n-- {
		line = bytes.TrimLeft(line, " ")
		i := bytes.IndexByte(line, ' ')
		if i < 0 {
			return nil
		}
		line = line[i:]
	}
	return bytes.TrimLeft(line, " ")
}
