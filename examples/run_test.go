// Package examples holds runnable programs, each a main package in its own
// directory that mirrors a Python multiprocessing (or PyCSP) idiom across
// real processes. This test builds and runs every one of them.
package examples

import (
	"context"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ipckit/ipckit/internal/race"
	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
)

func TestMain(m *testing.M) {
	testenv.RunChildIfAsked()
	ipctest.Main(m)
}

// TestExamples discovers every directory here that holds a main package,
// builds it, runs it with a time limit and requires exit status 0. Each is
// meant to finish in well under 2 s; the limit only catches a hang on a
// loaded machine, and the test logs how long each took.
func TestExamples(t *testing.T) {
	dirs, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	gotool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gotool); err != nil {
		gotool = "go"
	}
	// Build them all in one go (the build cache and one linker run per
	// program, in parallel).
	bin := t.TempDir()
	args := []string{"build", "-o", bin + string(filepath.Separator)}
	if race.Enabled {
		args = append(args, "-race") // go test -race: the programs run under the detector too
	}
	bcmd := exec.Command(gotool, append(args, "./...")...)
	// For the architecture under test (the 386 and qemu legs run this test
	// binary for another GOARCH; the programs then run through $IPCKIT_EXEC).
	bcmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if !race.Enabled {
		bcmd.Env = append(bcmd.Env, "CGO_ENABLED=0")
	}
	if out, err := bcmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/...: %v\n%s", err, out)
	}
	n := 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		pkg, err := build.ImportDir(d.Name(), 0)
		if err != nil || pkg.Name != "main" {
			continue
		}
		n++
		name := d.Name()
		t.Run(name, func(t *testing.T) {
			exe := filepath.Join(bin, name)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			argv := []string{exe}
			if emu := strings.Fields(os.Getenv("IPCKIT_EXEC")); len(emu) > 0 {
				argv = append(emu, exe) // the cross-architecture legs run programs through qemu
			}
			cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
			cmd.WaitDelay = 5 * time.Second
			if race.Enabled {
				// The detector otherwise sleeps 1 s in every exiting process,
				// which outlasts the grace period of a program's Terminate.
				cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0 halt_on_error=1")
			}
			begin := time.Now()
			out, err := cmd.CombinedOutput()
			took := time.Since(begin)
			if err != nil {
				t.Fatalf("%s: %v after %v\n%s", name, err, took.Round(time.Millisecond), out)
			}
			t.Logf("%s: exit 0 in %v\n%s", name, took.Round(time.Millisecond), out)
		})
	}
	if n == 0 {
		t.Fatal("no example programs found")
	}
}
