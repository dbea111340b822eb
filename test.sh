#!/usr/bin/env bash
# The full test suite: formatting, vet, cgo-free cross builds for every
# Linux GOARCH, the generated-code staleness check, the race-enabled tests
# with a suite-wide IPC leak gate, and the extra legs in tests/legs.d.
set -euo pipefail
cd "$(dirname "$0")"
start=$SECONDS
step() { printf '\n=== %s (at %dm%02ds)\n' "$*" $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60)); }

step gofmt
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$bad" ]; then echo "gofmt would change:"; echo "$bad"; exit 1; fi

step go vet
go vet ./...

step "cgo-free builds for every Linux GOARCH"
for arch in $(go tool dist list | sed -n 's#^linux/##p'); do
  GOOS=linux GOARCH=$arch CGO_ENABLED=0 go build ./... || { echo "build failed for $arch"; exit 1; }
done
# Test files too, for a 32-bit, a big-endian and a 64-bit ABI other than the host's.
for arch in 386 s390x arm64 mips; do
  GOOS=linux GOARCH=$arch CGO_ENABLED=0 go vet ./... || { echo "vet failed for $arch"; exit 1; }
done
echo ok

step "generated code is up to date"
go run ./gen -check

step "leak gate: snapshot"
before=$(mktemp); after=$(mktemp)
go run ./ipctest/cmd/ipcsnap > "$before"

step "go test -race ./..."
# The race runtime sleeps a second at every exit (GORACE atexit_sleep_ms,
# default 1000) so that late reports can print; the tests start hundreds of
# child processes, and the sleeps made up half of this step (mmapring: 218 s
# with them, 90 s without). A race is still reported when it is detected
# and still fails the process (exit status 66).
GORACE="atexit_sleep_ms=0${GORACE:+ $GORACE}" go test -race -count=1 ./...

step "allocation tests without -race (sync.Pool is randomised under it)"
go test -count=1 -run 'Alloc' ./...

for leg in tests/legs.d/*.sh; do
  [ -e "$leg" ] || continue
  step "leg $(basename "$leg")"
  bash "$leg"
done

step "leak gate: compare"
go run ./ipctest/cmd/ipcsnap > "$after"
leaked=$(LC_ALL=C comm -13 "$before" "$after")
if [ -n "$leaked" ]; then
  echo "the suite left IPC objects behind:"; echo "$leaked"; exit 1
fi
echo "no IPC object left behind"
step "done"
