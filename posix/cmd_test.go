package posix_test

import (
	"os"
	"os/exec"
)

func newCmd(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	return cmd
}
