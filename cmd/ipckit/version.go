package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

func init() {
	register(command{name: "version", summary: "print the module version this binary was built from", run: runVersion})
}

// version returns the main module's version from the build info ("(devel)"
// for a build inside a work tree) and the VCS revision when it was stamped.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (no build information in the binary)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if rev != "" && !strings.Contains(v, rev[:min(12, len(rev))]) {
		v += fmt.Sprintf(" (revision %s%s)", rev[:min(12, len(rev))], modified)
	}
	return v
}

func runVersion(args []string, stdout, stderr io.Writer) int {
	c := newCLI("version", "version", "Print the version of the github.com/ipckit/ipckit module this binary was built\nfrom (from its build information), the Go version and the target.", stdout, stderr)
	pos, done, st := c.parse(args)
	if done {
		return st
	}
	if len(pos) != 0 {
		return c.usageErr("unexpected argument %q", pos[0])
	}
	path := "github.com/ipckit/ipckit"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Path != "" {
		path = bi.Main.Path
	}
	fmt.Fprintf(stdout, "ipckit %s\n%s, %s, %s/%s\n", version(), path, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return 0
}
