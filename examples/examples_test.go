// Package examples holds runnable programs, one main package per
// directory, each mirroring a Python multiprocessing idiom with ipckit.
// This test builds every one of them and runs it as a user would: each
// must exit 0 (they check their own results) within its time limit.
package examples

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ipckit/ipckit/internal/testenv"
)

// programs returns the directories under examples/ holding a main package.
func programs(t *testing.T) []string {
	ents, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(e.Name(), "*.go"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err == nil && strings.Contains(string(b), "\npackage main\n") && !strings.HasSuffix(f, "_test.go") {
				dirs = append(dirs, e.Name())
				break
			}
		}
	}
	return dirs
}

func TestExamples(t *testing.T) {
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = testenv.Tool(t, "go")
	}
	dirs := programs(t)
	if len(dirs) == 0 {
		t.Fatal("no example programs found")
	}
	bin := t.TempDir()
	for _, dir := range dirs {
		t.Run(dir, func(t *testing.T) {
			exe := filepath.Join(bin, dir)
			build := exec.Command(goTool, "build", "-o", exe, "./"+dir)
			build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build ./examples/%s: %v\n%s", dir, err, out)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := testenv.Command(exe)
			cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("examples/%s: %v\n%s", dir, err, out)
			}
			t.Logf("examples/%s ran in %v:\n%s", dir, time.Since(start).Round(time.Millisecond), out)
		})
	}
}
