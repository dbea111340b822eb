package csp_test

import (
	"testing"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/proc"
)

func TestMain(m *testing.M) {
	proc.Main() // first: a child started by proc runs its Func here and exits
	testenv.RunChildIfAsked()
	ipctest.Main(m)
}
