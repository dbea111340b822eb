package ipctest

import (
	"errors"
	"testing"

	"github.com/ipckit/ipckit/internal/feature"
	"github.com/ipckit/ipckit/internal/testenv"
)

// SkipIfNotSupported skips the test when err reports a feature that this
// system lacks: an error that matches errors.ErrUnsupported, or one from
// ipckit's kernel feature probes (an *UnsupportedFeatureError of
// ipckit's internal feature package, which names the feature and the
// first kernel release that has it). For the latter, if the running
// kernel is at least that new, the feature should be there: the test
// fails instead, unless it runs under an emulator (qemu-user lacks some
// system calls). A nil err does nothing; any other error fails the test.
func SkipIfNotSupported(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if !errors.Is(err, feature.ErrNotSupported) && !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("unexpected error: %v", err)
	}
	var ufe *feature.UnsupportedFeatureError
	if !errors.As(err, &ufe) || ufe.MinimumVersion == (feature.Version{}) {
		t.Skipf("not supported here: %v", err)
	}
	kv, kerr := feature.KernelVersion()
	if kerr == nil && !kv.Less(ufe.MinimumVersion) {
		testenv.SkipUnderEmulation(t, err.Error())
		t.Fatalf("%v, although this kernel (%v) is at least %v: configured out, filtered by seccomp, or a broken probe", err, kv, ufe.MinimumVersion)
	}
	t.Skipf("kernel %v is older than %v: %v", kv, ufe.MinimumVersion, err)
}
