package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// field is one top-level member of a C struct as the compiler laid it out.
type field struct {
	cname  string
	ctype  string
	offset int64
	size   int64
}

type record struct {
	fields      []field
	size, align int64
}

// archABI is everything the probes learned about one architecture.
type archABI struct {
	a         arch
	records   map[string]*record // by C type ("struct msqid64_ds")
	consts    map[string]int64
	ptrSize   int64
	bigEndian bool
	sysnums   map[string]bool // SYS_* names golang.org/x/sys/unix defines for the arch
}

func findClang() (string, error) {
	for _, c := range []string{"clang", "clang-14", "clang-15", "clang-16", "clang-17", "clang-18", "clang-19"} {
		if p, err := exec.LookPath(c); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("clang not found: install Debian's clang-14 (it lays out structs for every target from one binary)")
}

func probeSource(withSizes map[string]*record) string {
	var b strings.Builder
	for _, h := range headers {
		fmt.Fprintf(&b, "#include <%s>\n", h)
	}
	for i, s := range structs {
		fmt.Fprintf(&b, "%s v_%d;\n", s.c, i)
	}
	if withSizes == nil {
		return b.String()
	}
	b.WriteString("long long p_ptr = sizeof(void *);\n")
	b.WriteString("long long p_big = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__;\n")
	for i, s := range structs {
		r := withSizes[s.c]
		fmt.Fprintf(&b, "long long z_%d = sizeof(%s);\nlong long a_%d = _Alignof(%s);\n", i, s.c, i, s.c)
		for j, f := range r.fields {
			fmt.Fprintf(&b, "long long s_%d_%d = sizeof(((%s *)0)->%s);\n", i, j, s.c, f.cname)
		}
	}
	for _, c := range constants {
		fmt.Fprintf(&b, "long long c_%s = (long long)(%s);\n", c.name, c.name)
	}
	return b.String()
}

func runClang(clang string, a arch, dir, src string, args ...string) (string, error) {
	inc := filepath.Join("/usr", a.incdir, "include")
	if _, err := os.Stat(filepath.Join(inc, "asm", "sembuf.h")); err != nil {
		return "", fmt.Errorf("%s: no kernel headers at %s: install Debian's linux-libc-dev-%s-cross", a.goarch, inc, a.deb)
	}
	file := filepath.Join(dir, "probe.c")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		return "", err
	}
	// shim/ provides an empty <unistd.h>: linux/shm.h includes it for user
	// space, and the probe must see kernel headers only.
	all := append([]string{"--target=" + a.target, "-nostdinc", "-isystem", filepath.Join(dir, "shim"), "-isystem", inc}, args...)
	all = append(all, file)
	cmd := exec.Command(clang, all...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: clang %s: %v\n%s", a.goarch, strings.Join(all, " "), err, stderr.String())
	}
	return string(out), nil
}

var (
	dumpHead  = regexp.MustCompile(`^\s*0 \| ((?:struct|union) [\w]+)$`)
	dumpField = regexp.MustCompile(`^\s*(\d+) \|   (\S.*\S) (\w+)$`)
	dumpEnd   = regexp.MustCompile(`^\s*\| \[sizeof=(\d+), .*align=(\d+)`)
	irGlobal  = regexp.MustCompile(`^@(\w+) = .*global i64 (-?\d+)`)
)

func parseDump(out string) map[string]*record {
	recs := map[string]*record{}
	var cur *record
	var name string
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := dumpHead.FindStringSubmatch(line); m != nil {
			name, cur = m[1], &record{}
			continue
		}
		if cur == nil {
			continue
		}
		if m := dumpField.FindStringSubmatch(line); m != nil {
			off, _ := strconv.ParseInt(m[1], 10, 64)
			cur.fields = append(cur.fields, field{cname: m[3], ctype: m[2], offset: off})
			continue
		}
		if m := dumpEnd.FindStringSubmatch(line); m != nil {
			cur.size, _ = strconv.ParseInt(m[1], 10, 64)
			cur.align, _ = strconv.ParseInt(m[2], 10, 64)
			if _, seen := recs[name]; !seen {
				recs[name] = cur
			}
			cur = nil
		}
	}
	return recs
}

