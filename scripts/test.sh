#!/usr/bin/env bash
# The whole test suite: unit tests, integration tests (tests/it), doc tests.
# Everything runs in the release profile, so the dependency tree is compiled once for
# tests, benchmarks and the main job alike.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/martsync-target}"
# Benchmarks are compiled (so they cannot rot) but not run: they are large.
cargo build --release --benches
cargo test --release "$@"
