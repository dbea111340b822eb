package posix_test

import (
	"os"
	"os/exec"

	"github.com/ipckit/ipckit/internal/testenv"
)

// newCmd runs a C peer built for the architecture under test (through
// $IPCKIT_EXEC under an emulated leg).
func newCmd(bin string, args ...string) *exec.Cmd {
	cmd := testenv.Command(bin, args...)
	cmd.Stderr = os.Stderr
	return cmd
}
