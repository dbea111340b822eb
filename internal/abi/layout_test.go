package abi

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ipckit/ipckit/internal/testenv"
)

// layoutEntry is one struct (field "") or field of the generated layout.
type layoutEntry struct {
	ctype, cfield, goName string
	size, offset          uintptr
}

// TestLayoutMatchesC compiles a C probe with the C compiler for the
// architecture this test binary runs on (testenv.CC: cc on the host, the
// cross compiler under the cross-architecture legs) and checks that every
// size and offset Go uses equals what C's sizeof/offsetof say.
func TestLayoutMatchesC(t *testing.T) {
	var src strings.Builder
	src.WriteString("#include <stdio.h>\n#include <stddef.h>\n")
	for _, h := range layoutHeaders {
		fmt.Fprintf(&src, "#include <%s>\n", h)
	}
	src.WriteString("int main(void) {\n")
	for _, e := range layoutTable {
		if e.cfield == "" {
			fmt.Fprintf(&src, "\tprintf(\"%%zu %%zu\\n\", sizeof(%s), (size_t)0);\n", e.ctype)
		} else {
			fmt.Fprintf(&src, "\tprintf(\"%%zu %%zu\\n\", sizeof(((%s *)0)->%s), offsetof(%s, %s));\n", e.ctype, e.cfield, e.ctype, e.cfield)
		}
	}
	src.WriteString("\treturn 0;\n}\n")
	dir := t.TempDir()
	file := filepath.Join(dir, "layout.c")
	if err := os.WriteFile(file, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := testenv.BuildC(t, "", "layout", []string{file})
	out, err := testenv.Command(bin).Output()
	if err != nil {
		t.Fatalf("layout probe: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(layoutTable) {
		t.Fatalf("probe printed %d lines, want %d", len(lines), len(layoutTable))
	}
	// One row per struct and field, named for both sides, so that a
	// mismatch prints as a diff of the rows that differ (-C +Go).
	type row struct {
		What, Go     string
		Size, Offset uint64
	}
	var fromC, fromGo []row
	for i, e := range layoutTable {
		what := e.ctype
		if e.cfield != "" {
			what += "." + e.cfield
		}
		fs := strings.Fields(lines[i])
		if len(fs) != 2 {
			t.Fatalf("probe line %d: %q", i, lines[i])
		}
		size, _ := strconv.ParseUint(fs[0], 10, 64)
		off, _ := strconv.ParseUint(fs[1], 10, 64)
		fromC = append(fromC, row{what, e.goName, size, off})
		fromGo = append(fromGo, row{what, e.goName, uint64(e.size), uint64(e.offset)})
	}
	if d := cmp.Diff(fromC, fromGo); d != "" {
		t.Errorf("Go's sizes and offsets differ from C's (-C +Go):\n%s", d)
	}
	t.Logf("%d sizes and offsets match C", len(layoutTable))
}

type constEntry struct {
	name  string
	value int64
}

// TestConstantsAgainstC checks every generated constant against the C
// headers of the architecture the test runs on.
func TestConstantsAgainstC(t *testing.T) {
	var src strings.Builder
	src.WriteString("#include <stdio.h>\n")
	for _, h := range layoutHeaders {
		fmt.Fprintf(&src, "#include <%s>\n", h)
	}
	src.WriteString("int main(void) {\n")
	for _, c := range constTable {
		fmt.Fprintf(&src, "\tprintf(\"%%lld\\n\", (long long)(%s));\n", c.name)
	}
	src.WriteString("\treturn 0;\n}\n")
	file := filepath.Join(t.TempDir(), "consts.c")
	if err := os.WriteFile(file, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := testenv.BuildC(t, "", "consts", []string{file})
	out, err := testenv.Command(bin).Output()
	if err != nil {
		t.Fatalf("constant probe: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(constTable) {
		t.Fatalf("probe printed %d lines, want %d", len(lines), len(constTable))
	}
	fromC := map[string]int64{}
	fromGo := map[string]int64{}
	for i, c := range constTable {
		v, _ := strconv.ParseInt(lines[i], 10, 64)
		fromC[c.name], fromGo[c.name] = v, c.value
	}
	if d := cmp.Diff(fromC, fromGo); d != "" {
		t.Errorf("Go's constants differ from C's (-C +Go):\n%s", d)
	}
}
