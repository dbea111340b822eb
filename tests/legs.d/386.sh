#!/usr/bin/env bash
# Leg: the whole test suite built with GOARCH=386. Where the x86_64 kernel
# runs i386 binaries it runs them natively, so every system call goes
# through the kernel's IA-32 compat path (direct SysV calls, the _time64
# calls, 32-bit struct layouts). Where the kernel refuses them (built
# without CONFIG_IA32_EMULATION, or booted with ia32_emulation=off, as
# some CI kernels are), it runs the same tests under qemu-i386-static
# instead and says so. C peers are built with i686-linux-gnu-gcc,
# statically, since the host has no i386 dynamic loader (gcc-multilib
# conflicts with the cross compilers on Debian 12). See tests/PORTABILITY.md.
#
# IPCKIT_386_MODE=native|qemu forces one way (default: auto, native when
# the kernel can).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/legs.d/portability.lib

if [ "$(uname -m)" != x86_64 ]; then
  leg_fail_or_skip "386 leg: the host is $(uname -m), not x86_64"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

command -v i686-linux-gnu-gcc >/dev/null ||
  leg_fail_or_skip "386 leg: i686-linux-gnu-gcc not found (Debian: gcc-i686-linux-gnu libc6-dev-i386-cross, see .ci/apt.d/portability.txt)"

# Can this kernel run i386 binaries at all? (CONFIG_IA32_EMULATION, and
# not disabled with ia32_emulation=off on the kernel command line.)
mode=${IPCKIT_386_MODE:-auto}
GOARCH=386 CGO_ENABLED=0 go build -o "$work/ia32probe" ./ipctest/cmd/ipcsnap
if [ "$mode" = auto ]; then
  if out=$("$work/ia32probe" 2>&1 >/dev/null); then
    mode=native
  else
    echo "386 leg: this kernel cannot run i386 binaries natively: $out" >&2
    echo "386 leg: (no IA-32 emulation: CONFIG_IA32_EMULATION=n or ia32_emulation=off on the kernel command line)" >&2
    mode=qemu
  fi
fi

export GOARCH=386 CGO_ENABLED=0
case $mode in
  native)
    label="386 (native, IA-32 compat syscalls)"
    ;;
  qemu)
    command -v qemu-i386-static >/dev/null ||
      leg_fail_or_skip "386 leg: the kernel cannot run i386 binaries and qemu-i386-static is not installed (Debian: qemu-user-static, see .ci/apt.d/portability.txt)"
    echo "=================================================================="
    echo "386 leg: FALLING BACK TO EMULATION: running the 386 suite under"
    echo "  $(qemu-i386-static --version | head -1)"
    echo "  The kernel's IA-32 compat path is NOT exercised on this machine:"
    echo "  qemu converts i386 system calls and structs itself. Tests skip only"
    echo "  qemu-user's documented gaps, each with its reason (listed below)."
    echo "=================================================================="
    # Every i386 binary (the test binaries, their re-executed children,
    # static C peers) is started through the emulator; tests see
    # IPCKIT_EXEC and skip only the documented emulator gaps.
    export IPCKIT_EXEC=qemu-i386-static
    # Asynchronous preemption off, as qemu-i386 needs for Go programs
    # (cooperative preemption is enough for the tests).
    export GODEBUG=asyncpreemptoff=1
    # qemu-user keeps ONE guest GDT for all threads of an i386 guest, and
    # sigreturn reloads %gs from it: the Go runtime's per-thread TLS slot
    # (set_thread_area, one shared GDT entry) then points every thread
    # that returns from a signal handler at the TLS of the thread created
    # last, and the runtime crashes ("exitsyscall: syscall frame is no
    # longer valid") at the first SIGCHLD. The test binaries are built
    # with the runtime's setldt replaced (go build -overlay) by one that
    # gives each thread its own LDT entry (modify_ldt), which sigreturn
    # reloads correctly. Only this emulated leg uses it.
    overlay=$(qemu386_runtime_overlay "$work/overlay") || {
      echo "FAIL: 386 leg: cannot prepare the runtime overlay that qemu-i386 needs" >&2
      exit 1
    }
    # Tests that build Go programs themselves (examples/, the CLI, the
    # kill-point victims) run those under qemu-i386 too: every go command
    # they start gets the overlay through GOFLAGS.
    export GOFLAGS="-overlay=$overlay${GOFLAGS:+ $GOFLAGS}"
    label="386 (EMULATED under qemu-i386-static: the kernel refuses i386 binaries)"
    ;;
  *)
    echo "386 leg: IPCKIT_386_MODE=$mode: want native, qemu or auto" >&2
    exit 1
    ;;
esac

mkdir -p "$work/bin"
cat > "$work/bin/i686-static-gcc" <<'CC'
#!/bin/sh
exec i686-linux-gnu-gcc -static "$@"
CC
chmod +x "$work/bin/i686-static-gcc"
export IPCKIT_CC="$work/bin/i686-static-gcc"

mkdir -p "$work/logs"
status=0
pkgs=$(leg_packages)
if [ "$mode" = native ]; then
  for pkg in $pkgs; do
    log="$work/logs/$(echo "$pkg" | tr / _).log"
    # -race needs cgo and amd64; the native leg already ran with it.
    if ! go test -count=1 -v -timeout 5m "$pkg" >"$log" 2>&1; then
      echo "ok-status: 1" >>"$log"
    fi
  done
else
  # As the qemu leg does: build each test binary, then run it from its
  # package directory through the emulator, two at a time on 2+ cores,
  # with -test.short (stress loops trimmed for emulation; they still run).
  bins="$work/bin/tests"
  mkdir -p "$bins"
  for pkg in $pkgs; do
    name=$(echo "$pkg" | tr / _)
    if ! go test -c -overlay "$overlay" -o "$bins/$name.test" "$pkg" >"$work/logs/$name.log" 2>&1; then
      echo "ok-status: 1 (build failed)" >>"$work/logs/$name.log"
    fi
  done
  run_one() {
    local pkg=$1 name dir
    name=$(echo "$pkg" | tr / _)
    [ -x "$bins/$name.test" ] || return 0
    dir=$(go list -f '{{.Dir}}' "$pkg")
    if ! (cd "$dir" && timeout 600 $IPCKIT_EXEC "$bins/$name.test" \
          -test.count=1 -test.v -test.short -test.timeout=5m) >>"$logs/$name.log" 2>&1; then
      echo "ok-status: 1" >>"$logs/$name.log"
    fi
  }
  export -f run_one
  export bins logs="$work/logs"
  jobs=$(( $(nproc) > 1 ? 2 : 1 ))
  printf '%s\n' $pkgs | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {}
fi
leg_summary "$label" "$work/logs" || status=1
exit $status
