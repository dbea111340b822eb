package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

func init() {
	register(command{
		name:    "rm",
		summary: "remove IPC objects: rm KIND ID|0xKEY|NAME ...",
		run:     runRm,
	})
}

func runRm(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("rm", stderr)
	fs.Usage = func() {
		kinds := make([]string, 0, len(removers))
		for k := range removers {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		fmt.Fprintf(stderr, "usage: ipckit rm KIND ID|0xKEY|NAME ...\n\nKIND is one of: %s.\n"+
			"SysV objects are named by id, or by key in hexadecimal (0x...); POSIX objects by name.\n", strings.Join(kinds, ", "))
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() < 2 {
		fs.Usage()
		return 2
	}
	kind := fs.Arg(0)
	rm, ok := removers[kind]
	if !ok {
		fmt.Fprintf(stderr, "ipckit rm: unknown kind %q\n", kind)
		fs.Usage()
		return 2
	}
	status := 0
	for _, a := range fs.Args()[1:] {
		if err := rm(a); err != nil {
			fmt.Fprintf(stderr, "ipckit rm: %s %s: %v\n", kind, a, err)
			status = 1
			continue
		}
		fmt.Fprintf(stdout, "removed %s %s\n", kind, a)
	}
	return status
}
