// Command ipcsnap prints every IPC object on the host, one per line,
// sorted: the suite-wide leak gate in test.sh diffs two of its outputs.
package main

import (
	"fmt"
	"os"
	"sort"

	"github.com/ipckit/ipckit/ipctest"
)

func main() {
	s, err := ipctest.Take()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ipcsnap:", err)
		os.Exit(1)
	}
	lines := make([]string, 0, len(s))
	for k := range s {
		lines = append(lines, k)
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
}
