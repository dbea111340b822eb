// Package ipctest is a kit for tests that exercise Linux IPC against the
// real kernel rather than mocks: the tests of ipckit itself use it, and so
// can anyone who writes kernel-level integration tests of SysV or POSIX
// IPC in Go.
//
// # Unique names and keys
//
// [Name] makes POSIX names unique to the process and call; [Key] hands out
// SysV keys that no object uses at the time. Both are recognised by
// [Owned], so leaks can be attributed to the process that made them.
//
// # Leak detection
//
// [Take] snapshots every IPC object the process can see: SysV queues,
// semaphore sets and segments from /proc/sysvipc, POSIX shared memory and
// named semaphores from /dev/shm, and POSIX message queues through
// posix.ListQueues (from the mqueue file system at /dev/mqueue when one is
// mounted there, from a private mount otherwise; as root).
// [Main] is a TestMain gate that fails the run when objects the process
// owns remain; [CheckLeaks] does the same for one test at its cleanup.
//
// # Namespaces
//
// [InNewIPCNamespace] runs a function in a fresh IPC namespace, optionally
// with a private /dev/shm and /dev/mqueue ([PrivateDevShm]), on a locked OS
// thread that is discarded afterwards. Everything the function creates
// there is its own, so the leak check at its end is exact. Namespaces need
// CAP_SYS_ADMIN (root).
//
// # Privileges and child processes
//
// [RegisterChild] and [Command] re-execute the test binary to run a
// function in a child process; [Unprivileged] does so as the user nobody,
// to test permission errors for real.
//
// # Sysctls
//
// [Sysctl], [SysctlInts] and [SetSysctl] read and temporarily change IPC
// limits (kernel.msgmax, kernel.sem, fs.mqueue.*). These limits belong to
// the IPC namespace: inside InNewIPCNamespace a change affects only that
// namespace and disappears with it.
//
// # Skips
//
// [SkipIfNotSupported] turns an ipckit error that reports a missing kernel
// feature into a skip that names the feature and the kernel that has it,
// but fails the test when the running kernel is new enough to have it.
// Where a helper cannot run (no root, no IPC namespaces) it skips the test
// with the reason, except when the environment has CI=true: ipckit's CI
// turns every such skip into a failure, so a check that silently stopped
// running cannot pass for done.
//
// # Emulators
//
// Under ipckit's qemu-user legs ($IPCKIT_EXEC set to the emulator
// command), Command and Unprivileged start the child through the emulator,
// since the host cannot execute the foreign binary by itself.
package ipctest
