#!/usr/bin/env bash
# Installs the Node.js worker's npm packages (esbuild, to strip TypeScript types) from its
# package-lock.json. Skipped when node_modules is newer than the lock file.
set -euo pipefail
cd "$(dirname "$0")/../../workers/node"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "20-node-worker: Node.js/npm not found; TypeScript/JavaScript nodes will be unavailable" >&2
  exit 0
fi
if [ -d node_modules/esbuild ] && [ ! package-lock.json -nt node_modules/.package-lock.json ]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
node -e "import('esbuild').then(e => e.transform('let x: number = 1', {loader: 'ts'}))"