func parseIR(out string) map[string]int64 {
	vals := map[string]int64{}
	for _, line := range strings.Split(out, "\n") {
		if m := irGlobal.FindStringSubmatch(line); m != nil {
			v, _ := strconv.ParseInt(m[2], 10, 64)
			vals[m[1]] = v
		}
	}
	return vals
}

func probeArch(clang, xsys string, a arch) (*archABI, error) {
	dir, err := os.MkdirTemp("", "ipckit-gen-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := os.MkdirAll(filepath.Join(dir, "shim"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "shim", "unistd.h"), nil, 0o644); err != nil {
		return nil, err
	}
	dump, err := runClang(clang, a, dir, probeSource(nil), "-S", "-emit-llvm", "-o", os.DevNull, "-Xclang", "-fdump-record-layouts")
	if err != nil {
		return nil, err
	}
	recs := parseDump(dump)
	for _, s := range structs {
		if recs[s.c] == nil {
			return nil, fmt.Errorf("%s: no layout for %s in clang's dump", a.goarch, s.c)
		}
	}
	ir, err := runClang(clang, a, dir, probeSource(recs), "-S", "-emit-llvm", "-o", "-")
	if err != nil {
		return nil, err
	}
	vals := parseIR(ir)
	get := func(k string) (int64, error) {
		v, ok := vals[k]
		if !ok {
			return 0, fmt.Errorf("%s: probe value %s missing from clang's IR", a.goarch, k)
		}
		return v, nil
	}
	abi := &archABI{a: a, records: recs, consts: map[string]int64{}}
	if abi.ptrSize, err = get("p_ptr"); err != nil {
		return nil, err
	}
	big, err := get("p_big")
	if err != nil {
		return nil, err
	}
	abi.bigEndian = big != 0
	for i, s := range structs {
		r := recs[s.c]
		if z, err := get(fmt.Sprintf("z_%d", i)); err != nil || z != r.size {
			return nil, fmt.Errorf("%s: %s: sizeof %d disagrees with the layout dump %d (%v)", a.goarch, s.c, z, r.size, err)
		}
		for j := range r.fields {
			if r.fields[j].size, err = get(fmt.Sprintf("s_%d_%d", i, j)); err != nil {
				return nil, err
			}
		}
	}
	for _, c := range constants {
		if abi.consts[c.name], err = get("c_" + c.name); err != nil {
			return nil, err
		}
	}
	if abi.sysnums, err = readSysnums(xsys, a.goarch); err != nil {
		return nil, err
	}
	return abi, nil
}

var sysnumRe = regexp.MustCompile(`^\s*(SYS_\w+)\s*=`)

func readSysnums(xsys, goarch string) (map[string]bool, error) {
	b, err := os.ReadFile(filepath.Join(xsys, "unix", "zsysnum_linux_"+goarch+".go"))
	if err != nil {
		return nil, err
	}
	m := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if s := sysnumRe.FindStringSubmatch(line); s != nil {
			m[s[1]] = true
		}
	}
	return m, nil
}

