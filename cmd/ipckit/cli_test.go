package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/mmapring"
)

// These tests build the ipckit binary and run it as a user would,
// checking its output and exit status.

func init() {
	// ring-consumer NAME: attach to the ring as its consumer, say
	// "ready", and stay until stdin closes (or the process is killed).
	testenv.RegisterChild("ring-consumer", func(args []string) int {
		r, err := mmapring.OpenShm(args[0])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		c, err := r.Consumer()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("ready")
		bufio.NewReader(os.Stdin).ReadString('\n')
		c.Close()
		r.Close()
		return 0
	})
}

// buildIpckit builds the command into a temporary directory for the
// test's architecture (run through $IPCKIT_EXEC when emulated).
// IPCKIT_CLI_BINARY names a binary to test instead (an installed ipckit,
// or an older build to see which checks it fails).
func buildIpckit(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("IPCKIT_CLI_BINARY"); b != "" {
		return b
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = testenv.Tool(t, "go")
	}
	bin := filepath.Join(t.TempDir(), "ipckit")
	cmd := exec.Command(gobin, "build", "-o", bin, ".")
	cmd.Dir = filepath.Join(testenv.Root(), "cmd", "ipckit")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type result1 struct {
	out, err string
	code     int
}

// ipckit runs the binary with args and returns its stdout, stderr and
// exit status.
func ipckit(t *testing.T, bin string, args ...string) result1 {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := testenv.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	// If the command has to be killed, do not wait for children that
	// still hold its output pipes.
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("ipckit %q: %v", args, err)
	}
	timer := time.AfterFunc(5*time.Minute, func() { cmd.Process.Kill() })
	cmd.Wait()
	timer.Stop()
	return result1{out.String(), errb.String(), cmd.ProcessState.ExitCode()}
}

// mustRun runs ipckit and fails unless it exits 0.
func mustRun(t *testing.T, bin string, args ...string) string {
	t.Helper()
	r := ipckit(t, bin, args...)
	if r.code != 0 {
		t.Fatalf("ipckit %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.out, r.err)
	}
	return r.out
}

func jsonOf(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, s)
	}
	return m
}

// lsObject finds one object in `ls --json` output by id (SysV) or name.
func lsObject(t *testing.T, bin, kind string, idOrName any) map[string]any {
	t.Helper()
	doc := jsonOf(t, mustRun(t, bin, "ls", kind, "--json"))
	objs, _ := doc["objects"].([]any)
	for _, o := range objs {
		m := o.(map[string]any)
		if m["kind"] != kind {
			t.Errorf("ls %s listed a %v", kind, m["kind"])
		}
		switch v := idOrName.(type) {
		case int:
			if m["id"] == float64(v) {
				return m
			}
		case string:
			if m["name"] == v {
				return m
			}
		}
	}
	t.Fatalf("ls %s --json lacks %v", kind, idOrName)
	return nil
}

var rfc3339 = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$`)

// checkTimes checks that every *time key holds an RFC 3339 time.
func checkTimes(t *testing.T, m map[string]any) {
	t.Helper()
	for k, v := range m {
		if strings.HasSuffix(k, "time") {
			if s, ok := v.(string); !ok || !rfc3339.MatchString(s) {
				t.Errorf("%s = %v, not an RFC 3339 time", k, v)
			}
		}
	}
}

// drop returns m without the keys whose values a test cannot predict.
func drop(m map[string]any, keys ...string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

// bufioLine reads one line from r, without its newline.
func bufioLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	return strings.TrimSuffix(line, "\n"), err
}
