package feature_test

import (
	"errors"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/ipckit/ipckit/internal/feature"
	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
)

func TestMain(m *testing.M) {
	testenv.RunChildIfAsked()
	ipctest.Main(m)
}

func TestParseVersion(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want feature.Version
		bad  bool
	}{
		{in: "6.7", want: feature.Version{6, 7, 0}},
		{in: "5.16.0", want: feature.Version{5, 16, 0}},
		{in: "6.18.44-fc-v669", want: feature.Version{6, 18, 44}},
		{in: "6.1.0-18-amd64", want: feature.Version{6, 1, 0}},
		{in: "4.17.0+", want: feature.Version{4, 17, 0}},
		{in: "5.15.0-1051-azure", want: feature.Version{5, 15, 0}},
		{in: "6.8.0_rc1", want: feature.Version{6, 8, 0}},
		{in: "6", bad: true},
		{in: "", bad: true},
		{in: "x.y", bad: true},
		{in: "1.2.3.4", bad: true},
		{in: "70000.1", bad: true},
	} {
		got, err := feature.ParseVersion(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("ParseVersion(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestVersionOrder(t *testing.T) {
	order := []string{"2.6.6", "3.0", "4.17", "5.1", "5.4.250", "5.16", "6.1.0", "6.7", "6.18.44"}
	for i := range order {
		for j := range order {
			a, b := feature.MustParseVersion(order[i]), feature.MustParseVersion(order[j])
			if got, want := a.Less(b), i < j; got != want {
				t.Errorf("%v.Less(%v) = %v, want %v", a, b, got, want)
			}
		}
	}
	if s := feature.MustParseVersion("5.16.0").String(); s != "5.16" {
		t.Errorf("String = %q, want 5.16", s)
	}
	if s := feature.MustParseVersion("6.1.77").String(); s != "6.1.77" {
		t.Errorf("String = %q, want 6.1.77", s)
	}
}

func TestKernelVersion(t *testing.T) {
	v, err := feature.KernelVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.Less(feature.Version{2, 6, 0}) {
		t.Fatalf("kernel version %v is implausible", v)
	}
	t.Logf("running kernel %v", v)
}

func TestUnsupportedFeatureError(t *testing.T) {
	calls := 0
	ft := feature.NewTest("frobnicate", "9.3", func() error { calls++; return feature.ErrNotSupported })
	err := ft.Err()
	if !errors.Is(err, feature.ErrNotSupported) {
		t.Fatalf("errors.Is(%v, ErrNotSupported) = false", err)
	}
	var ufe *feature.UnsupportedFeatureError
	if !errors.As(err, &ufe) || ufe.Name != "frobnicate" || ufe.MinimumVersion != (feature.Version{9, 3, 0}) {
		t.Fatalf("err = %#v, want an *UnsupportedFeatureError naming frobnicate and 9.3", err)
	}
	if want := "frobnicate not supported (requires Linux 9.3 or later)"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
	if ft.Err() != err || ft.Supported() || calls != 1 {
		t.Errorf("the answer was not cached: %d probe calls", calls)
	}
	// A wrapped sentinel is still a "missing" answer.
	wrapped := feature.NewTest("wrapped", "1.0", func() error { return errorsJoin(feature.ErrNotSupported) })
	if err := wrapped.Err(); !errors.As(err, &ufe) || ufe.Name != "wrapped" {
		t.Errorf("wrapped ErrNotSupported gave %v", err)
	}
}

func errorsJoin(err error) error { return errors.Join(errors.New("context"), err) }

func TestUndecidedProbeIsNotCached(t *testing.T) {
	calls := 0
	boom := errors.New("EMFILE-like trouble")
	ft := feature.NewTest("flaky", "1.0", func() error {
		calls++
		if calls == 1 {
			return boom
		}
		return nil
	})
	if err := ft.Err(); !errors.Is(err, boom) || errors.Is(err, feature.ErrNotSupported) {
		t.Fatalf("first Err = %v, want the probe's own error", err)
	}
	if err := ft.Err(); err != nil {
		t.Fatalf("second Err = %v, want nil (probed again)", err)
	}
	if err := ft.Err(); err != nil || calls != 2 {
		t.Fatalf("third Err = %v after %d calls, want a cached nil after 2", err, calls)
	}
}

// emulatorLacks lists features that qemu-user 7.2 (Debian 12) does not
// implement although the host kernel does: its syscall table has no
// futex_waitv (449) or futex_wake/futex_wait/futex_requeue (454-456), so
// the guest gets ENOSYS, and its msgctl translation rejects MSG_STAT_ANY
// (verified under qemu-aarch64/s390x/ppc64-static).
var emulatorLacks = map[*feature.Test]string{
	feature.FutexWaitv: "qemu-user 7.2 answers ENOSYS for futex_waitv (449)",
	feature.Futex2:     "qemu-user 7.2 answers ENOSYS for futex_wake (454)",
	feature.StatAny:    "qemu-user 7.2 translates only the msgctl/semctl/shmctl commands it knows and answers EINVAL for *_STAT_ANY",
	feature.MqNotify:   "qemu-user 7.2 answers ENOSYS for mq_notify",
	feature.RobustList: "qemu-user answers ENOSYS for set_robust_list/get_robust_list (the host kernel cannot walk a list in guest memory)",
}

// TestProbesMatchKernelVersion holds every probe to its declared minimum
// kernel: a probe that says "not supported" on a kernel at least that new
// FAILS the test (a broken probe, or a kernel built without the feature,
// which CI's kernels never are). IPCKIT_FEATURE_IGNORE=name,name lists
// features a local kernel is known to lack by configuration.
func TestProbesMatchKernelVersion(t *testing.T) {
	kv, err := feature.KernelVersion()
	if err != nil {
		t.Fatal(err)
	}
	ignore := strings.Split(os.Getenv("IPCKIT_FEATURE_IGNORE"), ",")
	for _, ft := range feature.All() {
		t.Run(strings.ReplaceAll(ft.Name, "/", "+"), func(t *testing.T) {
			err := ft.Err()
			if err != nil && !errors.Is(err, feature.ErrNotSupported) {
				t.Fatalf("probe could not decide: %v", err)
			}
			t.Logf("kernel %v, minimum %v: supported=%v", kv, ft.Version, err == nil)
			if err == nil {
				if kv.Less(ft.Version) {
					t.Logf("supported on a kernel older than %v: a backport, or the minimum is wrong", ft.Version)
				}
				return
			}
			if kv.Less(ft.Version) {
				return // expected: older kernel
			}
			if why, ok := emulatorLacks[ft]; ok {
				testenv.SkipUnderEmulation(t, why)
			}
			if slices.Contains(ignore, ft.Name) {
				t.Skipf("IPCKIT_FEATURE_IGNORE lists %q: %v", ft.Name, err)
			}
			t.Fatalf("feature %q isn't supported even though kernel %v is newer than %v (%v); GOARCH=%s", ft.Name, kv, ft.Version, err, runtime.GOARCH)
		})
	}
}

// TestProbesAgreeWithUse checks that a supported probe means the feature
// really works for a plain use, so a probe cannot say "yes" by accident.
func TestProbesAgreeWithUse(t *testing.T) {
	if feature.IPCNamespace.Supported() {
		if _, err := os.Readlink("/proc/self/ns/ipc"); err != nil {
			t.Errorf("IPCNamespace supported, but /proc/self/ns/ipc: %v", err)
		}
	}
	if feature.Mqueue.Supported() {
		if err := mqRoundTrip(t); err != nil {
			t.Errorf("Mqueue supported, but a create/unlink round trip failed: %v", err)
		}
	}
	if feature.StatAny.Supported() {
		if err := statAnyFindsQueue(t); err != nil {
			t.Errorf("StatAny supported, but %v", err)
		}
	}
	if feature.FutexWaitv.Supported() {
		if err := waitvTimesOut(); err != nil {
			t.Errorf("FutexWaitv supported, but %v", err)
		}
	}
}
