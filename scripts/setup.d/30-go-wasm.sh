#!/usr/bin/env bash
# Builds the Go parts: the example WebAssembly node (examples/nodes/wasm/textops.wasm, Go's
# wasip1 target) and a vet + build of the Go worker SDK and example Go node. Offline, idempotent:
# the wasm module is rebuilt only when a source file is newer than it.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v go >/dev/null 2>&1; then
  echo "30-go-wasm: no 'go' toolchain on PATH; skipping (Go and the WASM example need Go >= 1.24)" >&2
  exit 0
fi
export GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local

wasm=examples/nodes/wasm
if [ ! -f "$wasm/textops.wasm" ] || [ -n "$(find "$wasm" -name '*.go' -newer "$wasm/textops.wasm" -o -name go.mod -newer "$wasm/textops.wasm")" ]; then
  (cd "$wasm" && GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o textops.wasm .)
  echo "30-go-wasm: built $wasm/textops.wasm"
fi

if [ -d workers/go ]; then
  (cd workers/go && go vet ./... && go build ./...)
fi
