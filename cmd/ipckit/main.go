// Command ipckit lists, inspects, creates and removes IPC objects, and
// benchmarks IPC transports. It follows util-linux's ipcs, lsipc, ipcmk and
// ipcrm where they overlap, and adds POSIX objects and mmapring rings.
//
//	ipckit ls [KIND...] [--json] [-o COLS] [--noheadings]   every IPC object on the host, like lsipc
//	ipckit info KIND ID|0xKEY|NAME [--json]                  every field of one object, like ipcs -i
//	ipckit limits [--json]                                   the IPC sysctls and current usage, like lsipc -g
//	ipckit mk KIND [NAME] [--mode M] [--size N] ...          create an object, like ipcmk
//	ipckit rm [KIND ID|0xKEY|NAME...] [--all[=KINDS]]        remove objects, like ipcrm
//	ipckit bench [flags]                                     compare transports side by side
//	ipckit features [--json]                                 which optional kernel IPC features this system has
//	ipckit version                                           the module version this binary was built from
//
// KIND is one of msg, sem, shm (System V), posix-shm, posix-sem, mqueue
// (POSIX) and ring (an mmapring ring with a name in /dev/shm).
//
// Every subcommand takes -h (help on stdout, exit status 0); `ipckit help
// CMD` prints the same. A bad flag or argument exits with status 1 and a
// one-line reason on stderr; so does a failed operation.
//
// Each subcommand lives in its own file and registers itself in init.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
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
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'ipckit help <command>' or 'ipckit <command> -h' for a command's arguments and flags.")
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "ipckit: no command given; see 'ipckit -h'")
		return 1
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(stdout)
		return 0
	case "-V", "-version", "--version":
		return runVersion(args[1:], stdout, stderr)
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "ipckit: unknown command %q; see 'ipckit -h'\n", args[0])
		return 1
	}
	return c.run(args[1:], stdout, stderr)
}

func init() {
	register(command{name: "help", summary: "help on a command: help CMD", run: runHelp})
}

func runHelp(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		usage(stdout)
		return 0
	case len(args) > 1:
		fmt.Fprintln(stderr, "ipckit help: one command at a time; see 'ipckit -h'")
		return 1
	case args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help":
		usage(stdout)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "ipckit help: unknown command %q; see 'ipckit -h'\n", args[0])
		return 1
	}
	return c.run([]string{"-h"}, stdout, stderr)
}

// cli is one subcommand's flag set with its help text.
type cli struct {
	name   string // subcommand
	usage  string // the usage line(s), without "usage: "
	about  string // what it does, printed after the usage lines
	extra  string // printed after the flags (columns, kinds, examples)
	fs     *flag.FlagSet
	stdout io.Writer
	stderr io.Writer
}

func newCLI(name, usage, about string, stdout, stderr io.Writer) *cli {
	fs := flag.NewFlagSet("ipckit "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by parse, in one line
	fs.Usage = func() {}
	return &cli{name: name, usage: usage, about: about, fs: fs, stdout: stdout, stderr: stderr}
}

// help prints the command's help on stdout.
func (c *cli) help() {
	w := c.stdout
	for i, l := range strings.Split(c.usage, "\n") {
		if i == 0 {
			fmt.Fprintf(w, "usage: ipckit %s\n", l)
		} else {
			fmt.Fprintf(w, "       ipckit %s\n", l)
		}
	}
	if c.about != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(c.about, "\n"))
	}
	// Flags that share a value are one flag with several names (-n,
	// --noheadings); the help text is the one that is not "same as ...".
	type group struct {
		names []string
		main  *flag.Flag
	}
	var groups []*group
	byValue := map[flag.Value]*group{}
	c.fs.VisitAll(func(f *flag.Flag) {
		g := byValue[f.Value]
		if g == nil {
			g = &group{main: f}
			byValue[f.Value] = g
			groups = append(groups, g)
		}
		if len(f.Name) == 1 {
			g.names = append([]string{"-" + f.Name}, g.names...)
		} else {
			g.names = append(g.names, "--"+f.Name)
		}
		if strings.HasPrefix(g.main.Usage, "same as") {
			g.main = f
		}
	})
	if len(groups) > 0 {
		fmt.Fprintln(w, "\nflags:")
		for _, g := range groups {
			f := g.main
			name, use := flag.UnquoteUsage(f)
			left := strings.Join(g.names, ", ")
			if _, isBool := f.Value.(interface{ IsBoolFlag() bool }); isBool {
				if name != "" {
					left += "[=" + name + "]" // a bool flag that also takes a value
				}
			} else if name != "" {
				left += " " + name
			}
			def := ""
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
				def = fmt.Sprintf(" (default %s)", f.DefValue)
			}
			if len(left) > 22 {
				fmt.Fprintf(w, "  %s\n  %-22s %s%s\n", left, "", use, def)
			} else {
				fmt.Fprintf(w, "  %-22s %s%s\n", left, use, def)
			}
		}
		fmt.Fprintf(w, "  %-22s %s\n", "-h, --help", "print this help")
	}
	if c.extra != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(c.extra, "\n"))
	}
}

// fail prints a one-line reason on stderr and returns exit status 1.
func (c *cli) fail(format string, a ...any) int {
	fmt.Fprintf(c.stderr, "ipckit %s: %s\n", c.name, fmt.Sprintf(format, a...))
	return 1
}

// usageErr is fail for bad arguments: it points at the help.
func (c *cli) usageErr(format string, a ...any) int {
	fmt.Fprintf(c.stderr, "ipckit %s: %s; see 'ipckit %s -h'\n", c.name, fmt.Sprintf(format, a...), c.name)
	return 1
}

// parse parses args, allowing flags after positional arguments as the
// util-linux tools do ("--" ends the flags). It returns the positional
// arguments, or done with the exit status when the command should stop:
// 0 after -h, 1 after a bad flag.
func (c *cli) parse(args []string) (pos []string, done bool, status int) {
	for {
		err := c.fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			c.help()
			return nil, true, 0
		}
		if err != nil {
			// A bool flag that takes a value (--all=KINDS) is not a
			// "boolean value" to the user.
			msg := strings.Replace(err.Error(), "invalid boolean value", "invalid value", 1)
			return nil, true, c.usageErr("%s", msg)
		}
		rest := c.fs.Args()
		if len(rest) == 0 {
			return pos, false, 0
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), false, 0
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
