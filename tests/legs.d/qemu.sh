#!/usr/bin/env bash
# Leg: the whole test suite cross-built for arm64 (little-endian) and
# s390x (big-endian) and run under qemu-user, with C peers cross-compiled
# by the matching Debian cross gcc and run under qemu too. binfmt_misc is
# not assumed: every foreign binary is started through $IPCKIT_EXEC
# (internal/testenv.Command and Child do it). Tests that qemu-user cannot
# run skip only there, with the reason (testenv.SkipUnderEmulation); they
# are listed in tests/PORTABILITY.md. IPCKIT_QEMU_ARCHES overrides the
# architectures (e.g. "arm64 s390x ppc64").
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/legs.d/portability.lib

arches=${IPCKIT_QEMU_ARCHES:-arm64 s390x}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pkgs=$(leg_packages)
jobs=$(( $(nproc) > 1 ? 2 : 1 ))
status=0

for arch in $arches; do
  case $arch in
    arm64)   qemu=qemu-aarch64-static; cc=aarch64-linux-gnu-gcc;   sysroot=/usr/aarch64-linux-gnu ;;
    s390x)   qemu=qemu-s390x-static;   cc=s390x-linux-gnu-gcc;     sysroot=/usr/s390x-linux-gnu ;;
    ppc64)   qemu=qemu-ppc64-static;   cc=powerpc64-linux-gnu-gcc; sysroot=/usr/powerpc64-linux-gnu ;;
    ppc64le) qemu=qemu-ppc64le-static; cc=powerpc64le-linux-gnu-gcc; sysroot=/usr/powerpc64le-linux-gnu ;;
    riscv64) qemu=qemu-riscv64-static; cc=riscv64-linux-gnu-gcc;   sysroot=/usr/riscv64-linux-gnu ;;
    *) echo "qemu leg: unknown architecture $arch" >&2; exit 1 ;;
  esac
  for tool in "$qemu" "$cc"; do
    command -v "$tool" >/dev/null ||
      leg_fail_or_skip "qemu leg ($arch): $tool not found (Debian packages: .ci/apt.d/portability.txt)"
  done
  [ -d "$sysroot" ] || leg_fail_or_skip "qemu leg ($arch): no C library at $sysroot"

  bins="$work/$arch/bin"; logs="$work/$arch/logs"
  mkdir -p "$bins" "$logs"
  # Build every package's test binary (the build cache makes the second
  # and later arches cheap), then run them, two at a time on 2+ cores.
  for pkg in $pkgs; do
    name=$(echo "$pkg" | tr / _)
    if ! GOOS=linux GOARCH=$arch CGO_ENABLED=0 go test -c -o "$bins/$name.test" "$pkg" >"$logs/$name.log" 2>&1; then
      echo "ok-status: 1 (build failed)" >>"$logs/$name.log"
    fi
  done
  export IPCKIT_EXEC="$qemu -L $sysroot" IPCKIT_CC=$cc
  run_one() {
    local pkg=$1 name dir
    name=$(echo "$pkg" | tr / _)
    [ -x "$bins/$name.test" ] || return 0
    dir=$(go list -f '{{.Dir}}' "$pkg")
    # Like go test: run in the package directory, one package at a time
    # per process; -test.short lets packages trim stress loops that are
    # slow under emulation (they still run).
    if ! (cd "$dir" && timeout 600 $IPCKIT_EXEC "$bins/$name.test" \
          -test.count=1 -test.v -test.short -test.timeout=5m) >>"$logs/$name.log" 2>&1; then
      echo "ok-status: 1" >>"$logs/$name.log"
    fi
  }
  export -f run_one
  export bins logs
  printf '%s\n' $pkgs | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {}
  leg_summary "$arch (qemu-user, $($qemu --version | head -1))" "$logs" || status=1
  unset IPCKIT_EXEC IPCKIT_CC
done
exit $status
