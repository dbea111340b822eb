// Command ipcsnap prints every IPC object on the host, one per line,
// sorted: the suite-wide leak gate in test.sh diffs two of its outputs.
//
// It prints ipctest.Take's snapshot, which lists POSIX message queues
// through posix.ListQueues, so it sees them also where /dev/mqueue is not
// mounted (it mounts a private mqueue instance; as root). Where queues
// cannot be listed it says so on stderr and prints the rest.
package main

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/ipckit/ipckit/ipctest"
)

func main() {
	s, err := ipctest.Take()
	if errors.Is(err, ipctest.ErrQueuesNotListed) {
		fmt.Fprintln(os.Stderr, "ipcsnap:", err)
	} else if err != nil {
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