func xsysDir(root string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "golang.org/x/sys")
	cmd.Dir = root
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locating golang.org/x/sys: %w (run go mod download)", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// genABI probes every architecture and writes internal/abi and the
// per-package alias files into out.
func genABI(root string, out map[string][]byte) error {
	clang, err := findClang()
	if err != nil {
		return err
	}
	xsys, err := xsysDir(root)
	if err != nil {
		return err
	}
	byArch := map[string]*archABI{}
	for _, a := range arches {
		if a.sameAs != "" {
			continue
		}
		abi, err := probeArch(clang, xsys, a)
		if err != nil {
			return err
		}
		byArch[a.goarch] = abi
	}
	for _, a := range arches {
		if a.sameAs == "" {
			continue
		}
		src := *byArch[a.sameAs]
		src.a = a
		if src.sysnums, err = readSysnums(xsys, a.goarch); err != nil {
			return err
		}
		byArch[a.goarch] = &src
	}
	// Constants equal on every architecture go to one file; any that
	// differ are written per architecture.
	common := map[string]int64{}
	perArch := map[string]bool{}
	for _, c := range constants {
		v := byArch["amd64"].consts[c.name]
		same := true
		for _, abi := range byArch {
			if abi.consts[c.name] != v {
				same = false
			}
		}
		if same {
			common[c.name] = v
		} else {
			perArch[c.name] = true
		}
	}
	b, err := emitConsts(common)
	if err != nil {
		return err
	}
	out[abiDir+"/zconsts_linux.go"] = b
	for _, a := range arches {
		abi := byArch[a.goarch]
		types, test, err := emitArch(abi, perArch)
		if err != nil {
			return err
		}
		out[abiDir+"/ztypes_linux_"+a.goarch+".go"] = types
		out[abiDir+"/zlayout_linux_"+a.goarch+"_test.go"] = test
	}
	for _, pkg := range []string{"sysv", "posix"} {
		b, err := emitExports(pkg)
		if err != nil {
			return err
		}
		out[pkg+"/zabi_linux.go"] = b
	}
	return nil
}

func emitConsts(common map[string]int64) ([]byte, error) {
	var b strings.Builder
	b.WriteString("package abi\n\n// Constants from the kernel's UAPI headers, equal on every Linux architecture.\nconst (\n")
	for _, c := range constants {
		if v, ok := common[c.name]; ok {
			fmt.Fprintf(&b, "\t%s = %s\n", c.name, formatConst(v))
		}
	}
	b.WriteString(")\n")
	return gofmt(abiDir+"/zconsts_linux.go", b.String())
}

func formatConst(v int64) string {
	if v < 0 || v < 16 {
		return strconv.FormatInt(v, 10)
	}
	return "0x" + strconv.FormatInt(v, 16)
}

// goField is a Go struct field with the offset C gives it.
type goField struct {
	name, typ   string
	offset      int64
	size, align int64
}

var (
	longTypes  = map[string]bool{"long": true, "__kernel_long_t": true, "__kernel_time_t": true, "__kernel_old_time_t": true, "__kernel_ssize_t": true, "__kernel_ptrdiff_t": true, "__kernel_suseconds_t": true}
	ulongTypes = map[string]bool{"unsigned long": true, "__kernel_ulong_t": true, "__kernel_size_t": true}
	signed     = map[string]bool{"int": true, "short": true, "long long": true, "signed char": true, "__s8": true, "__s16": true, "__s32": true, "__s64": true, "__kernel_key_t": true, "__kernel_pid_t": true, "__kernel_ipc_pid_t": true, "__kernel_time64_t": true, "__kernel_clockid_t": true, "__kernel_timer_t": true, "__kernel_daddr_t": true}
	unsigned   = map[string]bool{"unsigned int": true, "unsigned short": true, "unsigned char": true, "unsigned long long": true, "__u8": true, "__u16": true, "__u32": true, "__u64": true, "__kernel_uid32_t": true, "__kernel_gid32_t": true, "__kernel_uid_t": true, "__kernel_gid_t": true, "__kernel_mode_t": true, "__kernel_old_uid_t": true, "__kernel_old_gid_t": true}
	arrayRe    = regexp.MustCompile(`^(.*)\[(\d+)\]$`)
)

