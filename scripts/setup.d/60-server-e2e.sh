#!/usr/bin/env bash
# The web page's end-to-end test (tests/e2e): Debian's chromium, and playwright-core from npm
# (installed from tests/e2e/package-lock.json; no browser download). Idempotent and fast when
# both are present.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "60-server-e2e: installing Debian chromium (apt-get)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null \
      || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive \
           apt-get install -y --no-install-recommends chromium >/dev/null; }
  else
    echo "60-server-e2e: chromium missing and not root: skipping it (the e2e test will skip;" \
         "install it with: sudo apt-get install -y chromium)" >&2
  fi
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "60-server-e2e: npm not found; the e2e test will skip" >&2
  exit 0
fi
cd tests/e2e
if [ -d node_modules/playwright-core ] && [ ! package-lock.json -nt node_modules/.package-lock.json ]; then
  exit 0
fi
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
