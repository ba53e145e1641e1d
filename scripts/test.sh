#!/usr/bin/env bash
# The whole test suite: unit tests, integration tests (tests/it), doc tests.
# Everything runs in the release profile, so the dependency tree is compiled once for
# tests, benchmarks and the main job alike.
#
# Service-backed tests (MariaDB, PostgreSQL, S3) read MARTSYNC_TEST_*_URL. When those are
# unset and we are root (or under CI), scripts/services.sh installs and starts the services
# first; otherwise those tests skip, except under CI=true, where a missing service fails.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/martsync-target}"
if [ -z "${MARTSYNC_TEST_POSTGRES_URL:-}" ] && { [ "$(id -u)" = 0 ] || [ "${CI:-}" = true ]; }; then
  # Through a file, not `$(…)`: nothing the services leave running can then hold us up.
  services_env=$(mktemp)
  scripts/services.sh >"$services_env"
  source "$services_env"
  rm -f "$services_env"
fi
# Benchmarks are compiled (so they cannot rot) but not run: they are large.
# `fault-injection` compiles in the crash points the fault tests use (src/fault.rs); both
# commands use it so the crate is built once.
cargo build --release --benches --features fault-injection
cargo test --release --features fault-injection "$@"