// goType maps a C type of the given size to a Go type, with its Go
// alignment on an architecture whose largest alignment is maxAlign.
func goType(ctype string, size, ptrSize, maxAlign int64, known map[string]*goStruct) (string, int64, error) {
	ctype = strings.TrimSpace(ctype)
	scalar := func(sz int64, sign bool) (string, int64, error) {
		names := map[int64]string{1: "8", 2: "16", 4: "32", 8: "64"}
		n, ok := names[sz]
		if !ok {
			return "", 0, fmt.Errorf("%s: no Go integer of %d bytes", ctype, sz)
		}
		t := "uint" + n
		if sign {
			t = "int" + n
		}
		return t, min(sz, maxAlign), nil
	}
	if m := arrayRe.FindStringSubmatch(ctype); m != nil {
		n, _ := strconv.ParseInt(m[2], 10, 64)
		if n == 0 {
			return "", 0, nil
		}
		et, ea, err := goType(m[1], size/n, ptrSize, maxAlign, known)
		if err != nil {
			return "", 0, err
		}
		return fmt.Sprintf("[%d]%s", n, et), ea, nil
	}
	switch {
	case strings.Contains(ctype, "*"), ctype == "struct robust_list", ctype == "union sigval":
		if size != ptrSize {
			return "", 0, fmt.Errorf("%s: %d bytes, not pointer-sized", ctype, size)
		}
		return "uintptr", ptrSize, nil
	case strings.HasPrefix(ctype, "struct "):
		gs, ok := known[ctype]
		if !ok {
			return "", 0, fmt.Errorf("%s: nested struct not in the spec", ctype)
		}
		return gs.name, gs.align, nil
	case strings.HasPrefix(ctype, "union "):
		return fmt.Sprintf("[%d]byte", size), 1, nil
	case longTypes[ctype] || ulongTypes[ctype]:
		if size != ptrSize {
			return "", 0, fmt.Errorf("%s: %d bytes, not long-sized", ctype, size)
		}
		if longTypes[ctype] {
			return "int", ptrSize, nil
		}
		return "uint", ptrSize, nil
	case signed[ctype]:
		return scalar(size, true)
	case unsigned[ctype]:
		return scalar(size, false)
	}
	return "", 0, fmt.Errorf("C type %q: add it to the generator's type tables", ctype)
}

type goStruct struct {
	name   string
	fields []goField
	size   int64
	align  int64
}

func goFieldName(cname string, strip []string) string {
	if strings.HasPrefix(cname, "__") {
		return "_"
	}
	n := strings.TrimLeft(cname, "_")
	for _, p := range strip {
		n = strings.TrimPrefix(n, p)
	}
	var b strings.Builder
	for _, part := range strings.Split(n, "_") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// layoutStruct turns a C record into Go fields at the same offsets,
// inserting explicit padding where Go's alignment rules would not.
func layoutStruct(s cstruct, r *record, ptrSize int64, known map[string]*goStruct) (*goStruct, error) {
	maxAlign := ptrSize
	gs := &goStruct{name: s.goName, align: 1}
	var off int64
	pad := 0
	addPad := func(n int64) {
		gs.fields = append(gs.fields, goField{name: "_", typ: fmt.Sprintf("[%d]byte", n), offset: off, size: n, align: 1})
		off += n
		pad++
	}
	for _, f := range r.fields {
		if f.size == 0 {
			continue
		}
		typ, align, err := goType(f.ctype, f.size, ptrSize, maxAlign, known)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %v", s.c, f.cname, err)
		}
		aligned := (off + align - 1) / align * align
		if aligned > f.offset {
			return nil, fmt.Errorf("%s.%s: C offset %d is below Go's aligned offset %d", s.c, f.cname, f.offset, aligned)
		}
		if f.offset > aligned {
			addPad(f.offset - off)
		}
		off = f.offset
		gs.fields = append(gs.fields, goField{name: goFieldName(f.cname, s.strip), typ: typ, offset: off, size: f.size, align: align})
		off += f.size
		gs.align = max(gs.align, align)
	}
	goSize := (off + gs.align - 1) / gs.align * gs.align
	if goSize > r.size {
		return nil, fmt.Errorf("%s: Go would make it %d bytes, C has %d", s.c, goSize, r.size)
	}
	if goSize < r.size {
		addPad(r.size - off)
	}
	gs.size = r.size
	return gs, nil
}

