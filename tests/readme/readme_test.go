// Package readme keeps README.md honest: every ```go block in it is a
// complete program that must vet, build against the module as it is, and
// run successfully.
package readme

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
)

func TestMain(m *testing.M) {
	testenv.RunChildIfAsked()
	ipctest.Main(m)
}

// goBlocks returns the ```go blocks of a Markdown text with the line each
// starts on.
func goBlocks(md string) (blocks []string, lines []int) {
	sc := bufio.NewScanner(strings.NewReader(md))
	var cur *strings.Builder
	n, start := 0, 0
	for sc.Scan() {
		n++
		l := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(l) == "```go":
			cur, start = &strings.Builder{}, n+1
		case cur != nil && strings.TrimSpace(l) == "```":
			blocks, lines = append(blocks, cur.String()), append(lines, start)
			cur = nil
		case cur != nil:
			cur.WriteString(l + "\n")
		}
	}
	return blocks, lines
}

func TestGoBlocks(t *testing.T) {
	testenv.SkipUnderEmulation(t, "the README's programs are built with the host's go command and run natively")
	root := testenv.Root()
	md, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, lines := goBlocks(string(md))
	if len(blocks) == 0 {
		t.Fatal("README.md has no ```go block")
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = testenv.Tool(t, "go")
	}
	for i, src := range blocks {
		if !strings.Contains(src, "package main") || !strings.Contains(src, "func main()") {
			t.Errorf("README.md:%d: the Go block is not a complete program (package main with func main)", lines[i])
			continue
		}
		// A directory inside the module, so the block builds against the
		// module's own code and go.mod; the leading underscore keeps it out
		// of ./... patterns while it exists.
		dir, err := os.MkdirTemp(filepath.Join(root, "tests", "readme"), "_block")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		pkg := "./" + filepath.ToSlash(must(filepath.Rel(root, dir)))
		bin := filepath.Join(t.TempDir(), "readme")
		for _, args := range [][]string{{"vet", pkg}, {"build", "-o", bin, pkg}} {
			cmd := exec.Command(gobin, args...)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("README.md:%d: go %s: %v\n%s\n--- the block:\n%s", lines[i], args[0], err, out, src)
			}
		}
		var out, errb bytes.Buffer
		cmd := exec.Command(bin)
		cmd.Stdout, cmd.Stderr = &out, &errb
		cmd.WaitDelay = 10 * time.Second
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		timer := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
		err = cmd.Wait()
		timer.Stop()
		if err != nil {
			t.Errorf("README.md:%d: the program failed: %v\nstdout: %s\nstderr: %s", lines[i], err, out.String(), errb.String())
			continue
		}
		t.Logf("README.md:%d prints %q", lines[i], out.String())
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestGoBlocksFound checks the extractor on a small text.
func TestGoBlocksFound(t *testing.T) {
	md := "intro\n```go\npackage main\n```\ntext\n```\nnot go\n```\n  ```go\nx\n  ```\n"
	blocks, lines := goBlocks(md)
	if len(blocks) != 2 || blocks[0] != "package main\n" || blocks[1] != "x\n" || lines[0] != 3 || lines[1] != 10 {
		t.Errorf("goBlocks = %q at %v", blocks, lines)
	}
}
