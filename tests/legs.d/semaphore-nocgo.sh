#!/usr/bin/env bash
# The robust mutex registers robust-list heads of its own only in cgo-free
# binaries; `go test -race` links cgo, where glibc already owns each
# thread's head and ipckit shares it. Run the semaphore tests once more
# without cgo so both paths are tested.
set -euo pipefail
cd "$(dirname "$0")/../.."
CGO_ENABLED=0 go test -count=1 ./semaphore/... ./internal/futex/...
