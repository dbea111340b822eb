#!/usr/bin/env bash
# Leg: the whole test suite built with GOARCH=386 and run natively on the
# x86_64 host, so every system call goes through the kernel's IA-32 compat
# path (direct SysV calls, the _time64 calls, 32-bit struct layouts). C
# peers are built with i686-linux-gnu-gcc, statically, since the host has
# no i386 dynamic loader (gcc-multilib conflicts with the cross compilers
# on Debian 12). See tests/PORTABILITY.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/legs.d/portability.lib

if [ "$(uname -m)" != x86_64 ]; then
  leg_fail_or_skip "386 leg: the host is $(uname -m), not x86_64"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Can this kernel run i386 binaries at all? (CONFIG_IA32_EMULATION, and
# not disabled with ia32_emulation=false on the kernel command line.)
GOARCH=386 CGO_ENABLED=0 go build -o "$work/ia32probe" ./ipctest/cmd/ipcsnap
if ! out=$("$work/ia32probe" 2>&1 >/dev/null); then
  echo "$out" >&2
  leg_fail_or_skip "386 leg: this kernel cannot run i386 binaries: it lacks IA-32 emulation (CONFIG_IA32_EMULATION=y, and ia32_emulation not disabled on the kernel command line)"
fi

command -v i686-linux-gnu-gcc >/dev/null ||
  leg_fail_or_skip "386 leg: i686-linux-gnu-gcc not found (Debian: gcc-i686-linux-gnu libc6-dev-i386-cross, see .ci/apt.d/portability.txt)"
mkdir -p "$work/bin"
cat > "$work/bin/i686-static-gcc" <<'CC'
#!/bin/sh
exec i686-linux-gnu-gcc -static "$@"
CC
chmod +x "$work/bin/i686-static-gcc"

mkdir -p "$work/logs"
status=0
for pkg in $(leg_packages); do
  log="$work/logs/$(echo "$pkg" | tr / _).log"
  # -race needs cgo and amd64; the native leg already ran with it.
  if ! GOARCH=386 CGO_ENABLED=0 IPCKIT_CC="$work/bin/i686-static-gcc" \
      go test -count=1 -v -timeout 5m "$pkg" >"$log" 2>&1; then
    status=1
    echo "ok-status: 1" >>"$log"
  fi
done
leg_summary "386 (native, IA-32 compat syscalls)" "$work/logs" || status=1
exit $status
