package posix_test

import (
	"testing"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/proc"
)

func TestMain(m *testing.M) {
	proc.Main() // a child started by proc (the examples) runs here and exits
	testenv.RunChildIfAsked()
	ipctest.Main(m)
}
