// Command ipcsnap prints every IPC object on the host, one per line,
// sorted: the suite-wide leak gate in test.sh diffs two of its outputs.
//
// Besides ipctest.Take, it lists POSIX message queues with
// posix.ListQueues, which works where /dev/mqueue is not mounted (it
// mounts a private mqueue instance; as root), so the gate sees queues on
// machines like CI's.
package main

import (
	"fmt"
	"os"
	"sort"

	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/posix"
)

func main() {
	s, err := ipctest.Take()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ipcsnap:", err)
		os.Exit(1)
	}
	set := map[string]bool{}
	for k := range s {
		set[k] = true
	}
	if qs, err := posix.ListQueues(); err == nil {
		for _, q := range qs {
			set[ipctest.Object{Kind: "mqueue", ID: -1, Name: q.Name}.String()] = true
		}
	} else {
		fmt.Fprintln(os.Stderr, "ipcsnap: message queues not listed:", err)
	}
	lines := make([]string, 0, len(set))
	for k := range set {
		lines = append(lines, k)
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
}
