// Command ipckit lists, inspects and removes IPC objects and benchmarks
// IPC transports.
//
//	ipckit ls [--json] [--kind K] every SysV and POSIX IPC object on the host
//	ipckit rm KIND ID|0xKEY|NAME  remove objects (msg, sem, shm, posix-shm, posix-sem, mqueue)
//	ipckit bench [flags]          compare transports side by side
//	ipckit features [--json]      which optional kernel IPC features this system has
//
// Each subcommand lives in its own file and registers itself in init.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
)

type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{}

func register(c command) { commands[c.name] = c }

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ipckit <command> [arguments]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'ipckit <command> -h' for a command's flags.")
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "ipckit: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}

// newFlagSet returns a FlagSet that reports errors instead of exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("ipckit "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
