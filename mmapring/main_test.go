package mmapring_test

import (
	"testing"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/proc"
)

// TestMain lives in the external test package so that it can call
// proc.Main (proc imports mmapring, which the internal tests cannot import
// back).
func TestMain(m *testing.M) {
	proc.Main() // a child started by proc (the examples) runs here and exits
	testenv.RunChildIfAsked()
	ipctest.Main(m)
}
