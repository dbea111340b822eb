#!/usr/bin/env bash
# mmapring: benchmarks are not timed tests; run each once (-benchtime=1x)
# so they stay working, and run the bench command's smoke mode.
set -euo pipefail
cd "$(dirname "$0")/../.."
go test -count=1 -run '^$' -bench . -benchtime=1x ./mmapring/
go run ./cmd/ipckit bench -quick
