#!/usr/bin/env bash
# Builds the Rust native nodes (native/, Python module atomiton_native) and the example Rust node
# crate (examples/nodes/rust/, atomiton_example_rust) into the virtual environment with
# `maturin develop --release`. A crate is rebuilt only when its sources, its lock file or the
# Python interpreter changed (a hash stamp per crate), so a second run takes about a second.
# Without cargo it warns and skips: atomiton still runs, and the rust runtime's check() reports
# the modules missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "40-native: cargo not found; skipping the Rust native nodes (install Rust from https://rustup.rs)" >&2
  exit 0
fi
export VIRTUAL_ENV="${VIRTUAL_ENV:-$(python -c 'import sys; print(sys.prefix)')}"
if ! python -m maturin --version >/dev/null 2>&1 && ! command -v maturin >/dev/null 2>&1; then
  python -m pip install -q "maturin>=1.5,<2"
fi
# One target folder for both crates: pyo3 and friends compile once.
export CARGO_TARGET_DIR="$PWD/native/target"
mkdir -p "$CARGO_TARGET_DIR"

sources_hash() {
  {
    find "$1" -path "$1/target" -prune -o -type f \
      \( -name '*.rs' -o -name '*.toml' -o -name 'Cargo.lock' -o -name '*.pyi' \) \
      -print | LC_ALL=C sort | xargs sha256sum
    python -c 'import sys; print(sys.executable, sys.version)'
  } | sha256sum | cut -d' ' -f1
}

build() {
  local crate=$1 module=$2 stamp
  stamp="$CARGO_TARGET_DIR/.atomiton-stamp-$module"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(sources_hash "$crate")" ] \
    && python -c "import $module" 2>/dev/null; then
    echo "  $module: up to date"
    return
  fi
  echo "  $module: building $crate with maturin (release)"
  (cd "$crate" && maturin develop --release --quiet)
  sources_hash "$crate" >"$stamp"  # after the build: it may have written Cargo.lock
}

build native atomiton_native
build examples/nodes/rust atomiton_example_rust
