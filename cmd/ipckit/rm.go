package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ipckit/ipckit/mmapring"
	"github.com/ipckit/ipckit/posix"
	"github.com/ipckit/ipckit/semaphore"
)

func init() {
	register(command{name: "rm", summary: "remove IPC objects by id, key or name (like ipcrm)", run: runRm})
}

// allFlag is --all[=KINDS]: a bool flag that also takes a value.
type allFlag struct {
	set   bool
	kinds []string
}

func (a *allFlag) String() string   { return strings.Join(a.kinds, ",") }
func (a *allFlag) IsBoolFlag() bool { return true }
func (a *allFlag) Set(v string) error {
	switch v {
	case "true":
		a.set, a.kinds = true, []string{kindMsg, kindSem, kindShm}
		return nil
	case "false":
		a.set, a.kinds = false, nil
		return nil
	}
	a.set, a.kinds = true, nil
	for _, k := range strings.Split(v, ",") {
		if !isKind(k) {
			return fmt.Errorf("unknown kind %q (kinds: %s)", k, kindNames())
		}
		a.kinds = append(a.kinds, k)
	}
	return nil
}

func runRm(args []string, stdout, stderr io.Writer) int {
	c := newCLI("rm", "rm KIND ID|0xKEY|NAME... [KIND ID|0xKEY|NAME...]...\nrm --all[=KINDS]",
		"Remove IPC objects: System V objects by id or by hexadecimal key (IPC_RMID),\n"+
			"POSIX objects and rings by name (unlink; processes that have them open keep\n"+
			"them until they close). A KIND word applies to the arguments after it, so\n"+
			"'rm msg 3 4 shm 0x1234 mqueue jobs' removes three kinds at once; write a\n"+
			"name that is also a kind word with its leading slash (/msg).\n\n"+
			"--all removes every System V object the caller may remove (as ipcrm --all\n"+
			"does); --all=KINDS removes every object of the listed kinds, POSIX ones too.\n\n"+
			"Nothing is printed on success (-v says what was removed). A failure prints\n"+
			"ipcrm's words (invalid id (99), invalid key (0x1234), name not found (foo))\n"+
			"and the exit status is 1; the other arguments are still processed.",
		stdout, stderr)
	var all allFlag
	c.fs.Var(&all, "all", "remove every object of the `KINDS` (default msg,sem,shm)")
	c.fs.Var(&all, "a", "same as --all")
	verbose := c.fs.Bool("verbose", false, "print each object removed")
	c.fs.BoolVar(verbose, "v", false, "same as --verbose")
	c.extra = kindHelp()
	pos, done, st := c.parse(args)
	if done {
		return st
	}
	type item struct{ kind, arg string }
	var items []item
	kind := ""
	for _, a := range pos {
		if isKind(a) {
			if kind != "" && (len(items) == 0 || items[len(items)-1].kind != kind) {
				return c.usageErr("%s: no ID, KEY or NAME given", kind)
			}
			kind = a
			continue
		}
		if kind == "" {
			return c.usageErr("unknown kind %q (kinds: %s)", a, kindNames())
		}
		items = append(items, item{kind, a})
	}
	if kind != "" && (len(items) == 0 || items[len(items)-1].kind != kind) {
		return c.usageErr("%s: no ID, KEY or NAME given", kind)
	}
	if !all.set && len(items) == 0 {
		return c.usageErr("nothing to remove: give KIND and ID, KEY or NAME, or --all")
	}
	status := 0
	report := func(kind, arg string, err error) {
		if err != nil {
			fmt.Fprintf(stderr, "ipckit rm: %s: %v\n", kind, err)
			status = 1
		} else if *verbose {
			fmt.Fprintf(stdout, "removed %s %s\n", kind, arg)
		}
	}
	for _, it := range items {
		report(it.kind, it.arg, removeObject(it.kind, it.arg))
	}
	if all.set {
		want := map[string]bool{}
		for _, k := range all.kinds {
			want[k] = true
		}
		objs, errs := listObjects(want)
		for _, err := range errs {
			fmt.Fprintf(stderr, "ipckit rm: %v\n", err)
			status = 1
		}
		for i := range objs {
			o := &objs[i]
			arg := o.Name
			if o.SV != nil {
				arg = fmt.Sprint(o.SV.ID)
			}
			report(o.Kind, arg, removeObject(o.Kind, arg))
		}
	}
	return status
}

// removeObject removes one object named by the user.
func removeObject(kind, arg string) error {
	switch kind {
	case kindMsg, kindSem, kindShm:
		id, err := sysvID(kind, arg, false)
		if err != nil {
			return err
		}
		if err := sysvRemove(kind, id); err != nil {
			_, isKey, _ := parseKey(arg)
			return idError(arg, isKey, err)
		}
		return nil
	case kindPosixShm:
		if _, err := shmFile(arg, ""); err != nil {
			return err
		}
		if isSemFile(arg) {
			return errf("%s is a named semaphore's file: remove it as posix-sem %s", arg, strings.TrimPrefix(trimSlashes(arg), "sem."))
		}
		if err := posix.UnlinkShm(arg); err != nil {
			return nameError(arg, err)
		}
	case kindPosixSem:
		if _, err := shmFile(arg, "sem."); err != nil {
			return err
		}
		if err := semaphore.Unlink(arg); err != nil {
			return nameError(arg, err)
		}
	case kindMqueue:
		if _, err := shmFile(arg, ""); err != nil { // same rules as mq_open's names
			return err
		}
		if err := posix.UnlinkQueue(arg); err != nil {
			return nameError(arg, err)
		}
	case kindRing:
		p, err := shmFile(arg, "")
		if err != nil {
			return err
		}
		if _, err := os.Lstat(p); err != nil {
			return nameError(arg, err)
		}
		if !hasRingMagic(p) {
			return errf("not a ring (%s): remove it as posix-shm", arg)
		}
		if err := mmapring.UnlinkShm(arg); err != nil {
			return nameError(arg, err)
		}
	default:
		return errors.New("unknown kind")
	}
	return nil
}