func emitArch(abi *archABI, perArch map[string]bool) (types, test []byte, err error) {
	a := abi.a
	var b strings.Builder
	b.WriteString("package abi\n\nimport (\n\t\"unsafe\"\n\n\t\"golang.org/x/sys/unix\"\n)\n\n")
	if a.sameAs != "" {
		fmt.Fprintf(&b, "// linux/%s is laid out as linux/%s: %s.\n\n", a.goarch, a.sameAs, a.why)
	}
	ipc64 := int64(0)
	if ipc64Arches[a.goarch] {
		ipc64 = abi.consts["IPC_64"]
	}
	shift := 0
	if abi.bigEndian && abi.ptrSize == 8 {
		shift = 32
	}
	fmt.Fprintf(&b, "// Facts about linux/%s.\nconst (\n", a.goarch)
	fmt.Fprintf(&b, "\t// BigEndian reports the byte order.\n\tBigEndian = %v\n", abi.bigEndian)
	fmt.Fprintf(&b, "\t// SizeofLong is sizeof(long) and sizeof(void *).\n\tSizeofLong = %d\n", abi.ptrSize)
	fmt.Fprintf(&b, "\t// IPC64 is ORed into msgctl, semctl and shmctl commands (IPC_64 where the kernel needs it, else 0).\n\tIPC64 = %#x\n", ipc64)
	fmt.Fprintf(&b, "\t// SemunShift places an int in semctl's by-value union semun argument (SETVAL): a C union passed by value on a big-endian 64-bit ABI carries the int in the high half.\n\tSemunShift = %d\n", shift)
	for _, t := range timeSyscalls {
		name := "unix." + t.sys
		if abi.sysnums[t.sys+"_TIME64"] {
			name = "unix." + t.sys + "_TIME64"
		} else if !abi.sysnums[t.sys] {
			return nil, nil, fmt.Errorf("%s: golang.org/x/sys/unix defines neither %s nor %s_TIME64", a.goarch, t.sys, t.sys)
		}
		fmt.Fprintf(&b, "\t%s = %s\n", t.goName, name)
	}
	b.WriteString(")\n\n")
	if len(perArch) > 0 {
		b.WriteString("// Constants whose value depends on the architecture.\nconst (\n")
		for _, c := range constants {
			if perArch[c.name] {
				fmt.Fprintf(&b, "\t%s = %s\n", c.name, formatConst(abi.consts[c.name]))
			}
		}
		b.WriteString(")\n\n")
	}
	known := map[string]*goStruct{}
	var ordered []*goStruct
	var asserts strings.Builder
	var tb strings.Builder // test table
	for _, s := range structs {
		r := abi.records[s.c]
		gs, err := layoutStruct(s, r, abi.ptrSize, known)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %v", a.goarch, err)
		}
		known[s.c] = gs
		ordered = append(ordered, gs)
		fmt.Fprintf(&b, "// %s is %s: %s.\ntype %s struct {\n", s.goName, s.c, s.doc, s.goName)
		names := map[string]bool{}
		for _, f := range gs.fields {
			fmt.Fprintf(&b, "\t%s %s\n", f.name, f.typ)
			names[f.name] = true
		}
		b.WriteString("}\n\n")
		fmt.Fprintf(&b, "// Sizeof%s is sizeof(%s).\nconst Sizeof%s = %d\n\n", s.goName, s.c, s.goName, gs.size)
		for _, t := range s.times {
			if !names[t] {
				return nil, nil, fmt.Errorf("%s: %s has no time field %s", a.goarch, s.c, t)
			}
			fmt.Fprintf(&b, "// %sSec returns the %s field in seconds since the epoch", t, t)
			if names[t+"High"] {
				fmt.Fprintf(&b, ", joining the kernel's low and high 32-bit halves.\nfunc (x *%s) %sSec() int64 { return int64(uint32(x.%s)) | int64(x.%sHigh)<<32 }\n\n", s.goName, t, t, t)
			} else {
				fmt.Fprintf(&b, ".\nfunc (x *%s) %sSec() int64 { return int64(x.%s) }\n\n", s.goName, t, t)
			}
		}
		fmt.Fprintf(&asserts, "\tvar %s %s\n", strings.ToLower(s.goName[:1])+s.goName[1:]+"V", s.goName)
		v := strings.ToLower(s.goName[:1]) + s.goName[1:] + "V"
		fmt.Fprintf(&asserts, "\t_ = [1]struct{}{}[unsafe.Sizeof(%s)-%d]\n", v, gs.size)
		for _, f := range gs.fields {
			if f.name == "_" {
				continue
			}
			fmt.Fprintf(&asserts, "\t_ = [1]struct{}{}[unsafe.Offsetof(%s.%s)-%d]\n", v, f.name, f.offset)
		}
		fmt.Fprintf(&tb, "\t{%q, \"\", %q, unsafe.Sizeof(%s{}), 0},\n", s.c, s.goName, s.goName)
		cf := 0
		for _, f := range r.fields {
			if f.size == 0 {
				continue
			}
			gf := goFieldName(f.cname, s.strip)
			if gf == "_" {
				cf++
				continue
			}
			fmt.Fprintf(&tb, "\t{%q, %q, %q, unsafe.Sizeof(%s{}.%s), unsafe.Offsetof(%s{}.%s)},\n", s.c, f.cname, s.goName+"."+gf, s.goName, gf, s.goName, gf)
			cf++
		}
	}
	_ = ordered
	b.WriteString("// layoutAssertions fails to compile if Go's layout of any struct above\n// differs from the C compiler's for this architecture.\nfunc layoutAssertions() {\n")
	b.WriteString(asserts.String())
	b.WriteString("}\n\nvar _ = layoutAssertions\n")
	types, err = gofmt(abiDir+"/ztypes_linux_"+a.goarch+".go", b.String())
	if err != nil {
		return nil, nil, err
	}
	var t strings.Builder
	t.WriteString("package abi\n\nimport \"unsafe\"\n\n")
	t.WriteString("// layoutTable lists every struct and named field with Go's size and\n// offset; layout_test.go compares them with a C probe built at test time.\nvar layoutTable = []layoutEntry{\n")
	t.WriteString(tb.String())
	t.WriteString("}\n\n// constTable lists every constant with its value for this architecture.\nvar constTable = []constEntry{\n")
	for _, c := range constants {
		fmt.Fprintf(&t, "\t{%q, %d},\n", c.name, abi.consts[c.name])
	}
	t.WriteString("}\n\n// layoutHeaders are the headers the C probe includes.\nvar layoutHeaders = []string{\n")
	for _, h := range headers {
		fmt.Fprintf(&t, "\t%q,\n", h)
	}
	t.WriteString("}\n")
	test, err = gofmt(abiDir+"/zlayout_linux_"+a.goarch+"_test.go", t.String())
	return types, test, err
}

// emitExports writes pkg/zabi_linux.go: aliases for the structs and
// constants that pkg re-exports from internal/abi.
func emitExports(pkg string) ([]byte, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "package %s\n\nimport \"github.com/ipckit/ipckit/internal/abi\"\n\n", pkg)
	var names []string
	for _, s := range structs {
		for _, e := range s.export {
			if e == pkg {
				fmt.Fprintf(&b, "// %s is %s: %s. Its layout is generated per architecture from the kernel headers.\ntype %s = abi.%s\n\n", s.goName, s.c, s.doc, s.goName, s.goName)
			}
		}
	}
	for _, c := range constants {
		for _, e := range c.export {
			if e == pkg {
				names = append(names, c.name)
			}
		}
	}
	sort.SliceStable(names, func(i, j int) bool { return false })
	if len(names) > 0 {
		b.WriteString("// Constants from the kernel's UAPI headers.\nconst (\n")
		for _, n := range names {
			fmt.Fprintf(&b, "\t%s = abi.%s\n", n, n)
		}
		b.WriteString(")\n")
	}
	return gofmt(pkg+"/zabi_linux.go", b.String())
}
