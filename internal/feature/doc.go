// Package feature detects optional kernel features that ipckit uses, once
// per process, and reports a missing one as an error that names the
// feature and the first Linux release that had it.
//
// # Probes
//
// Each probe is a [Test]: a name, the minimum kernel version taken from the
// kernel's git history, and a function that tries the feature in the
// cheapest way that tells "missing" apart from every other failure
// (usually an invalid argument that a present feature rejects with EINVAL
// or EFAULT, while a missing one gives ENOSYS, or EPERM from a seccomp
// filter that blocks it). The first call runs the
// probe; later calls return the cached answer. The predeclared probes are
// [FutexWaitv], [Futex2], [StatAny], [IPCNamespace], [Mqueue], [MqNotify],
// [SysVIPC], [Time64], [MsgCopy] and [RobustList].
//
// # Errors
//
// A probe that finds the feature missing returns an
// [*UnsupportedFeatureError]; errors.Is(err, [ErrNotSupported]) holds for
// it. Any other error means the probe itself could not decide (for
// example, the IPC limits were exhausted) and is returned as is, not
// cached, so a later call probes again.
//
// # Kernel version
//
// [KernelVersion] parses the release from uname(2). Distribution kernels
// (Debian's "6.1.0-18-amd64") may print a patch level that is not the
// upstream one, but major and minor are always right, and every minimum
// here is a major.minor release. Under qemu-user, uname reports the host's
// kernel while the emulator may still lack a system call (qemu 7.2 has no
// futex2 calls); probes report what the calling process can use.
package feature
