#!/usr/bin/env bash
# Fetches KubeRay's ray-operator module (v1.5.0) through the Go module proxy into Go's module
# cache, for its RayCluster CRD: tests/integration/deploy checks docs/deploy/raycluster.yaml
# against that schema. Nothing is copied into the repository. Idempotent (the cache answers).
set -euo pipefail
if ! command -v go >/dev/null 2>&1; then
  echo "80-kuberay-crd: no 'go' toolchain on PATH; skipping (the manifest test needs it)" >&2
  exit 0
fi
GOFLAGS=-mod=mod GOTOOLCHAIN=local go mod download github.com/ray-project/kuberay/ray-operator@v1.5.0
