package examples

import (
	"testing"

	"github.com/ipckit/ipckit/ipctest"
)

func TestMain(m *testing.M) { ipctest.Main(m) }
