package main

import (
	"testing"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
)

// TestMain: the bench command re-executes this binary as its second
// process (benchChildEnv, dispatched in bench.go's init before this runs).
func TestMain(m *testing.M) {
	testenv.RunChildIfAsked()
	ipctest.Main(m)
}
