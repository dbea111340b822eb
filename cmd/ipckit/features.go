package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"text/tabwriter"

	"github.com/ipckit/ipckit/internal/feature"
)

func init() {
	register(command{name: "features", summary: "which optional kernel IPC features this system has", run: runFeatures})
}

type featureReport struct {
	Name       string `json:"name"`
	Minimum    string `json:"minimum_kernel"`
	Supported  bool   `json:"supported"`
	Error      string `json:"error,omitempty"`
	Configured bool   `json:"depends_on_config"`
}

// runFeatures probes every optional kernel feature ipckit uses and prints
// one line each: supported or not, and the first kernel that had it.
func runFeatures(args []string, stdout, stderr io.Writer) int {
	c := newCLI("features", "features [--json]",
		"Probe every optional kernel feature ipckit uses and print whether this system\n"+
			"has it and the first kernel version that had it. The exit status is 1 when a\n"+
			"probe failed for another reason than the feature being absent.",
		stdout, stderr)
	asJSON := c.fs.Bool("json", false, "print JSON")
	pos, done, st := c.parse(args)
	if done {
		return st
	}
	if len(pos) != 0 {
		return c.usageErr("unexpected argument %q", pos[0])
	}
	kv, err := feature.KernelVersion()
	if err != nil {
		fmt.Fprintln(stderr, "ipckit features:", err)
		return 1
	}
	var reps []featureReport
	undecided := false
	for _, ft := range feature.All() {
		err := ft.Err()
		r := featureReport{Name: ft.Name, Minimum: ft.Version.String(), Supported: err == nil, Configured: ft.Configurable}
		if err != nil {
			r.Error = err.Error()
			undecided = undecided || !errors.Is(err, feature.ErrNotSupported)
		}
		reps = append(reps, r)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Kernel   string          `json:"kernel"`
			Arch     string          `json:"arch"`
			Features []featureReport `json:"features"`
		}{kv.String(), runtime.GOARCH, reps}); err != nil {
			fmt.Fprintln(stderr, "ipckit features:", err)
			return 1
		}
	} else {
		fmt.Fprintf(stdout, "kernel %s, %s\n", kv, runtime.GOARCH)
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FEATURE\tSINCE\tSTATUS")
		for _, r := range reps {
			status := "yes"
			switch {
			case !r.Supported && r.Error != "" && !errorsIsUnsupported(r):
				status = "unknown: " + r.Error
			case !r.Supported:
				status = "no"
				if !kv.Less(feature.MustParseVersion(r.Minimum)) {
					// Configured out, filtered by seccomp, or missing
					// from an emulator such as qemu-user.
					status += " (the kernel is new enough: configured out, filtered, or emulated)"
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, r.Minimum, status)
		}
		tw.Flush()
	}
	if undecided {
		return 1
	}
	return 0
}

func errorsIsUnsupported(r featureReport) bool {
	ft := feature.Find(r.Name)
	return ft != nil && errors.Is(ft.Err(), feature.ErrNotSupported)
}
