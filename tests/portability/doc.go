// Package portability holds ipckit's cross-ABI tests: a C peer built for
// the test's own GOARCH (natively, by i686-linux-gnu-gcc in the 386 leg,
// or by a Debian cross gcc under qemu-user in the qemu leg) and a Go side
// that must agree with it on the kernel and glibc ABI of that
// architecture: union semun passed by value (shifted on big-endian
// 64-bit), msgbuf's C long mtype, the shmid_ds layout, and glibc's sem_t
// layout and wake-up protocol. It exports nothing.
//
// # Running
//
//	go test ./tests/portability                 # native
//	bash tests/legs.d/386.sh                    # GOARCH=386 on an x86_64 kernel
//	bash tests/legs.d/qemu.sh                   # arm64 and s390x under qemu-user
//
// See tests/PORTABILITY.md for what each leg proves and what qemu-user
// cannot run.
package portability
