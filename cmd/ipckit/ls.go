package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

func init() {
	register(command{name: "ls", summary: "list IPC objects: System V, POSIX and named rings (like lsipc)", run: runLs})
}

func runLs(args []string, stdout, stderr io.Writer) int {
	c := newCLI("ls", "ls [KIND...] [--json] [-o COLUMNS] [--noheadings]",
		"List every IPC object of the given kinds (all kinds without one) in this IPC\n"+
			"namespace: System V objects from /proc/sysvipc (or the kernel's *_STAT_ANY),\n"+
			"POSIX shared memory, named semaphores and rings from /dev/shm, POSIX message\n"+
			"queues from the mqueue filesystem (mounted privately for the call if\n"+
			"/dev/mqueue is not mounted, which needs CAP_SYS_ADMIN). A source that cannot\n"+
			"be read is named on stderr and the exit status is 1; the rest is listed.\n\n"+
			"A column shows \"-\" where it does not apply to the object's kind; --json\n"+
			"leaves such keys out. Keys are hexadecimal strings (\"0x0000abcd\"), times\n"+
			"RFC 3339. Without -o the table shows the default columns that apply to the\n"+
			"listed kinds, and --json every column.",
		stdout, stderr)
	asJSON := c.fs.Bool("json", false, "print JSON: {\"objects\": [...]}, one object per IPC object")
	cols := c.fs.String("o", "", "comma-separated `COLUMNS` to show; +COLUMNS adds to the defaults")
	c.fs.StringVar(cols, "output", "", "same as -o")
	noHead := c.fs.Bool("noheadings", false, "do not print the header line")
	c.fs.BoolVar(noHead, "n", false, "same as --noheadings")
	kindList := c.fs.String("kind", "", "comma-separated `KINDS` (the same as KIND arguments)")
	var b strings.Builder
	b.WriteString(kindHelp())
	b.WriteString("\ncolumns (* default):\n")
	for _, col := range columns {
		mark := " "
		if col.dflt {
			mark = "*"
		}
		fmt.Fprintf(&b, "  %s%-10s %s\n", mark, col.name, col.help)
	}
	b.WriteString("\nexamples:\n  ipckit ls msg shm\n  ipckit ls -o KIND,ID,KEY,MESSAGES,LSPID msg\n  ipckit ls --json ring")
	c.extra = b.String()
	pos, done, st := c.parse(args)
	if done {
		return st
	}
	if *kindList != "" {
		pos = append(pos, strings.Split(*kindList, ",")...)
	}
	want := map[string]bool{}
	for _, k := range pos {
		k = strings.TrimSpace(k)
		if !isKind(k) {
			return c.usageErr("unknown kind %q (kinds: %s)", k, kindNames())
		}
		want[k] = true
	}
	show, err := selectColumns(*cols, want, *asJSON)
	if err != nil {
		return c.usageErr("%v", err)
	}

	objs, errs := listObjects(want)
	for _, err := range errs {
		fmt.Fprintf(stderr, "ipckit ls: %v\n", err)
	}
	status := 0
	if len(errs) > 0 {
		status = 1
	}
	if *asJSON {
		rows := make([]orderedObject, 0, len(objs))
		for i := range objs {
			var row orderedObject
			for _, col := range show {
				if v := col.get(&objs[i]); v != nil {
					row = append(row, kv{strings.ToLower(col.name), jsonValue(v)})
				}
			}
			rows = append(rows, row)
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Objects []orderedObject `json:"objects"`
		}{rows}); err != nil {
			return c.fail("%v", err)
		}
		return status
	}
	var head []string
	right := make([]bool, len(show))
	for j, col := range show {
		head = append(head, col.name)
		right[j] = col.number
	}
	if *noHead {
		head = nil
	}
	var rows [][]string
	for i := range objs {
		var r []string
		for _, col := range show {
			r = append(r, cellText(col.get(&objs[i])))
		}
		rows = append(rows, r)
	}
	writeTable(stdout, head, right, rows)
	return status
}

// selectColumns resolves -o: a list of columns, or +list to add to the
// defaults. The defaults are the default columns that apply to the wanted
// kinds (every column for JSON).
func selectColumns(spec string, want map[string]bool, all bool) ([]*column, error) {
	var out []*column
	add := strings.HasPrefix(spec, "+")
	if spec == "" || add {
		for i := range columns {
			col := &columns[i]
			if (all || col.dflt) && col.appliesTo(want) {
				out = append(out, col)
			}
		}
		spec = strings.TrimPrefix(spec, "+")
	}
	for _, name := range strings.Split(spec, ",") {
		name = strings.ToUpper(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		col := findColumn(name)
		if col == nil {
			var names []string
			for _, c := range columns {
				names = append(names, c.name)
			}
			return nil, fmt.Errorf("unknown column %q (columns: %s)", name, strings.Join(names, ","))
		}
		dup := false
		for _, o := range out {
			dup = dup || o == col
		}
		if !dup {
			out = append(out, col)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no columns selected")
	}
	return out, nil
}
