package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
)

func init() {
	register(command{
		name:    "ls",
		summary: "list IPC objects (SysV queues, semaphores, segments; POSIX shm, semaphores, queues)",
		run:     runLs,
	})
}

func runLs(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("ls", stderr)
	asJSON := fs.Bool("json", false, "print JSON (an array of objects) instead of a table")
	kinds := fs.String("kind", "", "comma-separated kinds to show (msg,sem,shm,posix-shm,posix-sem,mqueue); default all")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	want := map[string]bool{}
	for _, k := range strings.Split(*kinds, ",") {
		if k = strings.TrimSpace(k); k != "" {
			want[k] = true
		}
	}
	objs := []object{}
	status := 0
	for _, l := range listers {
		got, err := l.list()
		if err != nil {
			fmt.Fprintf(stderr, "ipckit ls: %s: %v\n", l.name, err)
			status = 1
		}
		for _, o := range got {
			if len(want) == 0 || want[o.Kind] {
				if o.Owner == "" {
					o.Owner = userName(o.UID)
				}
				objs = append(objs, o)
			}
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(objs); err != nil {
			fmt.Fprintln(stderr, "ipckit ls:", err)
			return 1
		}
		return status
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tID\tKEY\tNAME\tOWNER\tPERMS\tSIZE\tCOUNT\tCPID\tLPID\tCHANGED")
	for _, o := range objs {
		id, key, name := "-", "-", "-"
		if o.ID >= 0 {
			id = strconv.Itoa(o.ID)
			key = fmt.Sprintf("0x%08x", uint32(o.Key))
		}
		if o.Name != "" {
			name = o.Name
		}
		changed := "-"
		if !o.Changed.IsZero() {
			changed = o.Changed.Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", o.Kind, id, key, name, o.Owner, o.Perms,
			o.Size, o.Count, pidStr(o.CPID), pidStr(o.LPID), changed)
	}
	if err := tw.Flush(); err != nil {
		return 1
	}
	return status
}

func pidStr(p int) string {
	if p <= 0 {
		return "-"
	}
	return strconv.Itoa(p)
}

var userNames = map[uint32]string{}

func userName(uid uint32) string {
	if n, ok := userNames[uid]; ok {
		return n
	}
	n := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(n); err == nil {
		n = u.Username
	}
	userNames[uid] = n
	return n
}
