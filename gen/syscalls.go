package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// syscallDirs are the packages whose syscall_linux.go holds //sys lines.
var syscallDirs = []string{"internal/futex", "posix", "sysv"}

var sysRe = regexp.MustCompile(`^//sys\s+(\w+)\(([^)]*)\)\s*(?:\(([^)]*)\))?\s*=\s*([\w.]+)\s*$`)

type param struct{ name, typ string }

type proto struct {
	name    string
	params  []param
	results []param
	sysnum  string
	line    int
}

func parseParams(s string) ([]param, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var ps []param
	for _, f := range strings.Split(s, ",") {
		fs := strings.Fields(f)
		if len(fs) != 2 {
			return nil, fmt.Errorf("parameter %q: want `name type`", strings.TrimSpace(f))
		}
		ps = append(ps, param{fs[0], fs[1]})
	}
	return ps, nil
}

func readProtos(path string) ([]proto, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ps []proto
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "//sys") {
			continue
		}
		m := sysRe.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("%s:%d: malformed //sys line", path, n)
		}
		p := proto{name: m[1], sysnum: m[4], line: n}
		if p.params, err = parseParams(m[2]); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, n, err)
		}
		if p.results, err = parseParams(m[3]); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, n, err)
		}
		ps = append(ps, p)
	}
	return ps, sc.Err()
}

// genSyscalls writes dir/zsyscall_linux.go from dir/syscall_linux.go.
func genSyscalls(root, dir string) ([]byte, error) {
	src := filepath.Join(root, dir, "syscall_linux.go")
	protos, err := readProtos(src)
	if err != nil {
		return nil, err
	}
	pkg := filepath.Base(dir)
	var body strings.Builder
	imports := map[string]bool{"golang.org/x/sys/unix": true}
	needZero := false
	for _, p := range protos {
		code, usesUnsafe, usesZero, err := genOne(p)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", src, p.line, err)
		}
		if usesUnsafe {
			imports["unsafe"] = true
		}
		needZero = needZero || usesZero
		if strings.Contains(p.sysnum+code, "abi.") {
			imports["github.com/ipckit/ipckit/internal/abi"] = true
		}
		body.WriteString(code)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "package %s\n\nimport (\n", pkg)
	for _, imp := range []string{"unsafe", "golang.org/x/sys/unix", "github.com/ipckit/ipckit/internal/abi"} {
		if imports[imp] {
			fmt.Fprintf(&b, "\t%q\n", imp)
		}
	}
	b.WriteString(")\n\n")
	if needZero {
		b.WriteString("// _zero gives empty slices an address to pass to the kernel.\nvar _zero uintptr\n\n")
	}
	b.WriteString(body.String())
	return gofmt(dir+"/zsyscall_linux.go", b.String())
}

func genOne(p proto) (code string, usesUnsafe, usesZero bool, err error) {
	var pre strings.Builder
	var args []string
	hasErr := false
	for _, r := range p.results {
		if r.name == "err" {
			if r.typ != "error" {
				return "", false, false, fmt.Errorf("err must be of type error")
			}
			hasErr = true
		}
	}
	for i, a := range p.params {
		tmp := fmt.Sprintf("_p%d", i)
		switch {
		case a.typ == "string":
			if !hasErr {
				return "", false, false, fmt.Errorf("string parameter %s needs an err result", a.name)
			}
			fmt.Fprintf(&pre, "\tvar %s *byte\n\t%s, err = unix.BytePtrFromString(%s)\n\tif err != nil {\n\t\treturn\n\t}\n", tmp, tmp, a.name)
			args = append(args, fmt.Sprintf("uintptr(unsafe.Pointer(%s))", tmp))
			usesUnsafe = true
		case strings.HasPrefix(a.typ, "[]"):
			fmt.Fprintf(&pre, "\tvar %s unsafe.Pointer\n\tif len(%s) > 0 {\n\t\t%s = unsafe.Pointer(&%s[0])\n\t} else {\n\t\t%s = unsafe.Pointer(&_zero)\n\t}\n", tmp, a.name, tmp, a.name, tmp)
			args = append(args, fmt.Sprintf("uintptr(%s)", tmp), fmt.Sprintf("uintptr(len(%s))", a.name))
			usesUnsafe, usesZero = true, true
		case strings.HasPrefix(a.typ, "*"):
			args = append(args, fmt.Sprintf("uintptr(unsafe.Pointer(%s))", a.name))
			usesUnsafe = true
		case a.typ == "unsafe.Pointer":
			args = append(args, fmt.Sprintf("uintptr(%s)", a.name))
			usesUnsafe = true
		case a.typ == "int", a.typ == "int32", a.typ == "uint32", a.typ == "uint", a.typ == "uintptr", a.typ == "uint16", a.typ == "int16":
			args = append(args, fmt.Sprintf("uintptr(%s)", a.name))
		default:
			return "", false, false, fmt.Errorf("parameter %s: unsupported type %s", a.name, a.typ)
		}
	}
	if len(args) > 6 {
		return "", false, false, fmt.Errorf("more than 6 arguments")
	}
	for len(args) < 6 {
		args = append(args, "0")
	}
	var ret string
	var post strings.Builder
	r0 := "_"
	var params, results []string
	for _, a := range p.params {
		params = append(params, a.name+" "+a.typ)
	}
	for _, r := range p.results {
		results = append(results, r.name+" "+r.typ)
		if r.name == "err" {
			continue
		}
		if r0 != "_" {
			return "", false, false, fmt.Errorf("at most one result besides err")
		}
		r0 = "r0"
		switch r.typ {
		case "int", "int32", "uint32", "uintptr", "uint":
			fmt.Fprintf(&post, "\t%s = %s(r0)\n", r.name, r.typ)
		default:
			return "", false, false, fmt.Errorf("result %s: unsupported type %s", r.name, r.typ)
		}
	}
	e1 := "_"
	if hasErr {
		e1 = "e1"
		post.WriteString("\tif e1 != 0 {\n\t\terr = e1\n\t}\n")
	}
	if len(results) > 0 {
		ret = "(" + strings.Join(results, ", ") + ")"
	}
	call := fmt.Sprintf("unix.Syscall6(%s, %s)", p.sysnum, strings.Join(args, ", "))
	var b strings.Builder
	fmt.Fprintf(&b, "func %s(%s) %s {\n", p.name, strings.Join(params, ", "), ret)
	b.WriteString(pre.String())
	if r0 == "_" && e1 == "_" {
		fmt.Fprintf(&b, "\t%s\n", call)
	} else {
		fmt.Fprintf(&b, "\t%s, _, %s := %s\n", r0, e1, call)
	}
	b.WriteString(post.String())
	if len(results) > 0 {
		b.WriteString("\treturn\n")
	}
	b.WriteString("}\n\n")
	return b.String(), usesUnsafe, usesZero, nil
}
