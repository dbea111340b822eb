package heapbench

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
)

func TestMain(m *testing.M) { ipctest.Main(m) }

// TestRows runs every row briefly: the drivers work (speed is shown by
// the benchmark, not asserted here).
func TestRows(t *testing.T) {
	for _, row := range Rows {
		t.Run(row, func(t *testing.T) {
			r, err := Run(context.Background(), row, 2, 100*time.Millisecond)
			if errors.Is(err, ErrNoPython) {
				testenv.SkipOrFail(t, "%v (Debian: python3)", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Ops <= 0 || r.Elapsed <= 0 || r.PerSecond() <= 0 {
				t.Fatalf("%+v", r)
			}
			t.Logf("%s: %.0f ops/s (%d ops in %v)", row, r.PerSecond(), r.Ops, r.Elapsed)
		})
	}
}
